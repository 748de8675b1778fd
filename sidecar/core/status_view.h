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
#include "sidecar/core/scrape_phase.h"
#include "sidecar/core/state_store.h"
#include "sidecar/policy/decision.h"
#include "sidecar/policy/promotion_machine.h"
#include "sidecar/policy/rule_tracker.h"

namespace rs::sidecar {

// One evaluation of a rule, for the status page's chart: the value, what it was compared with
// (the baseline's value, or a sequential test's interval), and the state after it.
struct RulePoint {
  WallTime at;
  std::optional<double> value;
  std::optional<double> baseline;   // `baseline` rules: the stable version's value
  std::optional<double> low, high;  // `test` rules: the anytime-valid interval of the ratio
  RuleState state = RuleState::kOk;
};
// The newest points of one rule, oldest first; at most kCapacity (the chart's width).
class RuleHistory {
 public:
  static constexpr std::size_t kCapacity = 120;
  void add(WallTime at, const RuleStatus& status);
  const std::vector<RulePoint>& points() const { return points_; }

 private:
  std::vector<RulePoint> points_;  // a vector, not a ring: 120 moves per tick is nothing
};

struct RuleView {
  const RuleConfig* rule = nullptr;  // into the Config, which outlives the engine and its observers
  RuleStatus status;
  std::vector<RulePoint> history;  // oldest first
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
  AlignmentView alignment;      // evaluation_alignment and what it learned
  std::vector<RuleView> rules;  // config order
  std::optional<Decision> last_decision;
};

// The /api/v1/status document (docs/api.md). Text quoting outside sources (rule problems,
// decision details) is made valid UTF-8, so dumping it never throws.
nlohmann::json to_json(const StatusView& view);
// One rule's entry of it; its "history" is columnar ({"t": [unix s], "value", "baseline", "low",
// "high", "state"}: one entry per point, null where a point has none).
nlohmann::json to_json(const RuleView& rule);
// Its "alignment" part.
nlohmann::json to_json(const AlignmentView& alignment);
// Its "freeze" part.
nlohmann::json freeze_to_json(const std::optional<Freeze>& freeze);

}  // namespace rs::sidecar
