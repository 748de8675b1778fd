#include "sidecar/core/scrape_phase.h"

#include <algorithm>
#include <cstdlib>

#include "common/enum_names.h"

namespace rs::sidecar {
namespace {

constexpr common::EnumName<AlignmentState> kStateNames[] = {
    {AlignmentState::kLearning, "learning"},
    {AlignmentState::kAligned, "aligned"},
    {AlignmentState::kUnaligned, "unaligned"},
};

std::string ms_text(std::int64_t ms) { return std::to_string(ms) + "ms"; }

// Floor division: cycles before the epoch round down too.
std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// `a` is (within the tolerance) a whole multiple of `b` (b > 0).
bool multiple_of(std::int64_t a, std::int64_t b) {
  const std::int64_t k = (a + b / 2) / b;
  return k >= 1 && std::llabs(a - k * b) <= ScrapePhase::kToleranceMs;
}

}  // namespace

const char* alignment_state_name(AlignmentState s) { return common::enum_name(kStateNames, s); }

void ScrapePhase::restart(std::string reason) {
  state_ = AlignmentState::kLearning;
  reason_ = std::move(reason);
  steps_.clear();
  interval_.reset();
  phase_.reset();
  behind_.clear();
  lags_.clear();
  probe_ms_ = 0;
  spread_ = false;
}

void ScrapePhase::observe(const std::vector<SeriesTime>& series) {
  ++observations_;
  std::map<std::string, std::int64_t> newest;
  for (const auto& s : series) {
    newest[s.series] = s.ms;
    const auto it = newest_.find(s.series);
    if (it == newest_.end() || s.ms <= it->second) continue;
    const std::int64_t step = s.ms - it->second;
    if (interval_ && !multiple_of(step, *interval_)) {
      restart("series " + s.series + " stepped " + ms_text(step) + ", not a multiple of the scrape interval " +
              ms_text(*interval_) + " (the scrape interval changed?)");
    }
    if (!interval_) steps_.push_back(step);
  }
  newest_ = std::move(newest);  // series that went stale are forgotten
  if (state_ == AlignmentState::kLearning && steps_.size() >= 2) learn();
  if (!interval_) return;

  // Phases on the circle of length I: the aligned phase is the last one before the largest gap
  // (that series lands last in a cycle); every other series' phase is `behind` it.
  std::vector<std::int64_t> phases;
  for (const auto& [key, ms] : newest_) phases.push_back(mod(ms));
  std::sort(phases.begin(), phases.end());
  phases.erase(std::unique(phases.begin(), phases.end()), phases.end());
  if (phases.empty()) return;
  std::int64_t largest_gap = -1;
  std::int64_t before_gap = phases.back();
  for (std::size_t i = 0; i < phases.size(); ++i) {
    const std::int64_t here = phases[i];
    const std::int64_t next = i + 1 < phases.size() ? phases[i + 1] : phases.front() + *interval_;
    if (next - here > largest_gap) {
      largest_gap = next - here;
      before_gap = here;
    }
  }
  const bool spread = largest_gap <= 2 * kToleranceMs;
  if (state_ == AlignmentState::kAligned && spread) {
    state_ = AlignmentState::kUnaligned;
    spread_ = true;
    reason_ = "the series' scrapes are spread over the whole " + ms_text(*interval_) +
              " interval: no moment follows all of them";
  } else if (state_ == AlignmentState::kUnaligned && spread_ && !spread) {
    state_ = AlignmentState::kAligned;
    spread_ = false;
    reason_.clear();
  }
  phase_ = before_gap;
  behind_.clear();
  for (const auto& [key, ms] : newest_) behind_[key] = mod(*phase_ - mod(ms));
  if (!lags_.empty() && observations_ - lags_.back().observation > kLagMemory) {
    probe_ms_ = margin_ms();  // nothing measured lately: probe downwards from here
    lags_.clear();
  }
  while (!lags_.empty() && observations_ - lags_.front().observation > kLagMemory) lags_.pop_front();
}

void ScrapePhase::learn() {
  const std::int64_t smallest = *std::min_element(steps_.begin(), steps_.end());
  if (smallest < 2 * kToleranceMs) return;  // sub-10ms "steps" are jitter, not scrapes
  std::int64_t sum = 0, cycles = 0;
  for (std::int64_t step : steps_) {
    if (!multiple_of(step, smallest)) {
      restart("samples stepped " + ms_text(step) + " and " + ms_text(smallest) + ": no common scrape interval");
      return;
    }
    sum += step;
    cycles += (step + smallest / 2) / smallest;
  }
  const std::int64_t interval = (sum + cycles / 2) / cycles;
  const std::int64_t longer = std::max(interval, evaluation_ms_), shorter = std::min(interval, evaluation_ms_);
  interval_ = interval;
  if (!multiple_of(longer, shorter)) {
    state_ = AlignmentState::kUnaligned;
    reason_ = "scrape interval " + ms_text(interval) + " and evaluation_interval " + ms_text(evaluation_ms_) +
              ": neither is a multiple of the other, so no evaluation grid meets every scrape";
    return;
  }
  state_ = AlignmentState::kAligned;
  reason_.clear();
}

std::optional<std::int64_t> ScrapePhase::expected_cycle(std::int64_t now_ms) const {
  if (state_ != AlignmentState::kAligned || !phase_) return std::nullopt;
  // A tick may run a few ms before its grid time (wall and monotonic clocks disagree a little).
  return *phase_ + floor_div(now_ms + kToleranceMs - margin_ms() - *phase_, *interval_) * *interval_;
}

bool ScrapePhase::current(const std::vector<SeriesTime>& series, std::int64_t cycle_ms) const {
  for (const auto& s : series) {
    const auto it = behind_.find(s.series);
    if (it == behind_.end()) continue;                          // first seen now: no phase to hold it to yet
    if (s.ms < cycle_ms - kStaleCycles * *interval_) continue;  // its target stopped: nothing to wait for
    if (s.ms < cycle_ms - it->second - kToleranceMs) return false;
  }
  return true;
}

void ScrapePhase::missed(std::int64_t cycle_ms, std::int64_t gave_up_ms) {
  if (!interval_) return;
  lags_.push_back(
      {observations_, std::clamp<std::int64_t>(gave_up_ms - cycle_ms, 0, kStaleCycles * *interval_), /*bound=*/true});
}

void ScrapePhase::landed(std::int64_t cycle_ms, std::int64_t seen_ms, bool waited) {
  // Samples that landed end what the misses suggested: one slow scrape is not the new lag.
  lags_.erase(std::remove_if(lags_.begin(), lags_.end(), [](const Lag& l) { return l.bound; }), lags_.end());
  if (waited) {
    lags_.push_back({observations_, std::max<std::int64_t>(0, seen_ms - cycle_ms), /*bound=*/false});
  } else if (lags_.empty()) {
    probe_ms_ /= 2;
  }
}

std::int64_t ScrapePhase::margin_ms() const { return lags_.empty() ? probe_ms_ : largest_lag() + spare_ms(); }

std::int64_t ScrapePhase::spare_ms() const { return lags_.empty() ? 0 : std::max(kToleranceMs, largest_lag() / 10); }

std::int64_t ScrapePhase::largest_lag() const {
  std::int64_t lag = 0;
  for (const Lag& l : lags_) lag = std::max(lag, l.ms);
  return lag;
}

std::optional<std::int64_t> ScrapePhase::grid_phase() const {
  if (state_ != AlignmentState::kAligned || !phase_) return std::nullopt;
  return ((*phase_ + margin_ms()) % evaluation_ms_ + evaluation_ms_) % evaluation_ms_;
}

}  // namespace rs::sidecar
