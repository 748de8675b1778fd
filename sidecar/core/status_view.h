// What GET /api/v1/status shows, as typed values: the engine fills it under its lock, the API
// renders it to JSON, and the records (incident reports, notifications) read it directly, so no
// one parses the status document back and nothing (an infinite value, a state) is lost on the way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "sidecar/config/config.h"
#include "sidecar/core/state_store.h"
#include "sidecar/policy/decision.h"
#include "sidecar/policy/promotion_machine.h"
#include "sidecar/policy/rule_tracker.h"

namespace rs::sidecar {

struct RuleView {
  const RuleConfig* rule = nullptr;  // into the Config, which outlives the engine and its observers
  RuleStatus status;
};

struct PromotionView {
  PromotionProgress progress;
  std::optional<WallTime> window_start;
};

struct StatusView {
  const Config* config = nullptr;  // deployment, rules, intervals (outlives every view)
  DeploymentState state = DeploymentState::kHealthy;
  Verification verification = Verification::kNone;  // of the last rollback
  std::string verification_detail;
  std::optional<PromotionView> promotion;  // with promotion.enabled
  std::optional<Freeze> freeze;
  bool ready = false;
  std::uint64_t evaluations = 0;
  std::optional<WallTime> last_evaluation;
  std::vector<RuleView> rules;  // config order
  std::optional<Decision> last_decision;
};

// The /api/v1/status document (docs/api.md). Text quoting outside sources (rule problems,
// decision details) is made valid UTF-8, so dumping it never throws.
nlohmann::json to_json(const StatusView& view);
// One rule's entry of it.
nlohmann::json to_json(const RuleView& rule);
// Its "freeze" part.
nlohmann::json freeze_to_json(const std::optional<Freeze>& freeze);

}  // namespace rs::sidecar
