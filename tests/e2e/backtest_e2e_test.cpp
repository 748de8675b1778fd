// `rollback-sidecar backtest` end to end against a REAL Prometheus holding synthetic history that
// promtool backfilled (tests/support/harness.h: PrometheusServer::Options::openmetrics_history):
// three hours of a canary's and the stable version's request counters, scraped every 15 s, with
// a ten-minute scrape outage (a gap) in the healthy stretch and an incident (the canary's error
// ratio jumps from 1 % to 20 %) at a known time. The backtest must find the incident at the right
// evaluation, decide nothing in the healthy stretch, report the gap, and decide exactly what the
// live Engine decides when a manual clock steps it through the same history.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "promql/client.h"
#include "sidecar/app/backtest.h"
#include "sidecar/app/backtest_command.h"
#include "sidecar/config/config.h"
#include "sidecar/core/engine.h"
#include "sidecar/core/self_metrics.h"
#include "sidecar/core/state_store.h"
#include "tests/e2e/e2e_support.h"
#include "tests/fakes/env.h"
#include "tests/support/harness.h"

namespace rs::e2e {
namespace {

using rs::testing::Process;
using rs::testing::PrometheusServer;
using rs::testing::TempDir;

constexpr std::int64_t kHistoryStart = 1'714'557'600;           // 2024-05-01T10:00:00Z, unix seconds
constexpr std::int64_t kHistoryEnd = kHistoryStart + 3 * 3600;  // exclusive
constexpr std::int64_t kScrape = 15;
constexpr std::int64_t kGapFrom = kHistoryStart + 40 * 60;    // no samples in [kGapFrom, kGapTo)
constexpr std::int64_t kGapTo = kHistoryStart + 50 * 60;      //
constexpr std::int64_t kIncident = kHistoryStart + 2 * 3600;  // the canary's errors jump here
// The backtest: 10:05 .. 12:30 every 30 s (on the grid: the incident at 12:00 is an evaluation).
constexpr std::int64_t kStart = kHistoryStart + 5 * 60;
constexpr std::int64_t kEnd = kHistoryStart + 2 * 3600 + 30 * 60;
constexpr std::int64_t kStep = 30;

// Requests per scrape interval: 200 for each version; errors 2 (1 %), the canary's 40 (20 %)
// in intervals that start at or after the incident.
std::int64_t errors_in(const std::string& version, std::int64_t interval_start) {
  return version == "v2" && interval_start >= kIncident ? 40 : 2;
}

// OpenMetrics for promtool: one counter family, each series' samples in time order, `# EOF`.
std::string history() {
  std::ostringstream out;
  out << "# HELP demo_requests Requests served.\n# TYPE demo_requests counter\n";
  for (const std::string version : {"v1", "v2"}) {
    for (const std::string code : {"200", "500"}) {
      std::int64_t total = 0;
      for (std::int64_t t = kHistoryStart; t < kHistoryEnd; t += kScrape) {
        if (t > kHistoryStart) {
          const std::int64_t errors = errors_in(version, t - kScrape);
          total += code == "500" ? errors : 200 - errors;
        }
        if (t >= kGapFrom && t < kGapTo) continue;  // the scrape outage
        out << "demo_requests_total{version=\"" << version << "\",code=\"" << code << "\"} " << total << " " << t
            << "\n";
      }
    }
  }
  out << "# EOF\n";
  return out.str();
}

std::string ratio(const std::string& version) {
  return "sum(rate(demo_requests_total{version=\"" + version +
         "\",code=~\"5..\"}[1m])) / "
         "sum(rate(demo_requests_total{version=\"" +
         version + "\"}[1m]))";
}

// A sequential test on the same counters (cumulative; action notify, so that the threshold rule
// still makes the rollback the other tests look for).
const char* kSequentialRule =
    "  - name: canary-test\n"
    "    action: notify\n"
    "    test:\n"
    "      type: sequential-binomial\n"
    "      canary_errors: 'sum(demo_requests_total{version=\"{{canary}}\",code=~\"5..\"})'\n"
    "      canary_total: 'sum(demo_requests_total{version=\"{{canary}}\"})'\n"
    "      baseline_errors: 'sum(demo_requests_total{version=\"{{stable}}\",code=~\"5..\"})'\n"
    "      baseline_total: 'sum(demo_requests_total{version=\"{{stable}}\"})'\n"
    "      false_rollback_rate: 0.05\n"
    "      max_ratio: 2\n"
    "      pass_ratio: 3\n";

std::string rfc3339(std::int64_t unix_seconds) { return to_rfc3339(WallTime(std::chrono::seconds(unix_seconds))); }

// What two runs are compared on.
struct Seen {
  std::string rule, kind, decided_at, first_breach;
  bool operator==(const Seen& o) const {
    return rule == o.rule && kind == o.kind && decided_at == o.decided_at && first_breach == o.first_breach;
  }
};
std::ostream& operator<<(std::ostream& out, const Seen& s) {
  return out << s.kind << " " << s.rule << " decided_at " << s.decided_at << " first_breach " << s.first_breach;
}
Seen seen_of(const sidecar::Decision& d) {
  return {d.rule, sidecar::decision_kind_name(d.kind), to_rfc3339(d.decided_at),
          d.first_breach ? to_rfc3339(*d.first_breach) : ""};
}
Seen seen_of(const nlohmann::json& d) {
  return {d["rule"], d["kind"], d["decided_at"], d["first_breach"].is_null() ? "" : d["first_breach"]};
}

class RecordingObserver final : public sidecar::DecisionObserver {
 public:
  void on_decision(const sidecar::Decision& decision) override {
    std::lock_guard<std::mutex> lock(mu_);
    decisions_.push_back(decision);
  }
  void on_rollback_finished(const sidecar::Decision&, const sidecar::StatusView&) override {}
  void on_verification_finished(const sidecar::Decision&, WallTime) override {}
  void on_freeze(const sidecar::FreezeEvent&) override {}
  std::vector<sidecar::Decision> decisions() const {
    std::lock_guard<std::mutex> lock(mu_);
    return decisions_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<sidecar::Decision> decisions_;
};

class BacktestE2ETest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(rs::testing::find_binary("prometheus").empty()) << "prometheus not installed";
    ASSERT_FALSE(rs::testing::find_binary("promtool").empty()) << "promtool not installed";
    PrometheusServer::Options options;
    options.openmetrics_history = history();
    options.retention = "100y";  // counted back from the newest block, which is the history's
    prometheus_ = new PrometheusServer(options);
    try {
      prometheus_->start();
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
  }
  static void TearDownTestSuite() {
    delete prometheus_;
    prometheus_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(prometheus_ && prometheus_->running()) << "Prometheus with the history did not start";
    ASSERT_EQ(access(kSidecarBinary.c_str(), X_OK), 0) << kSidecarBinary << " missing: build rollback-sidecar";
  }
  void TearDown() override {
    if (HasFailure() && prometheus_) std::cerr << "---- Prometheus log\n" << tail(prometheus_->log(), 2000) << "\n";
  }

  std::string config(const std::string& extra_rules = "") const {
    return "prometheus: {url: '" + prometheus_->url() +
           "', timeout: 10s}\n"
           "evaluation_interval: 30s\n"
           "deployment: {name: checkout, stage: prod, strategy: canary, vars: {canary: v2, stable: v1}}\n"
           "rollback: {deadline: 5s, initial_backoff: 100ms, max_backoff: 1s}\n"
           "actuators:\n"
           "  - type: file\n"
           "    path: " +
           dir_.file("router.env") +
           "\n"
           "    content: \"CANARY_WEIGHT={{canary_weight}}\\n\"\n"
           "rules:\n"
           "  - name: error-rate\n"
           "    query: '" +
           ratio("{{canary}}") +
           "'\n"
           "    above: 0.05\n"
           "    for: 2m\n"
           "  - name: errors-vs-stable\n"
           "    query: '" +
           ratio("{{canary}}") +
           "'\n"
           "    above: 0.02\n"
           "    breaches: 3 of 4\n"
           "    action: notify\n"
           "    baseline: {query: '" +
           ratio("{{stable}}") +
           "', max_ratio: 3, min_difference: 0.02}\n"
           "    min_samples: {query: 'sum(increase(demo_requests_total{version=\"{{canary}}\"}[1m]))', at_least: "
           "100}\n" +
           extra_rules;
  }

  std::string write_config(const std::string& yaml) const {
    const std::string path = dir_.file("backtest.yml");
    rs::testing::write_file(path, yaml);
    return path;
  }

  struct Result {
    int status = -1;
    std::string out, err;
  };
  // The real binary (`args` from its subcommand on); stdout and stderr apart (the JSON is stdout alone).
  Result run_binary(const std::vector<std::string>& args) const {
    std::string command = "exec '" + kSidecarBinary + "'";
    for (const auto& a : args) command += " '" + a + "'";
    command += " >'" + dir_.file("out.txt") + "' 2>'" + dir_.file("err.txt") + "'";
    Process p({"/bin/sh", "-c", command}, dir_.file("sh.log"));
    Result r;
    r.status = p.wait_exit(120s);
    r.out = rs::testing::read_file(dir_.file("out.txt"));
    r.err = rs::testing::read_file(dir_.file("err.txt"));
    return r;
  }
  Result run_backtest(std::vector<std::string> args) const {
    args.insert(args.begin(), "backtest");
    return run_binary(args);
  }

  static int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

  // `rollback-sidecar gate --config F --start T --end T ... --json report.json`: the exit status
  // and the JSON report (null when none was written).
  std::pair<Result, nlohmann::json> run_gate(const std::string& config_path, std::int64_t start, std::int64_t end,
                                             const std::vector<std::string>& more = {}) const {
    std::vector<std::string> args = {"gate",
                                     "--config",
                                     config_path,
                                     "--start",
                                     std::to_string(start),
                                     "--end",
                                     std::to_string(end),
                                     "--json",
                                     dir_.file("gate.json"),
                                     "--junit",
                                     dir_.file("gate.xml")};
    args.insert(args.end(), more.begin(), more.end());
    Result r = run_binary(args);
    return {r, nlohmann::json::parse(rs::testing::read_file(dir_.file("gate.json")), nullptr, false)};
  }

  // The live Engine stepped through the history by a manual clock, one evaluation per step, from
  // `start` to `end`: the decisions it took, in order.
  std::vector<sidecar::Decision> live_decisions(const std::string& yaml, std::int64_t start, std::int64_t end) {
    sidecar::LoadResult result = sidecar::load_config_text(yaml, "live.yml", actuators::Registry::builtin());
    std::string errors;
    for (const auto& e : result.errors) errors += e.to_string("live.yml") + "\n";
    EXPECT_TRUE(result.loaded) << errors;
    if (!result.loaded) return {};
    const sidecar::Config& config = result.loaded->config;
    std::vector<std::string> rules;
    for (const auto& r : config.rules) rules.push_back(r.name);
    sidecar::SelfMetrics metrics("e2e", rules, sidecar::deployment_state_names());
    promql::Client client(config.prometheus, rs::make_curl_transport());
    sidecar::StateStore store(config.state_file);
    fakes::ManualClock clock;
    clock.step_wall(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::seconds(kStart) - fakes::ManualClock::kWallStart.time_since_epoch()));
    std::vector<actuators::Actuator*> actuators;
    for (auto& a : result.loaded->actuators) actuators.push_back(a.get());
    sidecar::Engine engine(config, actuators, client, fakes::env_with_clock(clock), metrics, store);
    RecordingObserver observer;
    engine.add_observer(&observer);
    std::string error;
    EXPECT_TRUE(engine.restore(&error)) << error;
    for (std::int64_t t = start; t <= end; t += kStep) {
      // The clock at exactly this evaluation (a rollback's retries may have slept on it).
      const auto behind = std::chrono::seconds(t) - clock.wall().time_since_epoch();
      clock.step_wall(std::chrono::duration_cast<std::chrono::milliseconds>(behind));
      engine.evaluate_once();
      clock.advance(std::chrono::seconds(kStep));
    }
    engine.shutdown();
    return observer.decisions();
  }

  static inline PrometheusServer* prometheus_ = nullptr;
  TempDir dir_;
};

TEST_F(BacktestE2ETest, FindsTheIncidentAtTheRightEvaluationAndNothingInTheHealthyStretch) {
  const auto r = run_backtest({"--config", write_config(config()), "--start", rfc3339(kStart), "--end",
                               std::to_string(kEnd), "--format", "json"});
  ASSERT_EQ(exit_code(r.status), 0) << describe_status(r.status) << "\n" << r.err << r.out;
  const auto report = nlohmann::json::parse(r.out);  // ONE object
  ASSERT_TRUE(report.is_object());
  const auto& decisions = report["decisions"];
  ASSERT_EQ(decisions.size(), 2u) << report["decisions"].dump(2);

  // error-rate: the first evaluation that sees the 20 % errors is 30 s after the incident (the 1m
  // rate window then holds two incident intervals); `for: 2m` later it rolls back.
  const nlohmann::json* rollback = nullptr;
  for (const auto& d : decisions) {
    if (d["kind"] == "rollback") rollback = &d;
    // Nothing in the healthy stretch: every decision after the incident began.
    WallTime decided;
    ASSERT_TRUE(parse_rfc3339(d["decided_at"], &decided));
    EXPECT_GE(decided, WallTime(std::chrono::seconds(kIncident))) << d.dump();
  }
  ASSERT_NE(rollback, nullptr) << decisions.dump(2);
  EXPECT_EQ((*rollback)["rule"], "error-rate");
  WallTime first_breach, decided_at;
  ASSERT_TRUE(parse_rfc3339((*rollback)["first_breach"], &first_breach));
  ASSERT_TRUE(parse_rfc3339((*rollback)["decided_at"], &decided_at));
  EXPECT_GE(first_breach, WallTime(std::chrono::seconds(kIncident)));
  EXPECT_LE(first_breach, WallTime(std::chrono::seconds(kIncident + kStep))) << "within one step of the incident";
  EXPECT_EQ(decided_at - first_breach, std::chrono::minutes(2));
  EXPECT_GT((*rollback)["value"].get<double>(), 0.05);
  EXPECT_DOUBLE_EQ((*rollback)["threshold"].get<double>(), 0.05);
  EXPECT_NE((*rollback)["evidence"]["queries"]["query"].get<std::string>().find("version=\"v2\""), std::string::npos);

  // errors-vs-stable (notify, 3 of 4 against the baseline) notices it too, with the comparison.
  const auto& notify = decisions[0]["kind"] == "notify" ? decisions[0] : decisions[1];
  EXPECT_EQ(notify["rule"], "errors-vs-stable");
  EXPECT_TRUE(notify["evidence"]["judge"].is_object()) << notify.dump(2);

  const auto& summary = report["summary"];
  EXPECT_EQ(summary["evaluations"], (kEnd - kStart) / kStep + 1);
  EXPECT_EQ(summary["final_state"], "rolled_back");
  EXPECT_EQ(summary["earliest_decision"]["rule"], "errors-vs-stable");
  const auto& error_rate = summary["rules"][0];
  EXPECT_EQ(error_rate["rule"], "error-rate");
  // Pending only after the incident: in the healthy stretch the rule was ok or (in the gap) nodata.
  for (const auto& span : error_rate["timeline"]) {
    if (span["state"] != "pending" && span["state"] != "firing") continue;
    WallTime from;
    ASSERT_TRUE(parse_rfc3339(span["from"], &from));
    EXPECT_GE(from, WallTime(std::chrono::seconds(kIncident))) << span.dump();
  }
}

TEST_F(BacktestE2ETest, TheScrapeOutageIsReportedAsAGapAndNoHistoryAtAllSaysSo) {
  const auto r = run_backtest({"--config", write_config(config()), "--start", rfc3339(kStart), "--end", rfc3339(kEnd)});
  ASSERT_EQ(exit_code(r.status), 0) << describe_status(r.status) << "\n" << r.err << r.out;
  EXPECT_NE(r.out.find("rollback rule error-rate decided_at "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gap(s):"), std::string::npos) << r.out;

  const auto j = run_backtest(
      {"--config", write_config(config()), "--start", rfc3339(kStart), "--end", rfc3339(kEnd), "--format", "json"});
  ASSERT_EQ(exit_code(j.status), 0) << j.err;
  const auto report = nlohmann::json::parse(j.out);
  for (const auto& rule : report["summary"]["rules"]) {
    EXPECT_EQ(rule["history"], "gaps") << rule.dump();
    ASSERT_EQ(rule["gaps"].size(), 1u) << rule["rule"] << ": " << rule["gaps"].dump();
    WallTime from, to;
    ASSERT_TRUE(parse_rfc3339(rule["gaps"][0]["from"], &from));
    ASSERT_TRUE(parse_rfc3339(rule["gaps"][0]["to"], &to));
    // The 1m rate window empties within a minute of the outage's start; the first sample after it
    // (with one more inside the window) ends it. Within one step of that.
    EXPECT_GE(from, WallTime(std::chrono::seconds(kGapFrom)));
    EXPECT_LE(from, WallTime(std::chrono::seconds(kGapFrom + 60 + kStep)));
    EXPECT_GE(to, WallTime(std::chrono::seconds(kGapTo - kStep)));
    EXPECT_LE(to, WallTime(std::chrono::seconds(kGapTo + kStep)));
    // Held through the gap: nodata (missing: hold), or insufficient where min_samples saw no traffic.
    EXPECT_GT(rule["seconds"]["nodata"].get<double>() + rule["seconds"]["insufficient"].get<double>(), 0)
        << rule["seconds"].dump();
  }

  // A day before the history: nothing at all.
  const auto none = run_backtest({"--config", write_config(config()), "--start", std::to_string(kStart - 86400),
                                  "--end", std::to_string(kStart - 86400 + 3600)});
  ASSERT_EQ(exit_code(none.status), 0) << none.err;
  EXPECT_NE(none.out.find("no history for rule error-rate between " + rfc3339(kStart - 86400) + " and " +
                          rfc3339(kStart - 86400 + 3600) + ": Prometheus retention?"),
            std::string::npos)
      << none.out;
  EXPECT_NE(none.out.find("no decision"), std::string::npos) << none.out;
}

// The same decisions, at the same evaluations, with the same first breach: over the whole range,
// and over a window that starts five minutes before the incident, where the sequential test has
// not yet seen enough healthy traffic to pass (a passed test is latched) and so fails on the
// incident: its notify decision must match too.
TEST_F(BacktestE2ETest, DecidesExactlyAsTheLiveEngineSteppedThroughTheSameHistory) {
  const std::string yaml = config(kSequentialRule);
  for (const auto& [start, end] : {std::pair{kStart, kEnd}, std::pair{kIncident - 300, kIncident + 1800}}) {
    SCOPED_TRACE(rfc3339(start) + " .. " + rfc3339(end));
    const auto r = run_backtest(
        {"--config", write_config(yaml), "--start", rfc3339(start), "--end", rfc3339(end), "--format", "json"});
    ASSERT_EQ(exit_code(r.status), 0) << r.err;
    std::vector<Seen> backtest;
    const auto report = nlohmann::json::parse(r.out);
    for (const auto& d : report["decisions"]) backtest.push_back(seen_of(d));
    ASSERT_FALSE(backtest.empty()) << r.out;

    rs::testing::write_file(dir_.file("router.env"), "CANARY_WEIGHT=50\n");
    std::vector<Seen> live;
    for (const auto& d : live_decisions(yaml, start, end)) live.push_back(seen_of(d));
    EXPECT_EQ(backtest, live);
    ASSERT_FALSE(live.empty());
    EXPECT_EQ(live.back().kind, "rollback");
    EXPECT_EQ(live.back().rule, "error-rate");
    EXPECT_EQ(rs::testing::read_file(dir_.file("router.env")), "CANARY_WEIGHT=0\n") << "the live engine rolled back";
    if (start == kIncident - 300) {
      bool tested = false;
      for (const auto& d : backtest) tested |= d.rule == "canary-test" && d.kind == "notify";
      EXPECT_TRUE(tested) << "the sequential test failed on the incident (notify)";
    }
  }
}

// The history fetched in pieces of 37 evaluations (boundaries inside the gap and the incident)
// replays exactly as in one piece: no evaluation is lost or repeated at a boundary.
TEST_F(BacktestE2ETest, SmallRangeQueryPiecesReplayTheSameAsOne) {
  sidecar::LoadResult result = sidecar::load_config_text(config(), "pieces.yml", actuators::Registry::builtin());
  ASSERT_TRUE(result.loaded);
  const sidecar::Config& c = result.loaded->config;
  promql::StepGrid grid;
  std::string error;
  ASSERT_TRUE(promql::make_grid(kStart * 1000, kEnd * 1000, kStep * 1000, &grid, &error)) << error;
  promql::Client client(c.prometheus, rs::make_curl_transport());
  SystemClock clock;
  const auto one = sidecar::replay_history(c, grid, client, clock);
  const auto pieces = sidecar::replay_history(c, grid, client, clock, 37);
  ASSERT_EQ(one.exit_code, 0) << one.error;
  ASSERT_EQ(pieces.exit_code, 0) << pieces.error;
  ASSERT_GT(promql::split_grid(grid, 37).size(), 7u);
  EXPECT_EQ(sidecar::backtest_json(*one.report, c), sidecar::backtest_json(*pieces.report, c));
  EXPECT_EQ(one.report->decisions.size(), 2u);
}

TEST_F(BacktestE2ETest, AQueryPrometheusRefusesIsAConfigErrorNamingTheRule) {
  const std::string bad = "  - name: broken\n    query: 'sum(rate(demo_requests_total[1m]) /'\n    above: 1\n";
  const auto r =
      run_backtest({"--config", write_config(config(bad)), "--start", rfc3339(kStart), "--end", rfc3339(kEnd)});
  EXPECT_EQ(exit_code(r.status), 1) << describe_status(r.status) << "\n" << r.err << r.out;
  EXPECT_NE(r.err.find("rule broken: query failed (prometheus bad_data, HTTP 400)"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// `gate --start/--end` judges a past window through the same replay: the incident's window fails
// (exit 1) and is rolled back now through the actuator; the healthy stretch passes (0); a window
// before the history is inconclusive (2); with --no-rollback the router is untouched.
TEST_F(BacktestE2ETest, GateOverAPastWindowFailsPassesOrIsInconclusiveFromTheHistory) {
  const std::string path = write_config(config());
  const std::string router = dir_.file("router.env");
  rs::testing::write_file(router, "CANARY_WEIGHT=50\n");

  auto [healthy, healthy_report] = run_gate(path, kHistoryStart + 55 * 60, kHistoryStart + 115 * 60);
  EXPECT_EQ(exit_code(healthy.status), 0) << healthy.out << healthy.err;
  EXPECT_EQ(healthy_report["verdict"], "pass") << healthy_report.dump(2);
  EXPECT_EQ(healthy_report["window"]["step"], "30s");
  EXPECT_EQ(rs::testing::read_file(router), "CANARY_WEIGHT=50\n");

  auto [dry, dry_report] = run_gate(path, kIncident - 10 * 60, kIncident + 10 * 60, {"--no-rollback"});
  EXPECT_EQ(exit_code(dry.status), 1) << dry.out << dry.err;
  EXPECT_EQ(dry_report["decision"]["rule"], "error-rate") << dry_report.dump(2);
  EXPECT_EQ(dry_report["decision"]["kind"], "hold");
  EXPECT_EQ(rs::testing::read_file(router), "CANARY_WEIGHT=50\n") << "--no-rollback changes nothing";

  auto [failed, failed_report] = run_gate(path, kIncident - 10 * 60, kIncident + 10 * 60);
  EXPECT_EQ(exit_code(failed.status), 1) << failed.out << failed.err;
  EXPECT_EQ(failed_report["verdict"], "fail");
  EXPECT_EQ(failed_report["decision"]["rule"], "error-rate") << "the window's rollback, not its earlier notify";
  EXPECT_NE(failed_report["reason"].get<std::string>().find("rolled back now (success)"), std::string::npos)
      << failed_report.dump(2);
  EXPECT_EQ(rs::testing::read_file(router), "CANARY_WEIGHT=0\n") << "rolled back through the actuator";
  const std::string junit = rs::testing::read_file(dir_.file("gate.xml"));
  EXPECT_NE(junit.find("name=\"error-rate\""), std::string::npos) << junit;
  EXPECT_NE(junit.find("<failure"), std::string::npos) << junit;

  auto [before, before_report] = run_gate(path, kHistoryStart - 3600, kHistoryStart - 600);
  EXPECT_EQ(exit_code(before.status), 2) << before.out << before.err;
  EXPECT_EQ(before_report["verdict"], "inconclusive") << before_report.dump(2);

  auto [both, both_report] = run_gate(path, kHistoryStart, kHistoryStart + 600, {"--bake", "5m"});
  EXPECT_EQ(exit_code(both.status), 3) << "--bake with --start/--end is a usage error: " << both.out;
  EXPECT_NE(both.out.find("give one of them"), std::string::npos) << both.out;
}
}  // namespace
}  // namespace rs::e2e
