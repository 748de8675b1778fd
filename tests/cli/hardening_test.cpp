// The running binary under faults an SRE meets (issue #15): a full disk under the state file,
// audit log, incident reports and outbox; SIGHUP.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <cstring>
#include <fstream>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string kToken = "s3cret-token-value-9c1d";

// A 64 KiB tmpfs mounted for the test (root only; the test is skipped where mount is refused),
// filled up to the last block so every write fails with ENOSPC until free() removes the filler.
class FullDisk {
 public:
  explicit FullDisk(const std::string& path) : path_(path) {
    ::mkdir(path_.c_str(), 0755);
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, "size=64k") != 0) {
      why_ = std::string("mount -t tmpfs: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
    fill();
  }
  ~FullDisk() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& why() const { return why_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void fill() {
    std::ofstream out(file("filler"), std::ios::binary | std::ios::app);
    const std::string block(4096, 'x');
    for (int i = 0; i < 64 && out; ++i) out.write(block.data(), static_cast<std::streamsize>(block.size()));
  }
  void free() { ::unlink(file("filler").c_str()); }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string why_;
};

// An RFC 3339 UTC time `offset` from now (whole seconds).
std::string rfc3339_from_now(std::chrono::seconds offset) {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + offset);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string firing_alert(const std::string& fingerprint, const std::string& starts_at) {
  nlohmann::json alert = {{"status", "firing"},
                          {"labels", {{"alertname", "CheckoutErrors"}, {"severity", "sev1"}, {"service", "checkout"}}},
                          {"annotations", {{"summary", "5xx above 5%"}}},
                          {"startsAt", starts_at},
                          {"endsAt", "0001-01-01T00:00:00Z"},
                          {"generatorURL", "http://prometheus/graph?g0.expr=x"},
                          {"fingerprint", fingerprint}};
  return nlohmann::json{{"version", "4"}, {"status", "firing"}, {"receiver", "sidecar"}, {"alerts", {alert}}}.dump();
}

class HardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prometheus_.set_route("/api/v1/query", 200, vector_reply("0.001"));
    write_file(dir_.file("token"), kToken + "\n");
    write_file(dir_.file("rollback.sh"),
               "#!/bin/sh\necho \"$ROLLBACK_TRIGGER $ROLLBACK_RULE\" >> " + dir_.file("calls") + "\n");
    ::chmod(dir_.file("rollback.sh").c_str(), 0755);
    port_ = free_port();
    base_ = "http://127.0.0.1:" + std::to_string(port_);
  }

  void start(const std::string& files) {
    write_file(
        dir_.file("config.yml"),
        "prometheus: {url: " + prometheus_.url() +
            "}\n"
            "listen: 127.0.0.1:" +
            std::to_string(port_) +
            "\n"
            "evaluation_interval: 200ms\n"
            "deployment: {name: checkout, stage: prod, strategy: canary, vars: {service: checkout, canary: v2}}\n"
            "rules:\n"
            "  - {name: error-rate, query: 'errors{version=\"{{canary}}\"}', above: 0.05, for: 1s}\n"
            "actuators:\n"
            "  - {type: exec, command: [" +
            dir_.file("rollback.sh") +
            "]}\n"
            "api: {bearer_token_file: " +
            dir_.file("token") + "}\n" + files);
    sidecar_ = std::make_unique<Process>(std::vector<std::string>{kSidecarBinary, "--config", dir_.file("config.yml")},
                                         dir_.file("sidecar.log"));
    std::string why;
    ASSERT_TRUE(wait_http_ok(base_ + "/healthz", 10s, &why)) << why << "\n" << sidecar_->log();
  }

  double metric(const std::string& series) { return metric_value(http_get(base_ + "/metrics").body, series); }
  nlohmann::json status() { return nlohmann::json::parse(http_get(base_ + "/api/v1/status").body); }

  TempDir dir_;
  FakeHttpServer prometheus_;
  int port_ = 0;
  std::string base_;
  std::unique_ptr<Process> sidecar_;
};

TEST_F(HardeningTest, AFullDiskHoldsTheLatchFailsReadinessAndIsWrittenWhenSpaceReturns) {
  FullDisk disk(dir_.file("disk"));
  if (!disk.mounted()) GTEST_SKIP() << "needs a tmpfs mount (root): " << disk.why();
  start("state_file: " + disk.file("state.json") +
        "\n"
        "audit_log: " +
        disk.file("audit.jsonl") +
        "\n"
        "incidents_dir: " +
        disk.file("incidents") + "\n");
  ASSERT_TRUE(wait_until([&] { return status()["evaluations"].get<int>() > 0; }, 10s)) << sidecar_->log();

  HttpResult r = http_request("POST", base_ + "/api/v1/rollback", R"({"reason": "disk test", "actor": "sre"})",
                              {"Content-Type: application/json", "Authorization: Bearer " + kToken});
  ASSERT_EQ(r.status, 202) << r.body;
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rolled_back"; }, 10s)) << sidecar_->log();
  EXPECT_EQ(read_file(dir_.file("calls")), "manual manual\n");

  // The disk refuses the state, the audit records and the incident report: counted, and /readyz
  // says which file and why.
  ASSERT_TRUE(wait_until([&] { return metric("rollback_sidecar_persist_errors_total{file=\"incident\"}") >= 1; }, 10s))
      << http_get(base_ + "/metrics").body;
  EXPECT_GE(metric("rollback_sidecar_persist_errors_total{file=\"state\"}"), 1);
  EXPECT_GE(metric("rollback_sidecar_persist_errors_total{file=\"audit\"}"), 1);
  HttpResult ready = http_get(base_ + "/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_NE(ready.body.find("state file " + disk.file("state.json")), std::string::npos) << ready.body;
  EXPECT_NE(ready.body.find("No space left on device"), std::string::npos) << ready.body;
  const double errors = metric("rollback_sidecar_persist_errors_total{file=\"state\"}");
  ASSERT_TRUE(wait_until([&] { return metric("rollback_sidecar_persist_errors_total{file=\"state\"}") > errors; }, 5s))
      << "the pending state write is retried at every tick";
  ::usleep(600 * 1000);  // a few more failing ticks: the log must still say it once
  {
    const std::string log = sidecar_->log();
    std::size_t said = 0;
    for (auto at = log.find("the state file is retried"); at != std::string::npos;
         at = log.find("the state file is retried", at + 1)) {
      ++said;
    }
    EXPECT_EQ(said, 1u) << "a failing state write is logged once, not per tick:\n" << log;
  }

  disk.free();  // space returns: the state is written at the next tick, the held records follow
  ASSERT_TRUE(
      wait_until([&] { return read_file(disk.file("state.json")).find("\"rolled_back\"") != std::string::npos; }, 10s))
      << sidecar_->log();
  ASSERT_TRUE(wait_until([&] { return http_get(base_ + "/readyz").status == 200; }, 10s))
      << http_get(base_ + "/readyz").body << "\n"
      << sidecar_->log();
  EXPECT_TRUE(wait_until(
      [&] { return read_file(disk.file("audit.jsonl")).find("\"rollback_completed\"") != std::string::npos; }, 5s))
      << "audit records held during the full disk are written when it has space again";
  EXPECT_TRUE(wait_until([&] { return !read_file(disk.file("incidents/latest.md")).empty(); }, 5s));
  EXPECT_NE(sidecar_->log().find("state file written again"), std::string::npos) << sidecar_->log();

  // A restart neither repeats nor forgets the rollback.
  sidecar_->stop();
  start("state_file: " + disk.file("state.json") +
        "\n"
        "audit_log: " +
        disk.file("audit.jsonl") +
        "\n"
        "incidents_dir: " +
        disk.file("incidents") + "\n");
  ASSERT_TRUE(wait_until([&] { return status()["evaluations"].get<int>() > 2; }, 10s)) << sidecar_->log();
  EXPECT_EQ(status()["state"], "rolled_back");
  EXPECT_EQ(read_file(dir_.file("calls")), "manual manual\n") << "the actuator ran exactly once over the whole run";
}

TEST_F(HardeningTest, SighupIsLoggedAndTheSidecarKeepsRunning) {
  start("state_file: " + dir_.file("state.json") + "\n");
  ASSERT_EQ(::kill(sidecar_->pid(), SIGHUP), 0);
  ASSERT_TRUE(wait_until(
      [&] { return sidecar_->log().find("SIGHUP: configuration reload is not supported") != std::string::npos; }, 5s))
      << sidecar_->log();
  ::usleep(300 * 1000);
  EXPECT_TRUE(sidecar_->alive()) << sidecar_->log();
  EXPECT_EQ(http_get(base_ + "/healthz").status, 200);
  ASSERT_EQ(::kill(sidecar_->pid(), SIGHUP), 0);  // and again: not a one-shot
  ::usleep(300 * 1000);
  EXPECT_TRUE(sidecar_->alive());
  EXPECT_EQ(http_get(base_ + "/healthz").status, 200);
  const int status = sidecar_->stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "SIGTERM still stops it cleanly: " << status;
  EXPECT_NE(sidecar_->log().find("received SIGTERM, stopping"), std::string::npos) << sidecar_->log();
}

// The state file holds an earlier deployment (canary v1); this one (v2) begins when the sidecar
// first sees it. An alert that started before is about v1: no rollback, counted, logged. An alert
// acted on is a duplicate when Alertmanager re-sends it after a restart.
TEST_F(HardeningTest, AStaleAlertDoesNotRollBackANewDeploymentAndAResendAfterARestartIsADuplicate) {
  write_file(
      dir_.file("state.json"),
      R"({"version": 1, "identity": "name=checkout;stage=prod;strategy=canary;canary=v1;service=checkout", "state": "rolled_back",)"
      R"( "last_decision": null, "freeze": null, "promotion": null})"
      "\n");
  const std::string files = "state_file: " + dir_.file("state.json") +
                            "\n"
                            "alerts: {match: {severity: 'sev1|sev2', service: '{{service}}'}}\n";
  auto post = [&](const std::string& body) {
    HttpResult r = http_request("POST", base_ + "/api/v1/alerts", body,
                                {"Content-Type: application/json", "Authorization: Bearer " + kToken});
    EXPECT_EQ(r.status, 200) << r.body;
    return nlohmann::json::parse(r.body)["alerts"][0]["result"].get<std::string>();
  };
  const std::string before = rfc3339_from_now(-std::chrono::seconds(3600));
  start(files);
  EXPECT_EQ(status()["state"], "healthy") << "a new deployment starts healthy";
  EXPECT_EQ(post(firing_alert("fp-old", before)), "ignored_stale");
  EXPECT_EQ(metric("rollback_sidecar_alerts_received_total{result=\"ignored_stale\"}"), 1);
  EXPECT_NE(sidecar_->log().find("alert CheckoutErrors started at " + before + ", before deployment checkout began at"),
            std::string::npos)
      << sidecar_->log();
  ::usleep(500 * 1000);
  EXPECT_EQ(read_file(dir_.file("calls")), "") << "a stale alert never rolls the new deployment back";
  EXPECT_EQ(status()["state"], "healthy");

  const std::string during = rfc3339_from_now(std::chrono::seconds(1));
  EXPECT_EQ(post(firing_alert("fp-new", during)), "matched");
  ASSERT_TRUE(wait_until([&] { return status()["state"] == "rolled_back"; }, 10s)) << sidecar_->log();

  sidecar_->stop();
  start(files);
  EXPECT_EQ(post(firing_alert("fp-new", during)), "duplicate") << "the seen keys survive the restart";
  EXPECT_EQ(post(firing_alert("fp-old", before)), "ignored_stale") << "the deployment's start survives the restart";
  EXPECT_EQ(read_file(dir_.file("calls")), "alert CheckoutErrors\n") << "acted on exactly once";
}

}  // namespace
}  // namespace rs::testing
