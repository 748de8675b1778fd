// The backtest's pure replay (sidecar/app/backtest.h): range answers in, decisions and per-rule
// timelines out, through the live loop's judging code. No Prometheus: the answers are built here.
#include "sidecar/app/backtest.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sidecar/app/backtest_command.h"
#include "sidecar/config/config.h"
#include "tests/fakes/env.h"
#include "tests/fakes/prometheus.h"

namespace rs::sidecar {
namespace {

constexpr std::int64_t kStart = 1'714'557'600'000;  // 2024-05-01T10:00:00Z
constexpr std::int64_t kStep = 15'000;

// The config around `rules` (YAML list items, indented by two spaces).
LoadedConfig load(const std::string& rules, bool dry_run = false) {
  const std::string yaml = std::string("prometheus: {url: 'http://127.0.0.1:1'}\n") +
                           "evaluation_interval: 15s\n"
                           "deployment: {name: checkout, stage: prod, strategy: canary}\n" +
                           (dry_run ? "dry_run: true\n" : "") +
                           "actuators:\n  - {type: file, path: /tmp/unused, content: 'W={{canary_weight}}'}\n" +
                           "rules:\n" + rules;
  LoadResult r = load_config_text(yaml, "backtest.yml", actuators::Registry::builtin());
  std::string errors;
  for (const auto& e : r.errors) errors += e.to_string("backtest.yml") + "\n";
  EXPECT_TRUE(r.loaded) << errors << yaml;
  return r.loaded ? std::move(*r.loaded) : LoadedConfig{};
}

// One series over the piece: a point at step k (of the whole grid) when value(k) has one.
using Values = std::function<std::optional<double>(std::int64_t)>;
promql::RangeData series_over(const promql::StepGrid& grid, const promql::StepGrid& piece, const Values& value,
                              const std::map<std::string, std::string>& labels = {}) {
  promql::RangeData data;
  promql::Series series;
  series.labels = labels;
  const std::int64_t first = (piece.start_ms - grid.start_ms) / grid.step_ms;
  for (std::int64_t k = 0; k < piece.steps; ++k) {
    if (auto v = value(first + k)) series.points.push_back({static_cast<double>(piece.at(k)) / 1000.0, *v});
  }
  if (!series.points.empty()) data.series.push_back(std::move(series));
  return data;
}

// Replays `steps` evaluations with one value function per query slot, in pieces of `piece_steps`.
BacktestReport replay(const Config& config, std::int64_t steps, const std::vector<Values>& slots,
                      std::int64_t piece_steps = promql::kMaxStepsPerRequest) {
  const promql::StepGrid grid{kStart, kStep, steps};
  BacktestReplay r(config, grid);
  EXPECT_EQ(r.queries().size(), slots.size());
  for (const auto& piece : promql::split_grid(grid, piece_steps)) {
    std::vector<promql::RangeData> answers;
    for (const auto& values : slots) answers.push_back(series_over(grid, piece, values));
    std::string error;
    EXPECT_TRUE(r.feed(piece, answers, &error)) << error;
  }
  EXPECT_EQ(r.evaluations_done(), steps);
  return r.report();
}

WallTime at(std::int64_t step) { return wall_time_of_ms(kStart + step * kStep); }

std::int64_t seconds_in(const RuleTimeline& t, RuleState s) {
  return t.evaluations_in[static_cast<std::size_t>(s)] * kStep / 1000;
}

const char* kErrorRate =
    "  - name: error-rate\n"
    "    query: 'error_ratio'\n"
    "    above: 0.05\n"
    "    for: 1m\n";

TEST(BacktestReplay, ThresholdRuleWithForDecidesAtTheStepForElapses) {
  const LoadedConfig loaded = load(kErrorRate);
  // Healthy for 10 evaluations, then 0.2 from step 10 on: pending at 10, for 1m = 4 steps later.
  const auto report = replay(loaded.config, 40, {[](std::int64_t k) { return k < 10 ? 0.01 : 0.2; }});
  ASSERT_EQ(report.decisions.size(), 1u);
  const Decision& d = report.decisions[0];
  EXPECT_EQ(d.rule, "error-rate");
  EXPECT_EQ(d.kind, DecisionKind::kRollback);
  EXPECT_EQ(to_rfc3339(d.decided_at), to_rfc3339(at(14)));
  ASSERT_TRUE(d.first_breach);
  EXPECT_EQ(to_rfc3339(*d.first_breach), to_rfc3339(at(10)));
  ASSERT_TRUE(d.value);
  EXPECT_DOUBLE_EQ(*d.value, 0.2);
  EXPECT_DOUBLE_EQ(d.threshold, 0.05);
  // The latch: rolled back at 14, nothing decided afterwards though the rule keeps firing.
  EXPECT_EQ(report.final_state, DeploymentState::kRolledBack);
  ASSERT_TRUE(report.latched_at);
  EXPECT_EQ(*report.latched_at, at(14));
  const RuleTimeline& t = report.rules[0];
  EXPECT_EQ(seconds_in(t, RuleState::kOk), 10 * 15);
  EXPECT_EQ(seconds_in(t, RuleState::kPending), 4 * 15);
  EXPECT_EQ(seconds_in(t, RuleState::kFiring), 26 * 15);
  ASSERT_EQ(t.spans.size(), 3u);
  EXPECT_EQ(t.spans[1].state, RuleState::kPending);
  EXPECT_EQ(t.spans[1].from, at(10));
  EXPECT_EQ(t.spans[1].to, at(14));
  EXPECT_TRUE(t.gaps.empty());
  EXPECT_EQ(t.evaluations_without_history, 0);
}

TEST(BacktestReplay, AShortBreachResetsAndDecidesNothing) {
  const LoadedConfig loaded = load(kErrorRate);
  // Three breaching evaluations (45 s < for 1m), then healthy again.
  const auto report = replay(loaded.config, 30, {[](std::int64_t k) { return k >= 5 && k < 8 ? 0.2 : 0.01; }});
  EXPECT_TRUE(report.decisions.empty());
  EXPECT_EQ(report.final_state, DeploymentState::kHealthy);
  EXPECT_EQ(seconds_in(report.rules[0], RuleState::kPending), 45);
  EXPECT_EQ(seconds_in(report.rules[0], RuleState::kFiring), 0);
}

TEST(BacktestReplay, BreachesWindowFiresAtMOfN) {
  const LoadedConfig loaded = load(
      "  - name: error-rate\n"
      "    query: 'error_ratio'\n"
      "    above: 0.05\n"
      "    breaches: 3 of 5\n");
  // Breaches at 0, 4 (never 3 within 5), then at 10, 12, 14: the third of five at 14.
  const auto report =
      replay(loaded.config, 20,
             {[](std::int64_t k) { return (k == 0 || k == 4 || k == 10 || k == 12 || k == 14) ? 0.3 : 0.01; }});
  ASSERT_EQ(report.decisions.size(), 1u);
  EXPECT_EQ(report.decisions[0].decided_at, at(14));
  ASSERT_TRUE(report.decisions[0].first_breach);
  EXPECT_EQ(*report.decisions[0].first_breach, at(10));
}

TEST(BacktestReplay, AGapInTheHistoryIsReportedAndHeldAsNoData) {
  const LoadedConfig loaded = load(kErrorRate);
  // No sample at steps 5..8 and 18..19 (the end of the range).
  const auto report = replay(loaded.config, 20, {[](std::int64_t k) -> std::optional<double> {
                               if ((k >= 5 && k <= 8) || k >= 18) return std::nullopt;
                               return 0.01;
                             }});
  EXPECT_TRUE(report.decisions.empty());
  const RuleTimeline& t = report.rules[0];
  EXPECT_EQ(t.evaluations_without_history, 6);
  ASSERT_EQ(t.gaps.size(), 2u);
  EXPECT_EQ(t.gaps[0].from, at(5));
  EXPECT_EQ(t.gaps[0].to, at(8));
  EXPECT_EQ(t.gaps[0].evaluations, 4);
  EXPECT_EQ(t.gaps[1].from, at(18));
  EXPECT_EQ(t.gaps[1].to, at(19));
  EXPECT_EQ(seconds_in(t, RuleState::kNoData), 6 * 15);  // missing: hold shows nodata
  const std::string text = backtest_text(report, loaded.config);
  EXPECT_NE(text.find("6 evaluation(s) without history in 2 gap(s)"), std::string::npos) << text;
  EXPECT_NE(text.find("gap " + to_rfc3339(at(5)) + " .. " + to_rfc3339(at(8)) + " (4 evaluation(s))"),
            std::string::npos)
      << text;
  const auto json = backtest_json(report, loaded.config);
  EXPECT_EQ(json["summary"]["rules"][0]["history"], "gaps");
  EXPECT_EQ(json["summary"]["rules"][0]["gaps"][0]["from"], to_rfc3339(at(5)));
  EXPECT_EQ(json["summary"]["rules"][0]["gaps"][0]["evaluations"], 4);
}

TEST(BacktestReplay, NoHistoryAtAllSaysSo) {
  const LoadedConfig loaded = load(kErrorRate);
  const auto report = replay(loaded.config, 8, {[](std::int64_t) -> std::optional<double> { return std::nullopt; }});
  const std::string text = backtest_text(report, loaded.config);
  EXPECT_NE(text.find("no history for rule error-rate between " + to_rfc3339(at(0)) + " and " + to_rfc3339(at(7)) +
                      ": Prometheus retention?"),
            std::string::npos)
      << text;
  EXPECT_EQ(backtest_json(report, loaded.config)["summary"]["rules"][0]["history"], "none");
}

// 25,000 evaluations are fetched in three pieces (11,000 + 11,000 + 3,000); a rule that starts
// breaching just before the first boundary decides at the first evaluation of the second piece,
// exactly as when everything comes in one piece, and no evaluation is lost or repeated.
TEST(BacktestReplay, PieceBoundariesLoseAndRepeatNoEvaluation) {
  const LoadedConfig loaded = load(kErrorRate);
  const promql::StepGrid grid{kStart, kStep, 25'000};
  ASSERT_EQ(promql::split_grid(grid).size(), 3u);
  const Values values = [](std::int64_t k) { return k >= 10'996 && k < 11'003 ? 0.2 : 0.01; };
  const auto pieces = replay(loaded.config, 25'000, {values});
  const auto whole = replay(loaded.config, 25'000, {values}, 25'000);
  for (const auto* report : {&pieces, &whole}) {
    ASSERT_EQ(report->decisions.size(), 1u);
    EXPECT_EQ(report->decisions[0].decided_at, at(11'000));  // 10,996 + 4 steps (for 1m)
    const RuleTimeline& t = report->rules[0];
    std::int64_t total = 0;
    for (auto n : t.evaluations_in) total += n;
    EXPECT_EQ(total, 25'000);
    EXPECT_EQ(t.evaluations_without_history, 0);
    EXPECT_EQ(t.spans.front().from, at(0));
    EXPECT_EQ(t.spans.back().to, at(25'000));
  }
}

TEST(BacktestReplay, FeedRefusesAPieceOutOfOrderOrTheWrongNumberOfAnswers) {
  const LoadedConfig loaded = load(kErrorRate);
  const promql::StepGrid grid{kStart, kStep, 10};
  BacktestReplay r(loaded.config, grid);
  const auto pieces = promql::split_grid(grid, 4);
  std::string error;
  EXPECT_FALSE(r.feed(pieces[1], {promql::RangeData{}}, &error));
  EXPECT_NE(error.find("not the next one"), std::string::npos) << error;
  EXPECT_FALSE(r.feed(pieces[0], {}, &error));
  EXPECT_NE(error.find("0 answer(s) for 1 queries"), std::string::npos) << error;
  EXPECT_TRUE(r.feed(pieces[0], {promql::RangeData{}}, &error)) << error;
  EXPECT_FALSE(r.feed(pieces[0], {promql::RangeData{}}, &error));  // the same piece again
  EXPECT_EQ(r.evaluations_done(), 4);
}

TEST(BacktestReplay, SeveralSeriesAreReducedToTheWorstAndAbsentSeriesAreAbsent) {
  const LoadedConfig loaded = load(kErrorRate);
  const promql::StepGrid grid{kStart, kStep, 12};
  BacktestReplay r(loaded.config, grid);
  promql::RangeData data = series_over(grid, grid, [](std::int64_t) { return 0.01; }, {{"pod", "a"}});
  // Pod b breaches from step 4, but only has samples at steps 4..7: the worst series while it
  // exists (4 steps = for 1m reached at 7? 4..7 is 45s: pending only), then gone.
  promql::RangeData b = series_over(grid, grid,
                                    [](std::int64_t k) -> std::optional<double> {
                                      if (k >= 4 && k <= 7) return 0.5;
                                      return std::nullopt;
                                    },
                                    {{"pod", "b"}});
  data.series.push_back(b.series[0]);
  std::string error;
  ASSERT_TRUE(r.feed(grid, {data}, &error)) << error;
  const auto report = r.report();
  EXPECT_TRUE(report.decisions.empty());
  EXPECT_EQ(seconds_in(report.rules[0], RuleState::kPending), 4 * 15);
  // And with pod b one step longer, for 1m is reached at step 8.
  BacktestReplay longer(loaded.config, grid);
  data.series[1] = series_over(grid, grid,
                               [](std::int64_t k) -> std::optional<double> {
                                 if (k >= 4 && k <= 8) return 0.5;
                                 return std::nullopt;
                               },
                               {{"pod", "b"}})
                       .series[0];
  ASSERT_TRUE(longer.feed(grid, {data}, &error)) << error;
  ASSERT_EQ(longer.report().decisions.size(), 1u);
  EXPECT_EQ(longer.report().decisions[0].decided_at, at(8));
  EXPECT_DOUBLE_EQ(*longer.report().decisions[0].value, 0.5);
}

TEST(BacktestReplay, SamplesOffTheGridAreCountedNotUsed) {
  const LoadedConfig loaded = load(kErrorRate);
  const promql::StepGrid grid{kStart, kStep, 4};
  BacktestReplay r(loaded.config, grid);
  promql::RangeData data;
  data.series.push_back(promql::Series{{}, {{static_cast<double>(kStart + 5000) / 1000.0, 0.9}}});
  std::string error;
  ASSERT_TRUE(r.feed(grid, {data}, &error)) << error;
  const auto report = r.report();
  EXPECT_EQ(report.off_grid_samples, 1);
  EXPECT_EQ(report.rules[0].evaluations_without_history, 4);
  EXPECT_NE(backtest_text(report, loaded.config).find("1 sample(s) were not on the evaluation grid"),
            std::string::npos);
}

TEST(BacktestReplay, DryRunHoldsEveryEpisodeAndNeverLatches) {
  const LoadedConfig loaded = load(kErrorRate, /*dry_run=*/true);
  // Two breach episodes of 5 evaluations (for 1m reached in each).
  const auto report =
      replay(loaded.config, 30, {[](std::int64_t k) { return (k >= 2 && k < 7) || (k >= 15 && k < 20) ? 0.2 : 0.01; }});
  ASSERT_EQ(report.decisions.size(), 2u);
  EXPECT_EQ(report.decisions[0].kind, DecisionKind::kHold);
  EXPECT_EQ(report.decisions[0].decided_at, at(6));
  EXPECT_EQ(report.decisions[1].kind, DecisionKind::kHold);
  EXPECT_EQ(report.decisions[1].decided_at, at(19));
  EXPECT_FALSE(report.latched_at);
  EXPECT_NE(report.decisions[0].reason.find("dry run: would roll back"), std::string::npos);
}

TEST(BacktestReplay, ANotifyRuleNotifiesAndTheRollbackRuleStillLatches) {
  const LoadedConfig loaded = load(
      "  - name: latency\n"
      "    query: 'p95'\n"
      "    above: 0.5\n"
      "    action: notify\n"
      "  - name: error-rate\n"
      "    query: 'error_ratio'\n"
      "    above: 0.05\n"
      "    for: 30s\n");
  const auto report =
      replay(loaded.config, 20,
             {[](std::int64_t k) { return k >= 3 ? 0.9 : 0.1; }, [](std::int64_t k) { return k >= 10 ? 0.2 : 0.01; }});
  ASSERT_EQ(report.decisions.size(), 2u);
  EXPECT_EQ(report.decisions[0].kind, DecisionKind::kNotify);
  EXPECT_EQ(report.decisions[0].rule, "latency");
  EXPECT_EQ(report.decisions[0].decided_at, at(3));
  EXPECT_EQ(report.decisions[1].kind, DecisionKind::kRollback);
  EXPECT_EQ(report.decisions[1].decided_at, at(12));
}

// The config's stage (prod) picks the rule's override, as live: 0.2 breaches the rule's own 0.05
// and gamma's 0.1, not prod's 0.5.
TEST(BacktestReplay, TheDeploymentsStageOverrideApplies) {
  const std::string rule =
      "  - name: error-rate\n"
      "    query: 'error_ratio'\n"
      "    above: 0.05\n"
      "    stages: {prod: {above: 0.5}, gamma: {above: 0.1}}\n";
  const LoadedConfig loaded = load(rule);
  ASSERT_DOUBLE_EQ(loaded.config.rules[0].threshold, 0.5);
  EXPECT_TRUE(replay(loaded.config, 10, {[](std::int64_t) { return 0.2; }}).decisions.empty());
  const auto over = replay(loaded.config, 10, {[](std::int64_t k) { return k >= 3 ? 0.6 : 0.2; }});
  ASSERT_EQ(over.decisions.size(), 1u);
  EXPECT_EQ(over.decisions[0].decided_at, at(3));
  EXPECT_DOUBLE_EQ(over.decisions[0].threshold, 0.5);
}

TEST(BacktestReplay, JsonIsOneObjectWithDecisionsAndSummary) {
  const LoadedConfig loaded = load(kErrorRate);
  const auto report = replay(loaded.config, 20, {[](std::int64_t k) { return k < 10 ? 0.01 : 0.2; }});
  const auto json = backtest_json(report, loaded.config);
  ASSERT_TRUE(json.is_object());
  ASSERT_EQ(json["decisions"].size(), 1u);
  const auto& d = json["decisions"][0];
  EXPECT_EQ(d["rule"], "error-rate");
  EXPECT_EQ(d["kind"], "rollback");
  EXPECT_EQ(d["decided_at"], "2024-05-01T10:03:30.000Z");  // step 14
  EXPECT_EQ(d["first_breach"], "2024-05-01T10:02:30.000Z");
  EXPECT_DOUBLE_EQ(d["value"].get<double>(), 0.2);
  EXPECT_DOUBLE_EQ(d["threshold"].get<double>(), 0.05);
  EXPECT_EQ(d["evidence"]["queries"]["query"], "error_ratio");
  EXPECT_EQ(d["evidence"]["for"], "1m");
  EXPECT_NE(d["evidence"]["reason"].get<std::string>().find("above 0.05"), std::string::npos);
  const auto& s = json["summary"];
  EXPECT_EQ(s["evaluations"], 20);
  EXPECT_EQ(s["step"], "15s");
  EXPECT_EQ(s["start"], "2024-05-01T10:00:00.000Z");
  EXPECT_EQ(s["end"], "2024-05-01T10:04:45.000Z");
  EXPECT_EQ(s["final_state"], "rolled_back");
  EXPECT_EQ(s["earliest_decision"]["decided_at"], "2024-05-01T10:03:30.000Z");
  EXPECT_DOUBLE_EQ(s["rules"][0]["seconds"]["ok"].get<double>(), 150);
  EXPECT_DOUBLE_EQ(s["rules"][0]["seconds"]["pending"].get<double>(), 60);
  EXPECT_DOUBLE_EQ(s["rules"][0]["seconds"]["firing"].get<double>(), 90);
  EXPECT_EQ(s["rules"][0]["history"], "complete");
  const std::string text = backtest_text(report, loaded.config);
  EXPECT_NE(text.find("rollback rule error-rate decided_at 2024-05-01T10:03:30.000Z first_breach "
                      "2024-05-01T10:02:30.000Z value 0.2 above 0.05"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("earliest decision: rollback by rule error-rate at 2024-05-01T10:03:30.000Z"), std::string::npos)
      << text;
}

const char* kSequentialRule =
    "  - name: canary-test\n"
    "    test:\n"
    "      type: sequential-binomial\n"
    "      canary_errors: 'ce'\n"
    "      canary_total: 'ct'\n"
    "      baseline_errors: 'be'\n"
    "      baseline_total: 'bt'\n"
    "      false_rollback_rate: 0.05\n"
    "      max_ratio: 2\n"
    "      pass_ratio: 3\n";

// Cumulative counters at step k: 1000 requests per step on each side, 1 % errors, the canary's
// `canary_rate` from step `from` on.
std::vector<Values> counters(double canary_rate, std::int64_t from) {
  auto canary_errors = [=](std::int64_t k) -> std::optional<double> {
    const std::int64_t bad = k > from ? k - from : 0;
    return 10.0 * (k - bad) + 1000.0 * canary_rate * bad;
  };
  auto total = [](std::int64_t k) -> std::optional<double> { return 1000.0 * k; };
  auto baseline_errors = [](std::int64_t k) -> std::optional<double> { return 10.0 * k; };
  return {canary_errors, total, baseline_errors, total};
}

// A sequential test (`test:`) replays through RuleJudge: it rolls back a canary with 20x the
// baseline's errors and not one that matches it; in pieces or not.
TEST(BacktestReplay, SequentialTestRollsBackTheWorseCanaryOnly) {
  const LoadedConfig loaded = load(kSequentialRule);
  const auto healthy = replay(loaded.config, 60, counters(0.01, 0));
  EXPECT_TRUE(healthy.decisions.empty());
  EXPECT_EQ(healthy.rules[0].evaluations_without_history, 0);

  const auto bad = replay(loaded.config, 60, counters(0.2, 10));
  ASSERT_EQ(bad.decisions.size(), 1u);
  const Decision& d = bad.decisions[0];
  EXPECT_EQ(d.rule, "canary-test");
  EXPECT_EQ(d.kind, DecisionKind::kRollback);
  EXPECT_GT(d.decided_at, at(10));
  EXPECT_LE(d.decided_at, at(20)) << "20x of 1 % at 1000 requests a step is found within a few steps";
  EXPECT_TRUE(d.details.is_object()) << "the test's evidence";
  const auto pieces = replay(loaded.config, 60, counters(0.2, 10), 7);
  ASSERT_EQ(pieces.decisions.size(), 1u);
  EXPECT_EQ(pieces.decisions[0].decided_at, d.decided_at);
  EXPECT_EQ(backtest_json(pieces, loaded.config), backtest_json(bad, loaded.config));
  EXPECT_EQ(backtest_json(bad, loaded.config)["decisions"][0]["evidence"]["queries"]["canary_errors"], "ce");
}

// An error-budget rule (`slo:`) replays through the same judge: each window pair's long and short
// queries are slots of their own; the rule breaches while both windows of a pair burn.
TEST(BacktestReplay, SloBurnRateRuleJudgesEachWindowPair) {
  const LoadedConfig loaded = load(
      "  - name: error-budget\n"
      "    query: 'error_ratio_{{window}}'\n"
      "    slo: {objective: 0.999, period: 30d, windows: [{long: 10m, short: 1m, budget_share: 0.005}]}\n");
  ASSERT_EQ(loaded.config.rules.size(), 1u);
  // Burn rate 0.005 x 30d / 10m = 21.6: an error ratio above 0.0216 in both windows. The long
  // window burns from step 4, the short one from step 6 (and stops at 9): it breaches at 6..8.
  const Values long_window = [](std::int64_t k) { return k >= 4 ? 0.05 : 0.001; };
  const Values short_window = [](std::int64_t k) { return k >= 6 && k < 9 ? 0.05 : 0.001; };
  const auto report = replay(loaded.config, 12, {long_window, short_window});
  ASSERT_EQ(report.decisions.size(), 1u);
  EXPECT_EQ(report.decisions[0].decided_at, at(6));
  EXPECT_EQ(seconds_in(report.rules[0], RuleState::kFiring), 45);  // latched, yet the state shows 6..8
  const auto json = backtest_json(report, loaded.config);
  EXPECT_EQ(json["decisions"][0]["evidence"]["queries"]["slo long window"], "error_ratio_10m");
  EXPECT_EQ(json["decisions"][0]["evidence"]["queries"]["slo short window"], "error_ratio_1m");
}

// The backtest fetches history through Client::query_range_all: a query several rules share is
// fetched once per piece, and every rule that holds it is judged with it.
TEST(BacktestHistory, QueriesSharedByRulesAreFetchedOncePerPiece) {
  const LoadedConfig loaded = load(
      "  - {name: a, query: 'shared', above: 0.5}\n"
      "  - {name: b, query: 'shared', above: 0.1, baseline: {query: 'base', max_ratio: 2}}\n"
      "  - {name: c, query: 'other', above: 1, baseline: {query: 'base', max_ratio: 2}}\n");
  auto prometheus = std::make_shared<fakes::CountingPrometheus>(0.2);
  promql::Client client(loaded.config.prometheus, prometheus);
  fakes::ManualClock clock;
  const promql::StepGrid grid{kStart, kStep, 40};
  const BacktestRun run = replay_history(loaded.config, grid, client, clock, 20);  // two pieces of 20
  ASSERT_EQ(run.exit_code, kBacktestRan) << run.error;
  EXPECT_EQ(prometheus->counts(), (std::map<std::string, int>{{"base", 2}, {"other", 2}, {"shared", 2}}))
      << "5 slots, 3 distinct range queries, 2 pieces";
  ASSERT_TRUE(run.report);
  ASSERT_EQ(run.report->rules.size(), 3u);
  for (const auto& timeline : run.report->rules) {
    EXPECT_EQ(seconds_in(timeline, RuleState::kOk), 40 * kStep / 1000) << timeline.rule;
    EXPECT_EQ(timeline.evaluations_without_history, 0) << timeline.rule;
  }
}

TEST(BacktestTime, RfcAndUnixSecondsAndGarbage) {
  std::string error;
  EXPECT_EQ(parse_backtest_time("2024-05-01T10:00:00Z", &error), kStart);
  EXPECT_EQ(parse_backtest_time("2024-05-01T12:00:00+02:00", &error), kStart);
  EXPECT_EQ(parse_backtest_time("1714557600", &error), kStart);
  EXPECT_EQ(parse_backtest_time("1714557600.25", &error), kStart + 250);
  EXPECT_EQ(parse_backtest_time("1714557600.2509", &error), kStart + 250);
  for (const char* bad :
       {"", "yesterday", "1714557600.", "17145576OO", "-5", "2024-05-01", "2024-13-01T00:00:00Z", "99999999999999"}) {
    EXPECT_FALSE(parse_backtest_time(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

}  // namespace
}  // namespace rs::sidecar
