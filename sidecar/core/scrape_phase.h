// When Prometheus scrapes the series the rules read, and so when an evaluation should run: just
// after a scrape's samples become queryable. Pure arithmetic on the newest sample timestamps the
// aligner (scrape_aligner.h) reads; no I/O, no clock. All times are unix milliseconds (Prometheus
// stores sample timestamps as milliseconds).
//
// Model: every series is scraped every I ms at its own fixed phase (timestamp mod I); a sample
// with timestamp t is queryable from t + lag. Evaluations run on a grid of the evaluation
// interval E whose phase is (aligned phase + margin) mod E, where the aligned phase is the phase
// of the series that lands last in a scrape cycle (the one before the largest gap between the
// series' phases on the circle of length I), and the margin is the largest lag measured recently
// plus a little. That grid meets every scrape cycle when I is a multiple of E or E of I; other
// pairs cannot be aligned and stay on the fixed grid.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rs::sidecar {

enum class AlignmentState {
  kLearning,   // too few samples yet to know the scrape interval and phase
  kAligned,    // evaluations run just after each scrape's samples land
  kUnaligned,  // cannot align (reason() says why): the fixed grid
};
const char* alignment_state_name(AlignmentState s);

// What /api/v1/status shows of the alignment (`alignment`, docs/api.md).
struct AlignmentView {
  bool scrape = true;  // evaluation_alignment: scrape (false: fixed)
  AlignmentState state = AlignmentState::kUnaligned;
  std::string reason;                              // why learning restarted, or why unaligned
  std::optional<std::int64_t> scrape_interval_ms;  // learned
  std::optional<std::int64_t> phase_ms;            // the aligned phase, in [0, scrape interval)
  std::int64_t margin_ms = 0;                      // evaluations run this long after the phase
  std::optional<double> sample_lag_seconds;        // newest sample -> last evaluation
  std::uint64_t waits = 0;                         // evaluations that waited for their samples
  std::uint64_t misses = 0;                        // ... and ran without them after the longest wait
  std::vector<std::string> selectors;              // whose timestamps are read
};

class ScrapePhase {
 public:
  // Newest sample timestamp of one series (its label set as a key).
  struct SeriesTime {
    std::string series;
    std::int64_t ms = 0;
  };
  // Timestamps jitter by a few ms around the scrape grid; deltas within this are equal.
  static constexpr std::int64_t kToleranceMs = 5;
  // Measured lags are kept for this many observations; then the margin is probed afresh.
  static constexpr std::size_t kLagMemory = 60;
  // A series whose newest sample is this many intervals older than the cycle expected has a
  // target that stopped being scraped: it is not waited for.
  static constexpr std::int64_t kStaleCycles = 3;

  explicit ScrapePhase(std::int64_t evaluation_interval_ms) : evaluation_ms_(evaluation_interval_ms) {}

  // One look at the newest timestamp of every series: learns the interval (the common divisor
  // of the steps each series' newest timestamp takes) and the phases. A step that is not a
  // multiple of the learned interval (the scrape interval changed) starts learning again.
  void observe(const std::vector<SeriesTime>& series);

  // The scrape cycle an evaluation at `now_ms` should see: the start (aligned phase) of the
  // newest cycle whose samples should have landed by then. None unless aligned.
  std::optional<std::int64_t> expected_cycle(std::int64_t now_ms) const;
  // Whether `series` hold cycle `cycle_ms`'s samples: each series' newest timestamp is at least
  // its own sample of that cycle (its phase, at or before the aligned phase).
  bool current(const std::vector<SeriesTime>& series, std::int64_t cycle_ms) const;
  // The samples of cycle `cycle_ms` were seen queryable at `seen_ms`: after `waited` for them,
  // that is their lag, measured; on the first look, only a bound, and the margin may be too
  // generous. Measured lags set the margin for kLagMemory observations; after that the margin
  // halves with every cycle that was there on the first look until a wait measures it again, so
  // it follows a lag that shrank without ever evaluating before the samples are there.
  void landed(std::int64_t cycle_ms, std::int64_t seen_ms, bool waited);
  // The samples of cycle `cycle_ms` had not landed when the wait gave up at `gave_up_ms`: the lag
  // is at least that long (a backend that hides recent data, e.g. VictoriaMetrics'
  // -search.latencyOffset), so the margin grows by it (at most kStaleCycles intervals) and the
  // next evaluations move later until they find their samples there. These bounds last only
  // until samples land again (landed()), so one slow scrape does not hold the margin up.
  void missed(std::int64_t cycle_ms, std::int64_t gave_up_ms);

  // The evaluation grid: ticks at phase() + k * evaluation interval. None unless aligned.
  std::optional<std::int64_t> grid_phase() const;

  AlignmentState state() const { return state_; }
  const std::string& reason() const { return reason_; }  // why learning restarted, or why unaligned
  std::optional<std::int64_t> scrape_interval_ms() const { return interval_; }
  std::optional<std::int64_t> aligned_phase_ms() const { return phase_; }  // in [0, interval)
  std::int64_t margin_ms() const;  // the largest recent lag plus spare_ms(); 0 before any
  std::int64_t spare_ms() const;   // max(tolerance, 10 % of the largest recent lag); 0 while probing

 private:
  void learn();
  std::int64_t largest_lag() const;
  void restart(std::string reason);
  std::int64_t mod(std::int64_t t) const { return ((t % *interval_) + *interval_) % *interval_; }

  std::int64_t evaluation_ms_;
  AlignmentState state_ = AlignmentState::kLearning;
  std::string reason_;
  std::map<std::string, std::int64_t> newest_;  // per series: its newest timestamp
  std::vector<std::int64_t> steps_;             // learning: the steps seen so far
  std::optional<std::int64_t> interval_;
  std::optional<std::int64_t> phase_;           // the aligned phase
  std::map<std::string, std::int64_t> behind_;  // per series: how far its phase is before phase_
  struct Lag {
    std::uint64_t observation = 0;  // observations_ when it was measured
    std::int64_t ms = 0;
    bool bound = false;  // a miss's lower bound, dropped as soon as samples land again
  };
  std::deque<Lag> lags_;       // measured in the last kLagMemory observations, oldest first
  std::int64_t probe_ms_ = 0;  // the margin while no lag is recent (halving)
  std::uint64_t observations_ = 0;
  bool spread_ = false;  // unaligned because the phases cover the whole interval
};

}  // namespace rs::sidecar
