// The promotion state machine: when to move the canary to its next weight step. Pure: the
// engine feeds it the deployment's situation and applies the actuators' answer.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "sidecar/policy/rule.h"  // Duration

namespace rs::sidecar {

enum class PromotionState { kWaiting, kPromoting, kPaused, kFrozen, kDryRun, kStopped, kComplete, kFailed };
// "waiting", "promoting", "paused", "frozen", "dry_run", "stopped", "complete", "failed": the
// names in the state file and /api/v1/status.
const char* promotion_state_name(PromotionState s);
std::optional<PromotionState> parse_promotion_state(const std::string& name);

struct PromotionProgress {
  int step = -1;    // index into steps; -1: not started
  int weight = -1;  // canary percent last set and verified; -1: none
  PromotionState state = PromotionState::kWaiting;
};

// What the deployment looks like at one evaluation.
struct PromotionInputs {
  bool rollback = false;  // latched or rolling back: promotion stops for good
  bool dry_run = false;
  bool frozen = false;
  bool all_rules_ok = false;  // pending, firing or no data is no evidence the canary is fine
  WallTime now;
};

struct PromotionStep {
  int index = 0;    // into steps
  int percent = 0;  // canary weight to set
};

// Contract:
// - A rollback stops promotion (stopped) whatever state it was in. Otherwise complete and
//   failed are final; dry run never promotes (dry_run); a freeze holds it (frozen), as does any
//   rule that is not ok (paused); both restart the step's window.
// - When promoting, the first step is due at once, each later one after step_duration of
//   all-ok evaluations since the previous step was set. step() returns the step due, if any;
//   the caller sets it and reports back with applied(); reaching the last step is complete.
// - A failed step is final (failed), unless it was cut short by shutdown (state unchanged).
class PromotionMachine {
 public:
  PromotionMachine(std::vector<int> steps, Duration step_duration)
      : steps_(std::move(steps)), step_duration_(step_duration) {}

  // Progress from the state file; the step's window restarts.
  void restore(const PromotionProgress& progress) {
    progress_ = progress;
    window_start_.reset();
  }
  std::optional<PromotionStep> step(const PromotionInputs& in);
  void applied(const PromotionStep& step, bool ok, bool interrupted, WallTime now);

  const PromotionProgress& progress() const { return progress_; }
  PromotionState state() const { return progress_.state; }
  std::optional<WallTime> window_start() const { return window_start_; }
  std::size_t steps() const { return steps_.size(); }

 private:
  std::vector<int> steps_;
  Duration step_duration_;
  PromotionProgress progress_;
  std::optional<WallTime> window_start_;  // all rules ok (and the step set) since
};

}  // namespace rs::sidecar
