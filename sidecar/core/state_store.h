// Persists the deployment's latched state so a restart neither undoes nor repeats a rollback.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sidecar/policy/decision.h"
#include "sidecar/policy/promotion_machine.h"

namespace rs::sidecar {

// A deployment freeze: blocks promotion (never a rollback) until lifted.
struct Freeze {
  std::string reason;
  std::string actor;
  WallTime since;
};

// How far a progressive promotion got (step index into promotion.steps, its weight).
struct PersistedState {
  std::string identity;  // DeploymentConfig::identity() the state belongs to
  DeploymentState state = DeploymentState::kHealthy;
  std::optional<Decision> last_decision;
  std::optional<Freeze> freeze;  // kept across restarts and deployments until lifted
  std::optional<PromotionProgress> promotion;
  // When this identity was first seen (alerts that started before it are stale); absent in
  // files written before it was kept, and then unknown (no alert is judged stale).
  std::optional<WallTime> deployment_since;
  // De-duplication keys of the alerts already acted on (identity@startsAt), oldest first,
  // bounded by the engine; absent in older files.
  std::vector<std::string> seen_alerts;
  // Each sequential test's state (RuleJudge::test_state()) by rule name, so a restarted sidecar
  // continues the test; absent in older files. Checked when restored (sequential_state_from_json).
  std::map<std::string, nlohmann::json> tests;
};

// The state file's text, apart from the file: what StateStore reads and writes (and what the
// fuzz target feeds). parse_persisted_state() refuses, saying why in *why, anything that is not
// a state this version wrote (or an older one it accepts); *out is set only on success. Text
// from persisted_state_text() always parses back to the same text.
bool parse_persisted_state(const std::string& text, PersistedState* out, std::string* why);
std::string persisted_state_text(const PersistedState& state);

// Contract: save() replaces the file atomically (write to a temp file in the same directory,
// fsync, rename, fsync the directory), so a crash leaves either the old or the new state.
// load() reports a missing file as "no state" (true, *out empty) and anything unreadable or
// malformed as an error naming the file and the problem; it never guesses.
// An empty path disables persistence: load() finds nothing, save() does nothing.
class StateStore {
 public:
  explicit StateStore(std::string path) : path_(std::move(path)) {}
  bool load(std::optional<PersistedState>* out, std::string* error) const;
  bool save(const PersistedState& state, std::string* error) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace rs::sidecar
