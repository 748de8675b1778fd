// Scrape-aligned evaluation (`evaluation_alignment: scrape`): evaluations run just after the
// samples the rules read become queryable, not at an arbitrary phase of the scrape, so a breach
// is seen within milliseconds of landing instead of up to one evaluation interval later.
//
// Before each evaluation it asks Prometheus for `timestamp()` of the series the rules' queries
// select (promql/selectors.h) and feeds ScrapePhase (scrape_phase.h), which learns the scrape
// interval, the phase and the lag from sample to queryable. The scheduler asks next_tick() where
// to put the next evaluation. An evaluation never runs before its samples are there: when they
// are late it polls until they land (measuring the lag), at most a quarter of the finer interval;
// then it evaluates anyway and counts a miss.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "promql/client.h"
#include "sidecar/config/config.h"
#include "sidecar/core/scrape_phase.h"
#include "sidecar/core/self_metrics.h"

namespace rs::sidecar {

class ScrapeAligner {
 public:
  static constexpr std::size_t kMaxSelectors = 8;
  static constexpr std::chrono::milliseconds kPoll{5};
  // Grid moves smaller than this are not worth an evaluation out of step; waiting covers them.
  static constexpr std::int64_t kMinMoveMs = 3;

  // The selectors are those of `queries` (the rules' batch), the first kMaxSelectors distinct.
  ScrapeAligner(const Config& config, const std::vector<std::string>& queries, promql::Client& client, Clock& clock,
                SelfMetrics& metrics);

  // Before each evaluation, on the scheduler's thread: learns from the newest timestamps and, on
  // an aligned tick whose samples are not queryable yet, waits for them (see above). Never
  // throws; a failed timestamp query only skips learning for this tick.
  void before_evaluation();
  // Scheduler::Retime: the time the tick after `now` should run instead of `next` (the fixed
  // grid): the latest aligned grid point after `now` and at most `next`, when it differs from
  // `next` by at least kMinMoveMs. Only after a tick that waited for its samples may it be later
  // than `next`, by at most that wait plus the margin's spare: the wait already moved that
  // evaluation, so the gap between evaluations stays evaluation_interval (+ the spare, once)
  // instead of costing an extra evaluation to move the grid.
  std::optional<MonoTime> next_tick(MonoTime now, MonoTime next);

  AlignmentView view() const;  // any thread

 private:
  // The newest timestamp of each series; nullopt when the query failed.
  std::optional<std::vector<ScrapePhase::SeriesTime>> read_timestamps(std::int64_t at_ms);

  const Config& config_;
  promql::Client& client_;
  Clock& clock_;
  SelfMetrics& metrics_;
  std::vector<std::string> selectors_;
  std::string query_;  // timestamp(s1) or timestamp(s2) ...
  mutable std::mutex mu_;
  ScrapePhase phase_;
  AlignmentView view_;
  std::string logged_;          // the last state/reason logged, so each change logs once
  std::int64_t waited_ms_ = 0;  // how long the last evaluation waited for its samples
};

}  // namespace rs::sidecar
