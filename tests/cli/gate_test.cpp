// `rollback-sidecar gate` as a pipeline runs it, against a real Prometheus scraping real
// demo-workload canaries: v2 healthy, v3 with an injected 50 % error fault, v4 with no traffic at
// all. One environment is shared by the suite (each canary is its own scenario, so no test waits
// for another's fault to wear off); each test has its own state file and router file.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>

#include "tests/cli/cli_support.h"
#include "tests/e2e/e2e_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

using rs::e2e::kWorkloadBinary;
using rs::e2e::tail;
using rs::e2e::Workload;

struct GateRun {
  int exit_code = -1;  // -1: did not exit in time, or killed by a signal
  std::string output;  // stdout + stderr
  double seconds = 0;
};

class GateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (find_binary("prometheus").empty()) {
      skip_reason_ = "prometheus not installed (scripts/install-deps.sh)";
      return;
    }
    shared_ = std::make_unique<TempDir>();
    healthy_ = std::make_unique<Workload>(*shared_, "v2");
    faulty_ = std::make_unique<Workload>(*shared_, "v3");
    auto fault = faulty_->fault("error_ratio=0.5");
    if (fault.status != 200) throw std::runtime_error("fault injection failed: " + fault.body + fault.error);
    for (Workload* w : {healthy_.get(), faulty_.get()}) {
      loads_.push_back(
          std::make_unique<Process>(std::vector<std::string>{kWorkloadBinary, "load", "--url", w->url() + "/", "--rate",
                                                             "20", "--concurrency", "4", "--report-interval", "5s"},
                                    shared_->file("load-" + w->version() + ".log")));
    }
    PrometheusServer::Options options;
    options.scrape_interval = "1s";
    options.extra_scrape_configs =
        "  - job_name: demo\n"
        "    static_configs:\n"
        "      - targets: ['" +
        healthy_->address() +
        "']\n"
        "        labels: {service: demo, version: v2}\n"
        "      - targets: ['" +
        faulty_->address() +
        "']\n"
        "        labels: {service: demo, version: v3}\n";
    prometheus_ = std::make_unique<PrometheusServer>(options);
    prometheus_->start();
    // Rates need two scrapes of traffic: wait until both canaries' error rates are there and
    // the faulty one is clearly breaching.
    const bool ready = wait_until(
        [] {
          const std::string ok = prometheus_->query_value(error_rate_query("v2"));
          const std::string bad = prometheus_->query_value(error_rate_query("v3"));
          return !ok.empty() && !bad.empty() && std::stod(bad) > 0.2;
        },
        45s, 250ms);
    if (!ready)
      throw std::runtime_error("Prometheus never had both canaries' error rates; log:\n" + tail(prometheus_->log()));
  }

  static void TearDownTestSuite() {
    loads_.clear();
    prometheus_.reset();
    healthy_.reset();
    faulty_.reset();
    shared_.reset();
  }

  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_EQ(access(kSidecarBinary.c_str(), X_OK), 0) << kSidecarBinary << " missing: build rollback-sidecar";
    write_file(router_, "CANARY_WEIGHT=50\n");
  }

  // 5xx ratio of one version; `or vector(0)` so a canary without errors reads 0, not "no data",
  // while a canary without any traffic still has no data.
  static std::string error_rate_query(const std::string& version) {
    return "(sum(rate(http_requests_total{service=\"demo\",version=\"" + version +
           "\",code=~\"5..\"}[5s])) or vector(0)) / sum(rate(http_requests_total{service=\"demo\",version=\"" +
           version + "\"}[5s]))";
  }

  std::string config(const std::string& canary, const std::string& prometheus_url = "") {
    return "prometheus: {url: '" + (prometheus_url.empty() ? prometheus_->url() : prometheus_url) +
           "', timeout: 900ms}\n"
           "listen: 127.0.0.1:" +
           std::to_string(free_port()) +
           "\n"
           "evaluation_interval: 1s\n"
           "deployment: {name: checkout, stage: canary, strategy: canary, vars: {service: demo, canary: " +
           canary +
           "}}\n"
           "state_file: " +
           dir_.file("state.json") +
           "\n"
           "rollback: {deadline: 5s, initial_backoff: 100ms, max_backoff: 1s}\n"
           "rules:\n"
           "  - name: error-rate\n"
           "    query: >-\n"
           "      (sum(rate(http_requests_total{service=\"{{service}}\",version=\"{{canary}}\",code=~\"5..\"}[5s]))\n"
           "      or vector(0)) / sum(rate(http_requests_total{service=\"{{service}}\",version=\"{{canary}}\"}[5s]))\n"
           "    above: 0.05\n"
           "    for: 2s\n"
           "    severity: sev1\n"
           "  - name: latency-p95\n"
           "    query: >-\n"
           "      histogram_quantile(0.95, sum by (le)\n"
           "      (rate(http_request_duration_seconds_bucket{version=\"{{canary}}\"}[5s])))\n"
           "    above: 0.5\n"
           "    for: 2s\n"
           "actuators:\n"
           "  - type: file\n"
           "    path: " +
           router_ +
           "\n"
           "    content: \"CANARY_WEIGHT={{canary_weight}}\\n\"\n";
  }

  std::string write_config(const std::string& text) {
    const std::string path = dir_.file("gate-" + std::to_string(++configs_) + ".yml");
    write_file(path, text);
    return path;
  }

  Process* start_gate(const std::vector<std::string>& args, std::map<std::string, std::string> env = {}) {
    std::vector<std::string> argv{kSidecarBinary, "gate"};
    argv.insert(argv.end(), args.begin(), args.end());
    log_ = dir_.file("gate-run-" + std::to_string(++runs_) + ".log");
    started_ = std::chrono::steady_clock::now();
    process_ = std::make_unique<Process>(argv, log_, std::move(env));
    return process_.get();
  }

  GateRun finish(std::chrono::milliseconds timeout = 30s) {
    const int status = process_->wait_exit(timeout);
    GateRun r;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    r.exit_code = status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.output = read_file(log_);
    return r;
  }

  GateRun gate(const std::vector<std::string>& args, std::map<std::string, std::string> env = {}) {
    start_gate(args, std::move(env));
    return finish();
  }

  // Parses a JUnit file with python3's xml.etree (a real XML parser); returns one line per
  // testcase "name result message", or "PARSE ERROR ..." / "".
  static std::string junit_cases(const std::string& path) {
    TempDir tmp;
    const std::string script = tmp.file("junit.py");
    write_file(script,
               "import sys, xml.etree.ElementTree as ET\n"
               "root = ET.parse(sys.argv[1]).getroot()\n"
               "assert root.tag == 'testsuites', root.tag\n"
               "for case in root.iter('testcase'):\n"
               "    kind = 'passed'\n"
               "    message = ''\n"
               "    for child in case:\n"
               "        if child.tag in ('failure', 'error', 'skipped'):\n"
               "            kind = child.tag\n"
               "            message = child.get('message', '') + ' || ' + (child.text or '')\n"
               "    print(case.get('name'), kind, message.replace('\\n', ' / '))\n");
    Process python({"/usr/bin/python3", script, path}, tmp.file("out.log"));
    const int status = python.wait_exit(20s);
    const std::string out = read_file(tmp.file("out.log"));
    if (!(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)) return "PARSE ERROR " + out;
    return out;
  }

  void TearDown() override {
    if (HasFailure() && !log_.empty()) std::cerr << "---- gate output\n" << tail(read_file(log_), 6000) << "\n";
  }

  static inline std::unique_ptr<TempDir> shared_;
  static inline std::unique_ptr<Workload> healthy_, faulty_;
  static inline std::vector<std::unique_ptr<Process>> loads_;
  static inline std::unique_ptr<PrometheusServer> prometheus_;
  static inline std::string skip_reason_;

  TempDir dir_;
  const std::string router_ = dir_.file("router.env");
  std::unique_ptr<Process> process_;
  std::string log_;
  std::chrono::steady_clock::time_point started_;
  int configs_ = 0, runs_ = 0;
};

TEST_F(GateTest, HealthyCanaryPassesAfterTheBakeTime) {
  const std::string json = dir_.file("gate.json"), junit = dir_.file("gate.xml");
  GateRun r = gate({"--config", write_config(config("v2")), "--bake", "4s", "--json", json, "--junit", junit});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GE(r.seconds, 4.0) << "the whole bake time is judged";
  EXPECT_LT(r.seconds, 12.0);
  EXPECT_NE(r.output.find("gate: PASS: no rule fired in 4s"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("error-rate 0 (above 0.05) ok"), std::string::npos) << "one live line per evaluation\n"
                                                                              << r.output;
  EXPECT_EQ(read_file(router_), "CANARY_WEIGHT=50\n") << "a pass changes nothing";
  auto j = nlohmann::json::parse(read_file(json), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << read_file(json);
  EXPECT_EQ(j["verdict"], "pass");
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_FALSE(j.contains("decision"));
  ASSERT_EQ(j["rules"].size(), 2u);
  EXPECT_EQ(j["rules"][0]["name"], "error-rate");
  EXPECT_EQ(j["rules"][0]["result"], "passed");
  EXPECT_GE(j["evaluations"].get<int>(), 4);
  const std::string cases = junit_cases(junit);
  EXPECT_NE(cases.find("error-rate passed"), std::string::npos) << cases;
  EXPECT_NE(cases.find("latency-p95 passed"), std::string::npos) << cases;
}

TEST_F(GateTest, ErrorFaultFailsWithinForAndRollsTheRouterBack) {
  const std::string json = dir_.file("gate.json"), junit = dir_.file("gate.xml"), summary = dir_.file("summary.md");
  GateRun r = gate({"--config", write_config(config("v3")), "--bake", "30s", "--json", json, "--junit", junit},
                   {{"GITHUB_STEP_SUMMARY", summary}});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  // for 2s at a 1 s interval: fires at the third breaching evaluation, long before the 30 s bake.
  EXPECT_LT(r.seconds, 2.0 + 3.0) << "fail within the rule's for + an interval or two";
  EXPECT_NE(r.output.find("gate: FAIL: rule error-rate fired: value 0."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rolled back (success)"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(router_), "CANARY_WEIGHT=0\n") << "the file actuator set the canary to 0";

  const std::string cases = junit_cases(junit);
  EXPECT_EQ(cases.find("PARSE ERROR"), std::string::npos) << cases;
  EXPECT_NE(cases.find("error-rate failure error-rate fired: value 0."), std::string::npos) << cases;
  EXPECT_NE(cases.find("(above 0.05) since 20"), std::string::npos) << "evidence: value, threshold, since when\n"
                                                                    << cases;
  EXPECT_NE(cases.find("code=~\"5..\""), std::string::npos) << "the query, quotes unescaped by the parser\n" << cases;
  EXPECT_NE(cases.find("latency-p95 passed"), std::string::npos) << cases;

  auto j = nlohmann::json::parse(read_file(json), nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["verdict"], "fail");
  EXPECT_EQ(j["exit_code"], 1);
  EXPECT_EQ(j["decision"]["rule"], "error-rate");
  EXPECT_EQ(j["decision"]["kind"], "rollback");
  EXPECT_EQ(j["decision"]["result"], "success");
  const std::string md = read_file(summary);
  EXPECT_NE(md.find("rollback-sidecar gate: FAIL"), std::string::npos) << md;
  EXPECT_NE(md.find("| error-rate | failed | firing |"), std::string::npos) << md;
}

TEST_F(GateTest, NoRollbackFailsButLeavesTheRouterAlone) {
  const std::string json = dir_.file("gate.json");
  GateRun r = gate({"--config", write_config(config("v3")), "--bake", "30s", "--no-rollback", "--json", json});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_LT(r.seconds, 5.0);
  EXPECT_NE(r.output.find("dry run"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(router_), "CANARY_WEIGHT=50\n") << "--no-rollback must not touch the router";
  auto j = nlohmann::json::parse(read_file(json), nullptr, false);
  EXPECT_EQ(j["decision"]["kind"], "hold") << j.dump(2);
  EXPECT_EQ(j["dry_run"], true);
}

TEST_F(GateTest, NoTrafficIsInconclusive) {
  const std::string json = dir_.file("gate.json"), junit = dir_.file("gate.xml");
  GateRun r = gate({"--config", write_config(config("v4")), "--bake", "3s", "--json", json, "--junit", junit});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("gate: INCONCLUSIVE: no rule had data at the deadline"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("empty result"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(router_), "CANARY_WEIGHT=50\n");
  EXPECT_EQ(nlohmann::json::parse(read_file(json))["verdict"], "inconclusive");
  const std::string cases = junit_cases(junit);
  EXPECT_NE(cases.find("error-rate skipped"), std::string::npos) << cases;
}

TEST_F(GateTest, BakeShorterThanTheLongestForIsInconclusive) {
  GateRun r = gate({"--config", write_config(config("v2")), "--bake", "1s"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("the longest `for` needs 3"), std::string::npos) << r.output;
}

TEST_F(GateTest, PrometheusDownCannotJudge) {
  const std::string url = "http://127.0.0.1:" + std::to_string(free_port());
  const std::string junit = dir_.file("gate.xml");
  GateRun r = gate({"--config", write_config(config("v2", url)), "--bake", "2s", "--junit", junit});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("gate: ERROR (could not judge): Prometheus could not be queried"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(url), std::string::npos) << "the reason names the Prometheus\n" << r.output;
  EXPECT_NE(r.output.find("connect"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(router_), "CANARY_WEIGHT=50\n");
  const std::string cases = junit_cases(junit);
  EXPECT_NE(cases.find("error-rate error"), std::string::npos) << cases;
}

// A past window with Prometheus down: the replay retries, then could not judge (3) with the
// reason, and nothing is rolled back.
TEST_F(GateTest, PrometheusDownOverAPastWindowCannotJudge) {
  const std::string url = "http://127.0.0.1:" + std::to_string(free_port());
  GateRun r = gate({"--config", write_config(config("v2", url)), "--start", "2026-01-01T00:00:00Z", "--end",
                    "2026-01-01T00:10:00Z"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find("gate: ERROR (could not judge): could not replay the window"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("connect"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(router_), "CANARY_WEIGHT=50\n");
}

TEST_F(GateTest, BadConfigAndUsageErrorsCannotJudge) {
  std::string text = config("v2");
  text.replace(text.find("    for: 2s\n"), 11, "    for: 2 seconds\n");
  GateRun bad = gate({"--config", write_config(text), "--bake", "2s"});
  EXPECT_EQ(bad.exit_code, 3) << bad.output;
  EXPECT_NE(bad.output.find("rules[0].for"), std::string::npos) << "file:line and the key\n" << bad.output;
  EXPECT_NE(bad.output.find("nothing was judged"), std::string::npos) << bad.output;

  GateRun missing = gate({"--config", dir_.file("nope.yml"), "--bake", "2s"});
  EXPECT_EQ(missing.exit_code, 3) << missing.output;

  GateRun no_bake = gate({"--config", write_config(config("v2"))});
  EXPECT_EQ(no_bake.exit_code, 3) << no_bake.output;
  EXPECT_NE(no_bake.output.find("--bake"), std::string::npos) << no_bake.output;

  GateRun unknown = gate({"--config", write_config(config("v2")), "--bake", "2s", "--bogus"});
  EXPECT_EQ(unknown.exit_code, 3) << "a usage error is never 'inconclusive'\n" << unknown.output;

  // A past window (tests/e2e/backtest_e2e_test.cpp judges one): --start needs --end, excludes --bake.
  GateRun half = gate({"--config", write_config(config("v2")), "--start", "2026-01-01T00:00:00Z"});
  EXPECT_EQ(half.exit_code, 3) << half.output;
  EXPECT_NE(half.output.find("--start and --end go together"), std::string::npos) << half.output;
  GateRun both = gate({"--config", write_config(config("v2")), "--bake", "2s", "--start", "2026-01-01T00:00:00Z",
                       "--end", "2026-01-01T01:00:00Z"});
  EXPECT_EQ(both.exit_code, 3) << both.output;
  EXPECT_NE(both.output.find("give one of them"), std::string::npos) << both.output;
  GateRun backwards = gate(
      {"--config", write_config(config("v2")), "--start", "2026-01-01T01:00:00Z", "--end", "2026-01-01T00:00:00Z"});
  EXPECT_EQ(backwards.exit_code, 3) << backwards.output;
  EXPECT_NE(backwards.output.find("--end must be after --start"), std::string::npos) << backwards.output;
  EXPECT_EQ(read_file(router_), "CANARY_WEIGHT=50\n");
}

TEST_F(GateTest, SigtermMidBakeCannotJudge) {
  const std::string json = dir_.file("gate.json");
  Process* p = start_gate({"--config", write_config(config("v2")), "--bake", "60s", "--json", json});
  ASSERT_TRUE(wait_until([&] { return read_file(log_).find("#2 ") != std::string::npos; }, 15s)) << read_file(log_);
  ASSERT_EQ(::kill(p->pid(), SIGTERM), 0);
  GateRun r = finish(5s);
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_LT(r.seconds, 15.0) << "stops at once, not after the 60 s bake";
  EXPECT_NE(r.output.find("interrupted by SIGTERM"), std::string::npos) << r.output;
  EXPECT_EQ(nlohmann::json::parse(read_file(json))["exit_code"], 3) << "reports are still written";
  EXPECT_EQ(read_file(router_), "CANARY_WEIGHT=50\n");
}

}  // namespace
}  // namespace rs::testing
