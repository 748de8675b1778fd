// RecordKeeper: each observer call and lifecycle record becomes the audit record that
// docs/audit-and-incidents.md documents (read back after stop(), which drains the queue); the
// incident report is written after a finished rollback and rewritten with the verdict; write
// failures are counted, reported to PersistHealth and never thrown; records the disk refused are
// written, in order, once it takes writes again.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sidecar/config/config.h"
#include "sidecar/core/persist_health.h"
#include "sidecar/core/self_metrics.h"
#include "sidecar/core/status_view.h"
#include "sidecar/policy/decision.h"
#include "sidecar/records/incident_report.h"
#include "sidecar/records/record_keeper.h"
#include "tests/e2e/e2e_support.h"  // metric_sum, or_zero
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;
using rs::testing::read_file;
using rs::testing::TempDir;
using rs::testing::wait_until;
using rs::testing::write_file;

// What on_rollback_finished is told about the rules (Engine::status() at the time). The one place
// that builds that argument: when its type changes, only this function does.
// The engine's view at the end of a rollback, with these rules. A RuleView points at its
// RuleConfig, so the configs are kept for the life of the test binary.
StatusView status_for(const std::vector<RuleSnapshot>& rules, DeploymentState state = DeploymentState::kRolledBack) {
  static std::deque<RuleConfig> configs;
  StatusView view;
  view.state = state;
  for (const auto& r : rules) {
    RuleConfig& config = configs.emplace_back();
    config.name = r.name;
    config.threshold = r.threshold;
    config.comparison = r.comparison;
    RuleStatus status;
    status.state = r.state;
    status.value = r.value;
    view.rules.push_back({&config, status, {}});
  }
  return view;
}

const std::vector<RuleSnapshot> kRules = {{"errors", 0.2, 0.05, Comparison::kAbove, RuleState::kFiring},
                                          {"latency", std::nullopt, 0.5, Comparison::kAbove, RuleState::kNoData}};

WallTime at(const std::string& text) {
  WallTime t;
  EXPECT_TRUE(parse_rfc3339(text, &t)) << text;
  return t;
}

Config config_with(const std::string& audit_log, const std::string& incidents_dir) {
  Config c;
  c.deployment.name = "checkout";
  c.deployment.stage = "prod";
  c.deployment.strategy = "canary";
  c.deployment.vars = {{"canary", "v2"}, {"service", "checkout"}};
  c.audit_log = audit_log;
  c.incidents_dir = incidents_dir;
  return c;
}

// A rule's rollback decision as the engine takes it, before the actuators run.
Decision decided(std::uint64_t id = 3) {
  Decision d;
  d.id = id;
  d.kind = DecisionKind::kRollback;
  d.trigger = Trigger::kRule;
  d.rule = "errors";
  d.severity = "sev2";
  d.query = "errors{version=\"v2\"}";
  d.comparison = "above";
  d.value = 0.2;
  d.threshold = 0.05;
  d.for_duration = std::chrono::minutes(5);
  d.first_breach = at("2026-11-22T21:00:00.120Z");
  d.firing_since = at("2026-11-22T21:05:00.130Z");
  d.decided_at = at("2026-11-22T21:05:00.131Z");
  d.reason = "errors 0.2 above 0.05 for 5m";
  d.also_firing = {"latency"};
  return d;
}

// The same decision once the actuators ran.
Decision finished(Decision d, Verification verification = Verification::kNone) {
  d.result = RollbackResult::kSuccess;
  d.actuators = {{"haproxy 127.0.0.1:9999 backend app", StepResult::kChanged, "canary weight 10 -> 0", 2},
                 {"dns checkout.example", StepResult::kNoop, "already on stable", 1}};
  d.completed_at = at("2026-11-22T21:05:01.004Z");
  d.duration_seconds = 0.873;
  d.verification = verification;
  if (verification == Verification::kPending) d.verification_detail = "verifying for up to 5m";
  return d;
}

const std::string kReportName = "20261122T210500Z-checkout-3.md";

std::vector<nlohmann::json> audit_records(const std::string& path) {
  std::vector<nlohmann::json> out;
  const std::string text = read_file(path);
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    out.push_back(nlohmann::json::parse(text.substr(start, end - start), nullptr, false));
  }
  EXPECT_EQ(start, text.size()) << "the file does not end with a complete line:\n" << text;
  return out;
}

// The record without ts and seq (checked on their own), so a test can compare the rest whole.
nlohmann::json body_of(nlohmann::json record) {
  record.erase("ts");
  record.erase("seq");
  return record;
}

std::vector<std::string> events_of(const std::vector<nlohmann::json>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.value("event", "?"));
  return out;
}

// seq 1, 2, 3, ... and a ts like 2026-11-22T21:05:00.131Z on every record.
void expect_numbered(const std::vector<nlohmann::json>& records) {
  for (std::size_t i = 0; i < records.size(); ++i) {
    ASSERT_TRUE(records[i].is_object()) << "line " << i + 1 << " is not a JSON object";
    EXPECT_EQ(records[i]["seq"], i + 1) << records[i].dump();
    const std::string ts = records[i].value("ts", "");
    WallTime parsed;
    EXPECT_TRUE(ts.size() == 24 && ts.back() == 'Z' && parse_rfc3339(ts, &parsed)) << ts;
  }
}

std::vector<std::string> report_files(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

class RecordKeeperTest : public ::testing::Test {
 protected:
  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    return e2e::or_zero(e2e::metric_sum(metrics_.serialize(), name, labels));
  }

  TempDir dir_;
  SelfMetrics metrics_{"test", {"errors", "latency"}, deployment_state_names()};
  PersistHealth health_{metrics_};
};

TEST_F(RecordKeeperTest, StartFailsNamingTheAuditLogPathWhenItCannotBeOpened) {
  const std::string missing_dir = dir_.file("no-such-dir") + "/audit.jsonl";
  const Config missing = config_with(missing_dir, "");
  RecordKeeper keeper(missing, metrics_);
  std::string error;
  EXPECT_FALSE(keeper.start(&error));
  EXPECT_NE(error.find("audit log " + missing_dir + ": cannot open"), std::string::npos) << error;
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;

  // Refused even to root: the "directory" is a regular file.
  write_file(dir_.file("a-file"), "");
  const std::string under_file = dir_.file("a-file") + "/audit.jsonl";
  const Config blocked = config_with(under_file, "");
  RecordKeeper blocked_keeper(blocked, metrics_);
  EXPECT_FALSE(blocked_keeper.start(&error));
  EXPECT_NE(error.find("audit log " + under_file + ": cannot open"), std::string::npos) << error;
  blocked_keeper.stop();  // without a worker: returns at once
}

TEST_F(RecordKeeperTest, LifecycleFreezeAndNotificationRecordsCarryTheDocumentedFields) {
  const Config config = config_with(dir_.file("audit.jsonl"), "");
  RecordKeeper keeper(config, metrics_);
  keeper.set_persist_health(&health_);
  std::string error;
  ASSERT_TRUE(keeper.start(&error)) << error;
  keeper.record_startup("1.2.3", "healthy");
  const nlohmann::json notification = {{"decision_id", 3},    {"notification_id", 9},         {"notifier", "slack"},
                                       {"target", "#ops"},    {"message", "RollbackStarted"}, {"attempt", 2},
                                       {"result", "failure"}, {"detail", "HTTP 503"}};
  keeper.record_notification(notification);
  keeper.on_freeze({true, "black friday", "alice", at("2026-11-22T21:12:40.005Z")});
  keeper.on_freeze({false, "incident over", "bob", at("2026-11-22T21:30:00.000Z")});
  keeper.record_shutdown("rolled_back");
  keeper.stop();

  const auto records = audit_records(config.audit_log);
  ASSERT_EQ(events_of(records),
            (std::vector<std::string>{"startup", "notification", "freeze", "unfreeze", "shutdown"}));
  expect_numbered(records);
  EXPECT_EQ(body_of(records[0]), (nlohmann::json{{"event", "startup"},
                                                 {"version", "1.2.3"},
                                                 {"deployment",
                                                  {{"name", "checkout"},
                                                   {"stage", "prod"},
                                                   {"strategy", "canary"},
                                                   {"vars", {{"canary", "v2"}, {"service", "checkout"}}}}},
                                                 {"identity", config.deployment.identity()},
                                                 {"state", "healthy"},
                                                 {"dry_run", false}}));
  nlohmann::json expected_notification = notification;
  expected_notification["event"] = "notification";
  EXPECT_EQ(body_of(records[1]), expected_notification) << "exactly the dispatcher's fields";
  EXPECT_EQ(
      body_of(records[2]),
      (nlohmann::json{
          {"event", "freeze"}, {"actor", "alice"}, {"reason", "black friday"}, {"since", "2026-11-22T21:12:40.005Z"}}));
  EXPECT_EQ(body_of(records[3]),
            (nlohmann::json{{"event", "unfreeze"}, {"actor", "bob"}, {"reason", "incident over"}}));
  EXPECT_EQ(body_of(records[4]),
            (nlohmann::json{{"event", "shutdown"}, {"reason", "signal"}, {"state", "rolled_back"}}));
  EXPECT_EQ(health_.failing(), "");
  EXPECT_EQ(metric("rollback_sidecar_audit_write_errors_total"), 0);
}

TEST_F(RecordKeeperTest, ARollbackIsRecordedAndItsReportIsRewrittenWithTheVerdict) {
  const std::string incidents = dir_.file("records/incidents");  // created with its parents
  const Config config = config_with(dir_.file("audit.jsonl"), incidents);
  RecordKeeper keeper(config, metrics_);
  keeper.set_persist_health(&health_);
  std::string error;
  ASSERT_TRUE(keeper.start(&error)) << error;

  const Decision decision = decided();
  keeper.on_decision(decision);
  const Decision done = finished(decision, Verification::kPending);
  keeper.on_rollback_finished(done, status_for(kRules));

  const std::string report_path = incidents + "/" + kReportName;
  ASSERT_TRUE(wait_until([&] { return !read_file(incidents + "/latest.md").empty(); }, 5s));
  const std::string first = read_file(report_path);
  EXPECT_EQ(read_file(incidents + "/latest.md"), first);
  EXPECT_NE(first.find("# Incident: rollback of checkout (decision #3)"), std::string::npos) << first;
  EXPECT_NE(first.find("| Result | success |"), std::string::npos) << first;
  EXPECT_NE(first.find("| Verification | pending: verifying for up to 5m |"), std::string::npos) << first;
  EXPECT_NE(first.find("| errors | 0.2 | above | 0.05 | firing |"), std::string::npos)
      << "the rules as the status had them\n"
      << first;
  EXPECT_NE(first.find("| latency | no data | above | 0.5 | nodata |"), std::string::npos) << first;
  EXPECT_NE(first.find("| haproxy 127.0.0.1:9999 backend app | changed | 2 | canary weight 10 -> 0 |"),
            std::string::npos)
      << first;
  EXPECT_EQ(first.find("verification verified"), std::string::npos) << first;

  Decision verified = done;
  verified.verification = Verification::kVerified;
  verified.verification_detail = "stable_errors below 0.01 for 1m";
  keeper.on_verification_finished(verified, at("2026-11-22T21:06:01.010Z"));
  keeper.stop();

  const std::string rewritten = read_file(report_path);
  EXPECT_EQ(read_file(incidents + "/latest.md"), rewritten);
  EXPECT_NE(rewritten.find("| Verification | verified: stable_errors below 0.01 for 1m |"), std::string::npos)
      << rewritten;
  EXPECT_NE(rewritten.find("- `2026-11-22T21:06:01.010Z` verification verified: stable_errors below 0.01 for 1m"),
            std::string::npos)
      << rewritten;
  EXPECT_NE(rewritten.find("| errors | 0.2 | above | 0.05 | firing |"), std::string::npos)
      << "the rewrite keeps the rules as they stood at decision time\n"
      << rewritten;
  EXPECT_EQ(report_files(incidents), (std::vector<std::string>{kReportName, "latest.md"}))
      << "rewritten in place, not duplicated";

  const auto records = audit_records(config.audit_log);
  ASSERT_EQ(events_of(records), (std::vector<std::string>{"decision", "actuator_call", "actuator_call",
                                                          "rollback_completed", "verification", "verification"}));
  expect_numbered(records);
  EXPECT_EQ(body_of(records[0]), (nlohmann::json{{"event", "decision"}, {"decision", to_json(decision)}}))
      << "the decision with all its evidence, as in /api/v1/status";
  EXPECT_EQ(body_of(records[1]), (nlohmann::json{{"event", "actuator_call"},
                                                 {"decision_id", 3},
                                                 {"actuator", "haproxy 127.0.0.1:9999 backend app"},
                                                 {"attempts", 2},
                                                 {"result", "changed"},
                                                 {"detail", "canary weight 10 -> 0"}}));
  EXPECT_EQ(records[2]["actuator"], "dns checkout.example");
  EXPECT_EQ(records[2]["result"], "noop");
  EXPECT_EQ(body_of(records[3]), (nlohmann::json{{"event", "rollback_completed"},
                                                 {"decision_id", 3},
                                                 {"result", "success"},
                                                 {"completed_at", "2026-11-22T21:05:01.004Z"},
                                                 {"duration_seconds", 0.873},
                                                 {"actuators", to_json(done)["actuators"]},
                                                 {"incident_report", report_path}}));
  EXPECT_EQ(
      body_of(records[4]),
      (nlohmann::json{
          {"event", "verification"}, {"decision_id", 3}, {"result", "pending"}, {"detail", "verifying for up to 5m"}}));
  EXPECT_EQ(body_of(records[5]), (nlohmann::json{{"event", "verification"},
                                                 {"decision_id", 3},
                                                 {"result", "verified"},
                                                 {"detail", "stable_errors below 0.01 for 1m"}}));
  EXPECT_EQ(health_.failing(), "");
  EXPECT_EQ(metric("rollback_sidecar_audit_write_errors_total"), 0);
}

// A verdict for a rollback this keeper never saw finish (verified after a restart) still gets its
// report, from the decision alone; without incidents_dir no report is attempted at all.
TEST_F(RecordKeeperTest, AVerdictWithoutAnEarlierReportStillWritesOneAndWithoutIncidentsDirNoneIsWritten) {
  const std::string incidents = dir_.file("incidents");
  {
    const Config config = config_with(dir_.file("audit.jsonl"), incidents);
    RecordKeeper keeper(config, metrics_);
    std::string error;
    ASSERT_TRUE(keeper.start(&error)) << error;
    Decision failed = finished(decided());
    failed.verification = Verification::kFailed;
    failed.verification_detail = "stable unhealthy: stable_errors 0.4";
    keeper.on_verification_finished(failed, at("2026-11-22T21:05:02.000Z"));
    keeper.stop();
    const std::string report = read_file(incidents + "/" + kReportName);
    EXPECT_NE(report.find("| Verification | failed: stable unhealthy: stable_errors 0.4 |"), std::string::npos)
        << report;
    EXPECT_NE(report.find("_no rule values were recorded_"), std::string::npos) << report;
    EXPECT_NE(report.find("verification failed: stable unhealthy"), std::string::npos) << report;
  }
  {
    const Config config = config_with(dir_.file("audit2.jsonl"), "");
    RecordKeeper keeper(config, metrics_);
    std::string error;
    ASSERT_TRUE(keeper.start(&error)) << error;
    keeper.on_rollback_finished(finished(decided(4)), status_for(kRules));
    keeper.stop();
    const auto records = audit_records(config.audit_log);
    ASSERT_EQ(events_of(records), (std::vector<std::string>{"actuator_call", "actuator_call", "rollback_completed"}));
    EXPECT_TRUE(records[2]["incident_report"].is_null()) << records[2].dump();
  }
  EXPECT_EQ(report_files(incidents), (std::vector<std::string>{kReportName, "latest.md"}));
  EXPECT_EQ(metric("rollback_sidecar_audit_write_errors_total"), 0);
}

// /dev/full takes the open and refuses every write (also for root); the incident directory is
// under a regular file, which no one can create. Nothing throws; each refused record and report
// is counted once, every attempt per file, and PersistHealth names both.
TEST_F(RecordKeeperTest, WriteFailuresAreCountedAndReportedNeverThrown) {
  struct stat st {};
  if (::stat("/dev/full", &st) != 0 || !S_ISCHR(st.st_mode)) GTEST_SKIP() << "needs /dev/full";
  write_file(dir_.file("a-file"), "");
  const std::string incidents = dir_.file("a-file") + "/incidents";
  const Config config = config_with("/dev/full", incidents);
  RecordKeeper keeper(config, metrics_);
  keeper.set_persist_health(&health_);
  std::string error;
  ASSERT_TRUE(keeper.start(&error)) << error;

  keeper.on_decision(decided());
  keeper.on_rollback_finished(finished(decided()), status_for(kRules));
  ASSERT_TRUE(wait_until([&] { return metric("rollback_sidecar_audit_write_errors_total") == 5; }, 5s))
      << metrics_.serialize();
  keeper.stop();

  EXPECT_EQ(metric("rollback_sidecar_audit_write_errors_total"), 5)
      << "decision, the two actuator calls and rollback_completed held behind it, and the incident report: "
         "once each, not per retry";
  EXPECT_GE(metric("rollback_sidecar_persist_errors_total", {{"file", "audit"}}), 2) << "every attempt";
  EXPECT_GE(metric("rollback_sidecar_persist_errors_total", {{"file", "incident"}}), 1);
  EXPECT_EQ(metric("rollback_sidecar_persist_errors_total", {{"file", "state"}}), 0);
  const std::string failing = health_.failing();
  EXPECT_NE(failing.find("audit: audit log /dev/full: cannot write: No space left on device"), std::string::npos)
      << failing;
  EXPECT_NE(failing.find("incident: incident report for rollback #3 not written: "), std::string::npos) << failing;
  EXPECT_NE(failing.find(dir_.file("a-file")), std::string::npos) << "names the path: " << failing;
}

// RLIMIT_FSIZE at the audit log's current size: every write past it fails with EFBIG (SIGXFSZ
// ignored), for root too, and the same descriptor writes again once the limit is lifted, as a
// disk that was full does. Process-wide while it lasts, so nothing is asserted (printed) inside.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &old_);
    rlimit limited = old_;
    limited.rlim_cur = bytes;
    active_ = ::setrlimit(RLIMIT_FSIZE, &limited) == 0;
  }
  ~FileSizeLimit() { lift(); }
  bool active() const { return active_; }
  void lift() {
    if (lifted_) return;
    lifted_ = true;
    ::setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit old_{};
  void (*old_handler_)(int) = SIG_DFL;
  bool active_ = false;
  bool lifted_ = false;
};

TEST_F(RecordKeeperTest, RecordsRefusedWhileTheDiskIsFullAreWrittenInOrderOnceItTakesWritesAgain) {
  const std::string incidents = dir_.file("incidents");
  const Config config = config_with(dir_.file("audit.jsonl"), incidents);
  RecordKeeper keeper(config, metrics_);
  keeper.set_persist_health(&health_);
  std::string error;
  ASSERT_TRUE(keeper.start(&error)) << error;
  keeper.record_startup("1.2.3", "healthy");
  ASSERT_TRUE(wait_until([&] { return !read_file(config.audit_log).empty(); }, 5s));

  bool refused = false;
  std::string failing_while_full;
  {
    FileSizeLimit full(read_file(config.audit_log).size());
    ASSERT_TRUE(full.active());
    keeper.on_decision(decided());
    keeper.on_rollback_finished(finished(decided()), status_for(kRules));
    refused = wait_until([&] { return metric("rollback_sidecar_audit_write_errors_total") == 5; }, 5s);
    failing_while_full = health_.failing();
    full.lift();
  }
  ASSERT_TRUE(refused) << metrics_.serialize();
  EXPECT_NE(failing_while_full.find("audit: audit log " + config.audit_log + ": cannot write"), std::string::npos)
      << failing_while_full;
  EXPECT_NE(failing_while_full.find("incident: incident report for rollback #3 not written"), std::string::npos)
      << failing_while_full;
  EXPECT_EQ(audit_records(config.audit_log).size(), 1u) << "only startup got through";

  // The keeper retries every second: within a few, the held records and the report are written.
  ASSERT_TRUE(wait_until([&] { return health_.failing().empty(); }, 5s)) << health_.failing();
  keeper.stop();
  const auto records = audit_records(config.audit_log);
  EXPECT_EQ(events_of(records),
            (std::vector<std::string>{"startup", "decision", "actuator_call", "actuator_call", "rollback_completed"}))
      << "held records keep their order";
  expect_numbered(records);
  if (records.size() == 5) {
    EXPECT_EQ(records[1]["decision"]["id"], 3);
    EXPECT_TRUE(records[4]["incident_report"].is_null()) << "the report had not been written when it completed";
  }
  EXPECT_NE(read_file(incidents + "/" + kReportName).find("| Result | success |"), std::string::npos);
  EXPECT_EQ(read_file(incidents + "/latest.md"), read_file(incidents + "/" + kReportName));
  EXPECT_EQ(report_files(incidents), (std::vector<std::string>{kReportName, "latest.md"})) << "no temp file left";
  EXPECT_EQ(metric("rollback_sidecar_audit_write_errors_total"), 5) << "retries are not counted again";
}

}  // namespace
}  // namespace rs::sidecar
