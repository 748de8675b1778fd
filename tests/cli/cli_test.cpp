// The rollback-sidecar binary as users run it: exit codes, messages, endpoints, signals, log format.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <sstream>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;
const std::string kSource = RS_SOURCE_DIR;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

RunResult run(const std::vector<std::string>& args, const TempDir& dir) {
  std::vector<std::string> argv{kBinary};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string log = dir.file("run-" + std::to_string(::getpid()) + "-" + std::to_string(rand()) + ".log");
  Process p(argv, log);
  int status = p.wait_exit(20s);
  RunResult r;
  r.exit_code = (status >= 0 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  r.output = read_file(log);
  return r;
}

// A minimal valid config; dry_run so no router is needed.
std::string config(const std::string& prometheus_url, int listen_port, const std::string& state_file,
                   const std::string& extra = "") {
  return "prometheus: {url: " + prometheus_url +
         ", timeout: 500ms}\n"
         "listen: 127.0.0.1:" +
         std::to_string(listen_port) +
         "\n"
         "evaluation_interval: 200ms\n"
         "deployment: {name: checkout, stage: prod, strategy: canary, vars: {canary: v2}}\n"
         "state_file: " +
         state_file +
         "\n"
         "dry_run: true\n"
         "rules:\n"
         "  - name: error-rate\n"
         "    query: 'sum(rate(errors{version=\"{{canary}}\"}[1m]))'\n"
         "    above: 0.05\n"
         "    for: 400ms\n" +
         extra;
}

TEST(Cli, VersionAndHelp) {
  TempDir dir;
  RunResult v = run({"--version"}, dir);
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.output.find("rollback-sidecar 0."), std::string::npos) << v.output;
  RunResult h = run({"--help"}, dir);
  EXPECT_EQ(h.exit_code, 0);
  for (const char* word : {"check", "--config", "--online", "--log-level", "--log-format"}) {
    EXPECT_NE(h.output.find(word), std::string::npos) << word << " missing from --help:\n" << h.output;
  }
}

TEST(Cli, UsageErrorsExitTwo) {
  TempDir dir;
  EXPECT_EQ(run({"check"}, dir).exit_code, 2);  // no --config
  EXPECT_EQ(run({"--bogus"}, dir).exit_code, 2);
  EXPECT_EQ(run({"deploy", "--config", "x.yml"}, dir).exit_code, 2);
  RunResult f = run({"check", "--config", kSource + "/policies/default.yml", "--log-format", "xml"}, dir);
  EXPECT_EQ(f.exit_code, 2);
  EXPECT_NE(f.output.find("--log-format"), std::string::npos) << f.output;
}

TEST(Cli, CheckAcceptsShippedPolicies) {
  TempDir dir;
  for (const char* policy : {"/policies/default.yml", "/policies/demo.yml"}) {
    RunResult r = run({"check", "--config", kSource + policy}, dir);
    EXPECT_EQ(r.exit_code, 0) << policy << ":\n" << r.output;
    EXPECT_NE(r.output.find("valid"), std::string::npos) << r.output;
  }
}

TEST(Cli, CheckReportsEveryErrorWithFileAndLine) {
  TempDir dir;
  const std::string path = dir.file("bad.yml");
  write_file(path,
             "prometheus: {url: http://127.0.0.1:9090}\n"
             "deployment: {name: a, stage: prod, strategy: canary}\n"
             "dry_run: true\n"
             "rules:\n"
             "  - name: errors\n"
             "    query: up\n"
             "    abov: 0.5\n"         // line 7: typo
             "    for: 5 minutes\n");  // line 8: bad duration
  RunResult r = run({"check", "--config", path}, dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(path + ":7: rules[0].abov"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(path + ":8: rules[0].for"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("config is invalid"), std::string::npos) << r.output;
}

// Defect 2 through the real binary: promotion with only an exec actuator passed `check` and
// failed on the first promotion step at run time.
TEST(Cli, CheckRejectsPromotionWithoutWeightActuators) {
  TempDir dir;
  const std::string path = dir.file("promotion.yml");
  write_file(path,
             "prometheus: {url: 'http://127.0.0.1:9090'}\n"
             "deployment: {name: a, stage: prod, strategy: canary}\n"
             "rules: [{name: errors, query: up, above: 0.5}]\n"
             "actuators:\n"
             "  - {type: exec, command: [/bin/true]}\n"                  // line 5
             "promotion: {steps: [10, 50, 100], step_duration: 1m}\n");  // line 6
  RunResult r = run({"check", "--config", path}, dir);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(path + ":6: promotion: needs actuators that set traffic weights; actuators[0].type 'exec'"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("haproxy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("config is invalid"), std::string::npos) << r.output;
}

// check prints warnings (the config is still valid): an API token file that does not exist yet.
TEST(Cli, CheckWarnsAboutAMissingApiTokenFile) {
  TempDir dir;
  const std::string path = dir.file("token.yml");
  write_file(path,
             "prometheus: {url: 'http://127.0.0.1:9090'}\n"
             "deployment: {name: a, stage: prod, strategy: canary}\n"
             "dry_run: true\n"
             "rules: [{name: errors, query: up, above: 0.5}]\n"
             "api: {bearer_token_file: " +
                 dir.file("missing-token") + "}\n");  // line 5
  RunResult r = run({"check", "--config", path}, dir);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("warning: " + path + ":5: api.bearer_token_file: '" + dir.file("missing-token") +
                          "' cannot be read"),
            std::string::npos)
      << r.output;
}

TEST(Cli, CheckOnlineRunsQueriesAndFailsOnPrometheusErrors) {
  TempDir dir;
  FakeHttpServer prometheus;
  prometheus.set_route("/api/v1/query", 200, vector_reply("0.25"));
  const std::string path = dir.file("c.yml");
  write_file(path, config(prometheus.url(), free_port(), dir.file("state.json")));
  RunResult ok = run({"check", "--config", path, "--online"}, dir);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("query error-rate: 0.25"), std::string::npos) << ok.output;
  EXPECT_NE(ok.output.find("BREACHING"), std::string::npos) << ok.output;

  prometheus.set_route("/api/v1/query", 400,
                       R"({"status":"error","errorType":"bad_data","error":"parse error at char 5"})");
  RunResult bad = run({"check", "--config", path, "--online"}, dir);
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("parse error at char 5"), std::string::npos) << bad.output;
}

TEST(Cli, CheckOnlineProbesNotifiersWithoutNotifyingAnyone) {
  TempDir dir;
  FakeHttpServer prometheus;
  prometheus.set_route("/api/v1/query", 200, vector_reply("0.01"));
  FakeHttpServer receivers;
  receivers.set_route("/-/ready", 200, "OK", 0ms, "text/plain");
  const std::string path = dir.file("c.yml");
  write_file(path, config(prometheus.url(), free_port(), dir.file("state.json")) +
                       "notifiers:\n"
                       "  - {type: alertmanager, url: '" +
                       receivers.url() +
                       "'}\n"
                       "  - {type: webhook, url: '" +
                       receivers.url() + "/hook'}\n");
  RunResult ok = run({"check", "--config", path, "--online"}, dir);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("notifier alertmanager " + receivers.url() + ": ok: HTTP 200"), std::string::npos)
      << ok.output;
  EXPECT_NE(ok.output.find("notifier webhook " + receivers.url() + "/hook: ok: not probed"), std::string::npos)
      << ok.output;
  for (const auto& seen : receivers.seen()) EXPECT_EQ(seen.path, "/-/ready") << "nothing was posted";

  receivers.set_route("/-/ready", 503, "not ready", 0ms, "text/plain");
  RunResult down = run({"check", "--config", path, "--online"}, dir);
  EXPECT_EQ(down.exit_code, 1) << down.output;
  EXPECT_NE(down.output.find("FAILED: alertmanager " + receivers.url() + ": HTTP 503"), std::string::npos)
      << down.output;
}

TEST(Cli, RunServesEndpointsAndStopsOnSigterm) {
  TempDir dir;
  FakeHttpServer prometheus;
  prometheus.set_route("/api/v1/query", 200, vector_reply("0.5"));
  const int port = free_port();
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  const std::string path = dir.file("c.yml");
  write_file(path, config(prometheus.url(), port, dir.file("state.json")));
  Process sidecar({kBinary, "--config", path, "--log-format", "json"}, dir.file("sidecar.log"));

  std::string why;
  ASSERT_TRUE(wait_http_ok(base + "/readyz", 10s, &why)) << why << "\n" << sidecar.log();
  EXPECT_EQ(http_get(base + "/healthz").status, 200);
  HttpResult metrics = http_get(base + "/metrics");
  EXPECT_NE(metrics.body.find("rollback_sidecar_build_info{version=\"0."), std::string::npos);
  EXPECT_NE(metrics.body.find("rollback_sidecar_dry_run 1"), std::string::npos);
  EXPECT_EQ(http_get(base + "/nope").status, 404);

  // The rule breaches for longer than `for`: dry run records one hold decision, acts on nothing.
  ASSERT_TRUE(wait_until(
      [&] {
        auto status = nlohmann::json::parse(http_get(base + "/api/v1/status").body, nullptr, false);
        return !status.is_discarded() && status["last_decision"].is_object();
      },
      10s))
      << sidecar.log();
  auto status = nlohmann::json::parse(http_get(base + "/api/v1/status").body);
  EXPECT_EQ(status["deployment"]["name"], "checkout");
  EXPECT_EQ(status["state"], "firing");
  EXPECT_EQ(status["rules"][0]["name"], "error-rate");
  EXPECT_DOUBLE_EQ(status["rules"][0]["value"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(status["rules"][0]["threshold"].get<double>(), 0.05);
  EXPECT_EQ(status["last_decision"]["kind"], "hold");
  EXPECT_EQ(status["last_decision"]["query"], "sum(rate(errors{version=\"v2\"}[1m]))");
  EXPECT_NE(http_get(base + "/metrics").body.find("decision=\"hold\""), std::string::npos);

  ASSERT_EQ(::kill(sidecar.pid(), SIGTERM), 0);
  int exit_status = sidecar.wait_exit(5s);
  ASSERT_GE(exit_status, 0) << "did not stop within 5 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 0) << sidecar.log();

  // --log-format json: every line is one JSON object with ts, level, msg.
  std::istringstream lines(sidecar.log());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("msg")) << line;
    ++count;
  }
  EXPECT_GT(count, 2);
}

TEST(Cli, StartupFailuresExitOneWithTheReason) {
  TempDir dir;
  FakeHttpServer prometheus;
  prometheus.set_route("/api/v1/query", 200, vector_reply("0"));

  // The listen address is taken.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int taken = ntohs(addr.sin_port);
  const std::string busy = dir.file("busy.yml");
  write_file(busy, config(prometheus.url(), taken, dir.file("state.json")));
  RunResult r = run({"--config", busy}, dir);
  ::close(fd);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("127.0.0.1:" + std::to_string(taken)), std::string::npos) << r.output;

  // A corrupt state file is never silently replaced: the latch it may hold matters.
  const std::string state = dir.file("corrupt.json");
  write_file(state, "{not json");
  const std::string corrupt = dir.file("corrupt.yml");
  write_file(corrupt, config(prometheus.url(), free_port(), state));
  RunResult c = run({"--config", corrupt}, dir);
  EXPECT_EQ(c.exit_code, 1) << c.output;
  EXPECT_NE(c.output.find(state), std::string::npos) << c.output;
  EXPECT_EQ(read_file(state), "{not json");
}

}  // namespace
}  // namespace rs::testing
