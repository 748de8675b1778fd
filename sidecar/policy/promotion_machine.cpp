#include "sidecar/policy/promotion_machine.h"

#include <utility>

namespace rs::sidecar {
namespace {

constexpr std::pair<PromotionState, const char*> kNames[] = {
    {PromotionState::kWaiting, "waiting"},   {PromotionState::kPromoting, "promoting"},
    {PromotionState::kPaused, "paused"},     {PromotionState::kFrozen, "frozen"},
    {PromotionState::kDryRun, "dry_run"},    {PromotionState::kStopped, "stopped"},
    {PromotionState::kComplete, "complete"}, {PromotionState::kFailed, "failed"},
};

}  // namespace

const char* promotion_state_name(PromotionState s) {
  for (const auto& [state, name] : kNames)
    if (state == s) return name;
  return "?";
}

std::optional<PromotionState> parse_promotion_state(const std::string& name) {
  for (const auto& [state, n] : kNames)
    if (name == n) return state;
  return std::nullopt;
}

std::optional<PromotionStep> PromotionMachine::step(const PromotionInputs& in) {
  PromotionState& state = progress_.state;
  if (in.rollback) {
    state = PromotionState::kStopped;
    return std::nullopt;
  }
  if (state == PromotionState::kComplete || state == PromotionState::kFailed) return std::nullopt;
  if (in.dry_run) {
    state = PromotionState::kDryRun;
    return std::nullopt;
  }
  if (in.frozen || !in.all_rules_ok) {
    state = in.frozen ? PromotionState::kFrozen : PromotionState::kPaused;
    window_start_.reset();
    return std::nullopt;
  }
  state = PromotionState::kPromoting;
  if (!window_start_) window_start_ = in.now;
  const int next = progress_.step + 1;
  const bool window_done = in.now - *window_start_ >= step_duration_;
  if (next >= static_cast<int>(steps_.size()) || (progress_.step >= 0 && !window_done)) return std::nullopt;
  return PromotionStep{next, steps_[static_cast<std::size_t>(next)]};
}

void PromotionMachine::applied(const PromotionStep& step, bool ok, bool interrupted, WallTime now) {
  if (!ok) {
    if (!interrupted) progress_.state = PromotionState::kFailed;
    return;
  }
  progress_.step = step.index;
  progress_.weight = step.percent;
  window_start_ = now;
  if (step.index + 1 == static_cast<int>(steps_.size())) progress_.state = PromotionState::kComplete;
}

}  // namespace rs::sidecar
