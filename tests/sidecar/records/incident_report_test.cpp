#include "sidecar/records/incident_report.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using rs::testing::read_file;
using rs::testing::TempDir;
using rs::testing::write_file;

WallTime at(const std::string& text) {
  WallTime t;
  EXPECT_TRUE(parse_rfc3339(text, &t)) << text;
  return t;
}

IncidentFacts sample_facts() {
  IncidentFacts f;
  f.deployment.name = "checkout";
  f.deployment.stage = "prod";
  f.deployment.strategy = "canary";
  f.deployment.vars = {{"service", "checkout"}, {"canary", "v2"}, {"stable", "v1"}};
  Decision& d = f.decision;
  d.id = 7;
  d.kind = DecisionKind::kRollback;
  d.trigger = Trigger::kRule;
  d.rule = "error-rate";
  d.severity = "sev2";
  d.query =
      R"(sum(rate(http_requests_total{service="checkout",code=~"5.."}[1m])) / sum(rate(http_requests_total{service="checkout"}[1m])))";
  d.comparison = "above";
  d.value = 0.0731;
  d.threshold = 0.02;
  d.for_duration = std::chrono::minutes(5);
  d.first_breach = at("2026-11-22T21:00:00.000Z");
  d.firing_since = at("2026-11-22T21:05:00.000Z");
  d.decided_at = at("2026-11-22T21:05:00.500Z");
  d.reason = "error-rate 0.0731 above 0.02 for 5m";
  d.result = RollbackResult::kSuccess;
  d.actuators = {
      {"haproxy 127.0.0.1:9999 backend app", StepResult::kChanged, "weights canary 0|stable 100\nverified", 2}};
  d.completed_at = at("2026-11-22T21:05:01.750Z");
  d.duration_seconds = 1.2;
  f.rules = {{"error-rate", 0.0731, 0.02, Comparison::kAbove, RuleState::kFiring},
             {"p95|latency", 0.25, 0.5, Comparison::kAbove, RuleState::kOk},
             {"health", std::nullopt, 0.99, Comparison::kBelow, RuleState::kNoData}};
  f.timeline = {{at("2026-11-22T21:05:01.750Z"), "rollback completed: success"},
                {at("2026-11-22T21:00:00.000Z"), "error-rate first breached its threshold"},
                {at("2026-11-22T21:05:00.500Z"), "decision #7: rollback"},
                {at("2026-11-22T21:05:01.900Z"), "notification slack:\nsent"}};
  return f;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(IncidentReport, HasTitleAndEveryHeading) {
  const std::string md = render_incident_report(sample_facts());
  EXPECT_EQ(md.rfind("# Incident: rollback of checkout (decision #7)\n", 0), 0u) << md;
  std::size_t last = 0;
  for (const char* heading :
       {"## Summary", "## Impact", "## Timeline", "## Actuators", "## Root cause", "## Action items"}) {
    auto pos = md.find(std::string("\n") + heading + "\n");
    ASSERT_NE(pos, std::string::npos) << heading << "\n" << md;
    EXPECT_GT(pos, last) << heading << " out of order";
    last = pos;
  }
  const auto root = md.find("## Root cause");
  EXPECT_TRUE(contains(md.substr(root), "_to be filled in by the incident owner_"));
  EXPECT_TRUE(contains(md.substr(md.find("## Action items")), "_to be filled in by the incident owner_"));
}

TEST(IncidentReport, SummaryHasRfc3339TimesAndDurations) {
  const std::string md = render_incident_report(sample_facts());
  EXPECT_TRUE(contains(md, "| Deployment | checkout |")) << md;
  EXPECT_TRUE(contains(md, "| Stage | prod |"));
  EXPECT_TRUE(contains(md, "| Strategy | canary |"));
  EXPECT_TRUE(contains(md, "| Version (vars) | canary=v2, service=checkout, stable=v1 |"));
  EXPECT_TRUE(contains(md, "| Trigger | rule |"));
  EXPECT_TRUE(contains(md, "| Rule | error-rate |"));
  EXPECT_TRUE(contains(md, "| Severity | sev2 |"));
  EXPECT_TRUE(contains(md, "| Incident start (first breach) | 2026-11-22T21:00:00.000Z |"));
  EXPECT_TRUE(contains(md, "| Rollback initiated | 2026-11-22T21:05:00.500Z |"));
  EXPECT_TRUE(contains(md, "| Rollback completed | 2026-11-22T21:05:01.750Z |"));
  // 21:00:00.000 -> 21:05:01.750
  EXPECT_TRUE(contains(md, "| Total duration (first breach → completed) | 5m 1.750s (301.750 s) |")) << md;
  // The measured (monotonic) duration wins over the wall-clock difference.
  EXPECT_TRUE(contains(md, "| Rollback duration (initiated → verified) | 1.200s |")) << md;
  EXPECT_TRUE(contains(md, "| Result | success |"));
  EXPECT_FALSE(contains(md, "| Verification |")) << "no row when verification is not configured";
}

TEST(IncidentReport, VerificationIsShownWhenConfigured) {
  IncidentFacts f = sample_facts();
  f.decision.verification = Verification::kVerified;
  f.decision.verification_detail = "stable healthy for 2m | 0 errors";
  const std::string md = render_incident_report(f);
  EXPECT_TRUE(contains(md, "| Verification | verified: stable healthy for 2m \\| 0 errors |")) << md;
}

TEST(IncidentReport, RollbackDurationFallsBackToWallClockAndHoursAreSpelledOut) {
  IncidentFacts f = sample_facts();
  f.decision.duration_seconds.reset();
  f.decision.first_breach = at("2026-11-22T19:04:59.250Z");
  const std::string md = render_incident_report(f);
  EXPECT_TRUE(contains(md, "| Rollback duration (initiated → verified) | 1.250s |")) << md;
  EXPECT_TRUE(contains(md, "| Total duration (first breach → completed) | 2h 0m 2.500s (7202.500 s) |")) << md;
}

TEST(IncidentReport, ImpactShowsValueThresholdQueryAndEveryRule) {
  const IncidentFacts f = sample_facts();
  const std::string md = render_incident_report(f);
  const std::string impact = md.substr(md.find("## Impact"), md.find("## Timeline") - md.find("## Impact"));
  EXPECT_TRUE(contains(
      impact, "**error-rate** was `0.0731` at decision time; it breaches when above `0.02` (`for` 5m, `delay` 0s)."))
      << impact;
  EXPECT_TRUE(contains(impact, "```promql\n" + f.decision.query + "\n```\n")) << impact;
  EXPECT_TRUE(contains(impact, "| Rule | Value | Comparison | Threshold | State |"));
  EXPECT_TRUE(contains(impact, "| error-rate | 0.0731 | above | 0.02 | firing |")) << impact;
  EXPECT_TRUE(contains(impact, "| p95\\|latency | 0.25 | above | 0.5 | ok |")) << impact;
  EXPECT_TRUE(contains(impact, "| health | no data | below | 0.99 | nodata |")) << impact;
}

TEST(IncidentReport, TimelineIsChronologicalWithRfc3339Times) {
  const std::string md = render_incident_report(sample_facts());
  const std::string timeline = md.substr(md.find("## Timeline"), md.find("## Actuators") - md.find("## Timeline"));
  const std::regex entry(R"(- `(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)` (.*))");
  std::vector<std::string> times, texts;
  for (const auto& line : lines_of(timeline)) {
    std::smatch m;
    if (std::regex_match(line, m, entry)) {
      times.push_back(m[1]);
      texts.push_back(m[2]);
    }
  }
  ASSERT_EQ(times.size(), 4u) << timeline;
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end())) << timeline;
  EXPECT_EQ(texts.front(), "error-rate first breached its threshold");
  EXPECT_EQ(texts.back(), "notification slack: sent") << "newlines are flattened";
}

TEST(IncidentReport, EmptyTimelineUsesTheDecisionsMilestones) {
  IncidentFacts f = sample_facts();
  f.timeline.clear();
  const std::string md = render_incident_report(f);
  EXPECT_TRUE(contains(md, "- `2026-11-22T21:00:00.000Z` rule error-rate first breached its threshold")) << md;
  EXPECT_TRUE(contains(md, "- `2026-11-22T21:05:00.000Z` rule error-rate firing")) << md;
  EXPECT_TRUE(contains(md, "- `2026-11-22T21:05:00.500Z` decision #7 (rollback, trigger rule)")) << md;
  EXPECT_TRUE(contains(md, "- `2026-11-22T21:05:01.750Z` rollback completed: success")) << md;
}

TEST(IncidentReport, ActuatorCellsEscapePipesAndNewlines) {
  const std::string md = render_incident_report(sample_facts());
  EXPECT_TRUE(contains(md, "| Actuator | Result | Attempts | Detail |"));
  EXPECT_TRUE(
      contains(md, "| haproxy 127.0.0.1:9999 backend app | changed | 2 | weights canary 0\\|stable 100<br>verified |"))
      << md;
  // Every table row has the same number of unescaped separators as its header.
  for (const auto& line : lines_of(md)) {
    if (line.rfind("| haproxy", 0) == 0) {
      int pipes = 0;
      for (std::size_t i = 0; i < line.size(); ++i) pipes += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
      EXPECT_EQ(pipes, 5) << line;
    }
  }
}

TEST(IncidentReport, AlertTriggerShowsTheAlertAndItsEvidence) {
  IncidentFacts f = sample_facts();
  Decision& d = f.decision;
  d.trigger = Trigger::kAlert;
  d.rule = "CheckoutHighErrorRate";
  d.query.clear();
  d.value.reset();
  d.comparison.clear();
  d.for_duration = Duration{0};
  d.firing_since.reset();
  d.details = {{"labels", {{"alertname", "CheckoutHighErrorRate"}, {"severity", "sev2"}}},
               {"generatorURL", "http://prometheus:9090/graph?g0.expr=x"}};
  const std::string md = render_incident_report(f);
  EXPECT_TRUE(contains(md, "| Alert | CheckoutHighErrorRate |")) << md;
  EXPECT_TRUE(
      contains(md, "Alertmanager alert **CheckoutHighErrorRate** (severity sev2) fired at 2026-11-22T21:00:00.000Z"))
      << md;
  EXPECT_TRUE(contains(md, "```json\n")) << md;
  EXPECT_TRUE(contains(md, "\"generatorURL\": \"http://prometheus:9090/graph?g0.expr=x\"")) << md;
  EXPECT_FALSE(contains(md, "```promql"));
}

TEST(IncidentReport, ManualTriggerWithoutBreachOrCompletion) {
  IncidentFacts f = sample_facts();
  Decision& d = f.decision;
  d.trigger = Trigger::kManual;
  d.rule = "manual";
  d.query.clear();
  d.value.reset();
  d.comparison.clear();
  d.first_breach.reset();
  d.firing_since.reset();
  d.completed_at.reset();
  d.duration_seconds.reset();
  d.result = RollbackResult::kRunning;
  d.actuators.clear();
  d.details = {{"actor", "alice"}};
  const std::string md = render_incident_report(f);
  EXPECT_TRUE(contains(md, "| Incident start (first breach) | — |")) << md;
  EXPECT_TRUE(contains(md, "| Rollback completed | — |"));
  EXPECT_TRUE(contains(md, "| Total duration (first breach → completed) | — |"));
  EXPECT_TRUE(contains(md, "| Result | in progress |"));
  EXPECT_TRUE(contains(md, "Manual rollback requested by **alice**."));
  EXPECT_TRUE(contains(md, "_no actuator ran_"));
}

TEST(IncidentReport, QueryWithBackticksGetsALongerFence) {
  IncidentFacts f = sample_facts();
  f.decision.query = "up ``` weird";
  const std::string md = render_incident_report(f);
  EXPECT_TRUE(contains(md, "````promql\nup ``` weird\n````\n")) << md;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  while (d) {
    struct dirent* e = readdir(d);
    if (!e) break;
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  if (d) closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(IncidentReport, WritesNamedReportAndLatestCopy) {
  TempDir tmp;
  const std::string dir = tmp.file("incidents/checkout");  // created when missing
  IncidentFacts first = sample_facts();
  std::string path, error;
  ASSERT_TRUE(write_incident_report(dir, first, &path, &error)) << error;
  EXPECT_EQ(path, dir + "/20261122T210500Z-checkout-7.md");
  EXPECT_EQ(read_file(path), render_incident_report(first));
  EXPECT_EQ(read_file(dir + "/latest.md"), read_file(path));

  IncidentFacts second = sample_facts();
  second.deployment.name = "check out/v2";  // unsafe characters in the file name
  second.decision.id = 8;
  second.decision.decided_at = at("2026-11-23T08:15:42.999Z");
  std::string second_path;
  ASSERT_TRUE(write_incident_report(dir, second, &second_path, &error)) << error;
  EXPECT_EQ(second_path, dir + "/20261123T081542Z-check_out_v2-8.md");
  EXPECT_EQ(read_file(dir + "/latest.md"), render_incident_report(second));

  // Re-writing the older report (a restart re-verified it) replaces it but keeps latest.md newest.
  first.decision.result = RollbackResult::kNoop;
  ASSERT_TRUE(write_incident_report(dir, first, &path, &error)) << error;
  EXPECT_EQ(read_file(path), render_incident_report(first));
  EXPECT_EQ(read_file(dir + "/latest.md"), render_incident_report(second));

  EXPECT_EQ(entries(dir), (std::vector<std::string>{"20261122T210500Z-checkout-7.md",
                                                    "20261123T081542Z-check_out_v2-8.md", "latest.md"}))
      << "no temp files left behind";
}

TEST(IncidentReport, WriteErrorNamesThePath) {
  TempDir tmp;
  write_file(tmp.file("not-a-dir"), "x");
  std::string path, error;
  EXPECT_FALSE(write_incident_report(tmp.file("not-a-dir"), sample_facts(), &path, &error));
  EXPECT_NE(error.find(tmp.file("not-a-dir")), std::string::npos) << error;
  EXPECT_TRUE(path.empty());
}

}  // namespace
}  // namespace rs::sidecar
