// ScrapeAligner with the Scheduler on a manual clock, against a simulated Prometheus whose one
// target is scraped every second at a fixed phase and whose samples become queryable a fixed lag
// later: it learns, moves the grid to just after the samples land, waits for late samples
// instead of evaluating without them, and says what it did in its view and metrics.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "promql/client.h"
#include "sidecar/core/scheduler.h"
#include "sidecar/core/scrape_aligner.h"
#include "sidecar/core/self_metrics.h"
#include "sidecar/policy/decision.h"
#include "tests/fakes/env.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;
using fakes::ManualClock;

std::int64_t unix_ms(WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Answers every query with timestamp() of its one series as the clock says: the newest scrape
// (every `interval_ms` at `phase_ms`) that is `lag_ms` old. Counts the queries; `stopped` makes
// the target stop being scraped (no new samples).
class ScrapedPrometheus : public HttpTransport {
 public:
  ScrapedPrometheus(const ManualClock& clock, std::int64_t phase_ms, std::int64_t lag_ms)
      : clock_(clock), phase_ms_(phase_ms), lag_ms_(lag_ms) {}
  std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& requests) override {
    std::vector<HttpResponse> out;
    for (const auto& request : requests) {
      ++queries;
      last_body = request.body;
      if (down) {
        HttpResponse refused;
        refused.error = TransportError::kConnect;
        refused.error_message = "connect to 127.0.0.1 port 9090: Connection refused";
        out.push_back(refused);
        continue;
      }
      std::int64_t visible = unix_ms(clock_.wall()) - lag_ms_;
      if (stopped_at) visible = std::min(visible, *stopped_at);
      const std::int64_t newest = visible - (((visible - phase_ms_) % 1000) + 1000) % 1000;
      HttpResponse r;
      r.status = 200;
      r.body = R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1,")" +
               std::to_string(newest / 1000) + "." + std::to_string(1000 + newest % 1000).substr(1) + R"("]}]}})";
      out.push_back(r);
    }
    return out;
  }
  int queries = 0;
  bool down = false;  // every query is refused, as by a stopped Prometheus
  std::string last_body;
  std::optional<std::int64_t> stopped_at;

 private:
  const ManualClock& clock_;
  std::int64_t phase_ms_;
  std::int64_t lag_ms_;
};

struct Rig {
  explicit Rig(std::int64_t lag_ms = 40) : prometheus(std::make_shared<ScrapedPrometheus>(clock, 230, lag_ms)) {
    config.evaluation_interval = Duration{1000};
  }
  ManualClock clock;
  std::shared_ptr<ScrapedPrometheus> prometheus;
  Config config;
  SelfMetrics metrics{"test", {}, deployment_state_names()};
  promql::Client client{promql::ClientOptions{}, prometheus};
};

// Phase of `t` within its second, in ms.
std::int64_t phase_of(WallTime t) { return unix_ms(t) % 1000; }

TEST(ScrapeAligner, LearnsTheScrapeAndEvaluatesJustAfterTheSamplesLand) {
  Rig rig;
  ScrapeAligner aligner(rig.config, {R"(sum(rate(http_requests_total{job="a",code=~"5.."}[5s])))"}, rig.client,
                        rig.clock, rig.metrics);
  std::vector<WallTime> evaluations;
  std::vector<std::int64_t> sample_ages;
  Scheduler* self = nullptr;
  Scheduler scheduler(
      rig.clock, Duration{1000},
      [&] {
        aligner.before_evaluation();
        evaluations.push_back(rig.clock.wall());
        const auto view = aligner.view();
        if (view.sample_lag_seconds) sample_ages.push_back(std::llround(*view.sample_lag_seconds * 1000));
        rig.clock.advance(3ms);  // the evaluation itself
        if (evaluations.size() == 12) self->stop();
      },
      nullptr, [&](MonoTime now, MonoTime next) { return aligner.next_tick(now, next); });
  self = &scheduler;
  scheduler.run();

  const AlignmentView view = aligner.view();
  EXPECT_EQ(view.state, AlignmentState::kAligned) << view.reason;
  EXPECT_EQ(view.scrape_interval_ms, 1000);
  EXPECT_EQ(view.phase_ms, 230);
  EXPECT_EQ(view.margin_ms, 45) << "a 40 ms lag, measured by waiting once, plus 5 ms";
  EXPECT_EQ(view.selectors, std::vector<std::string>{R"(http_requests_total{job="a",code=~"5.."})"});
  EXPECT_NE(rig.prometheus->last_body.find("timestamp"), std::string::npos);
  EXPECT_EQ(view.waits, 1u) << "one wait measured the lag; after it every evaluation finds its samples there";
  EXPECT_EQ(view.misses, 0u);
  // The last evaluations run 45 ms after the scrape at phase 230, each with that scrape's samples.
  for (std::size_t i = evaluations.size() - 4; i < evaluations.size(); ++i) {
    EXPECT_EQ(phase_of(evaluations[i]), 275) << i;
    EXPECT_EQ(sample_ages[i], 45) << i;
  }
  for (std::size_t i = 1; i < evaluations.size(); ++i) {
    const auto gap = evaluations[i] - evaluations[i - 1];
    EXPECT_GT(gap, 40ms) << "never two evaluations back to back, " << i;
    EXPECT_LE(gap, 1000ms + 5ms) << "evaluation_interval stays the bound (+ the margin's spare once), " << i;
  }
}

TEST(ScrapeAligner, LateSamplesAreWaitedForAtMostAQuarterIntervalThenCountedAsMissed) {
  Rig rig;
  ScrapeAligner aligner(rig.config, {R"(up{job="a"})"}, rig.client, rig.clock, rig.metrics);
  // Learn on the fixed grid, then run at the aligned time each second.
  for (int i = 0; i < 3; ++i) {
    aligner.before_evaluation();
    rig.clock.advance(1000ms);
  }
  ASSERT_EQ(aligner.view().state, AlignmentState::kAligned);
  auto at_phase = [&](std::int64_t phase) {
    const std::int64_t now = unix_ms(rig.clock.wall());
    rig.clock.advance(std::chrono::milliseconds(((phase - now % 1000) + 1000) % 1000));
  };
  at_phase(230);
  aligner.before_evaluation();  // waits 40 ms for the samples
  EXPECT_EQ(phase_of(rig.clock.wall()), 270);
  EXPECT_EQ(aligner.view().waits, 1u);

  rig.prometheus->stopped_at = unix_ms(rig.clock.wall());  // the target stops being scraped
  rig.clock.advance(500ms);
  at_phase(275);  // the next aligned tick
  const int before = rig.prometheus->queries;
  aligner.before_evaluation();
  EXPECT_EQ(phase_of(rig.clock.wall()), 525) << "waited a quarter interval, then gave up";
  EXPECT_EQ(aligner.view().misses, 1u);
  EXPECT_GE(rig.prometheus->queries - before, 40) << "polled every 5 ms";
  EXPECT_NE(rig.metrics.serialize().find(R"(rollback_sidecar_alignment_waits_total{result="missed"} 1)"),
            std::string::npos);
}

// Prometheus down: the timestamp query fails, so the aligner learns nothing, never waits (no poll
// storm against a server that is not there) and leaves the grid alone; the rules' own queries
// report the outage.
TEST(ScrapeAligner, PrometheusDownMeansNoWaitsNoMovesAndLearningResumesWhenItReturns) {
  Rig rig;
  rig.prometheus->down = true;
  ScrapeAligner aligner(rig.config, {R"(up{job="a"})"}, rig.client, rig.clock, rig.metrics);
  for (int i = 0; i < 5; ++i) {
    aligner.before_evaluation();
    rig.clock.advance(1000ms);
  }
  EXPECT_EQ(rig.prometheus->queries, 5) << "one failed query per evaluation, no polling";
  EXPECT_EQ(aligner.view().state, AlignmentState::kLearning);
  EXPECT_EQ(aligner.view().waits + aligner.view().misses, 0u);
  EXPECT_FALSE(aligner.next_tick(rig.clock.mono(), rig.clock.mono() + 1000ms));
  rig.prometheus->down = false;
  for (int i = 0; i < 3; ++i) {
    aligner.before_evaluation();
    rig.clock.advance(1000ms);
  }
  EXPECT_EQ(aligner.view().state, AlignmentState::kAligned);
}

TEST(ScrapeAligner, WithoutSelectorsItSaysWhyAndNeverQueries) {
  Rig rig;
  ScrapeAligner aligner(rig.config, {"vector(1)", "scalar(time())"}, rig.client, rig.clock, rig.metrics);
  aligner.before_evaluation();
  EXPECT_EQ(rig.prometheus->queries, 0);
  EXPECT_EQ(aligner.view().state, AlignmentState::kUnaligned);
  EXPECT_EQ(aligner.view().reason, "no series selector found in the rules' queries");
  EXPECT_FALSE(aligner.next_tick(rig.clock.mono(), rig.clock.mono() + 1000ms));
}

}  // namespace
}  // namespace rs::sidecar
