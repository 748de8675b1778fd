// `rollback-sidecar backtest` bad input, at the binary: usage errors exit 2, config errors 1,
// Prometheus unreachable 3, each with a message that says what to fix; and a run against a
// scripted Prometheus exits 0 with ONE JSON object on stdout.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

struct BacktestResult {
  int code = -1;  // exit code, -1 when it did not exit
  std::string out, err;
};

class BacktestCliTest : public ::testing::Test {
 protected:
  BacktestResult backtest(const std::vector<std::string>& args) {
    std::string command = "exec '" + kSidecarBinary + "' backtest";
    for (const auto& a : args) command += " '" + a + "'";
    command += " >'" + dir_.file("out") + "' 2>'" + dir_.file("err") + "'";
    Process p({"/bin/sh", "-c", command}, dir_.file("sh.log"));
    const int status = p.wait_exit(60s);
    BacktestResult r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_file(dir_.file("out"));
    r.err = read_file(dir_.file("err"));
    return r;
  }

  std::string config(const std::string& url, const std::string& rules_yaml = "") {
    const std::string path = dir_.file("c.yml");
    write_file(path, "prometheus: {url: '" + url +
                         "', timeout: 1s}\n"
                         "evaluation_interval: 15s\n"
                         "deployment: {name: checkout, stage: prod, strategy: canary}\n"
                         "actuators:\n  - {type: file, path: " +
                         dir_.file("router") + ", content: 'W={{canary_weight}}'}\n" +
                         (rules_yaml.empty() ? "rules:\n  - {name: error-rate, query: 'error_ratio', above: 0.05}\n"
                                             : rules_yaml));
    return path;
  }

  TempDir dir_;
  FakeHttpServer prometheus_;
};

TEST_F(BacktestCliTest, UsageErrorsExit2WithTheReason) {
  const std::string c = config(prometheus_.url());
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const Case cases[] = {
      {{"--config", c, "--start", "2024-05-01T11:00:00Z", "--end", "2024-05-01T10:00:00Z"},
       "--start 2024-05-01T11:00:00.000Z is after --end 2024-05-01T10:00:00.000Z"},
      {{"--config", c, "--start", "yesterday", "--end", "1714557600"}, "--start 'yesterday' is neither RFC 3339"},
      {{"--config", c, "--start", "1714557600", "--end", "2024-05-01 10:00"}, "--end '2024-05-01 10:00' is neither"},
      {{"--config", c, "--start", "1714557600", "--end", "1714561200", "--step", "0s"},
       "--step must be longer than 0s"},
      {{"--config", c, "--start", "1714557600", "--end", "1714561200", "--step", "5 minutes"}, "--step 5 minutes:"},
      {{"--config", c, "--start", "1714557600", "--end", "1714561200", "--format", "yaml"},
       "--format yaml: must be text or json"},
      {{"--config", c, "--end", "1714561200"}, "--start is required"},
      {{"--start", "1714557600", "--end", "1714561200"}, "--config is required"},
      {{"--config", c, "--start", "0", "--end", "1714561200", "--step", "1ms"}, "use a longer step or a shorter range"},
      {{"--config", c, "--start", "1714557600", "--end", "1714561200", "--bake", "5m"}, "unrecognised option"},
  };
  for (const auto& k : cases) {
    const BacktestResult r = backtest(k.args);
    std::string joined;
    for (const auto& a : k.args) joined += a + " ";
    EXPECT_EQ(r.code, 2) << joined << "\n" << r.err;
    EXPECT_NE(r.err.find(k.says), std::string::npos) << joined << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  EXPECT_TRUE(prometheus_.seen().empty()) << "nothing is asked before the input is valid";
}

TEST_F(BacktestCliTest, ConfigErrorsExit1) {
  const std::string bad =
      config(prometheus_.url(), "rules:\n  - {name: error-rate, query: 'x', above: 0.05, for: 5 minutes}\n");
  BacktestResult r = backtest({"--config", bad, "--start", "1714557600", "--end", "1714561200"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("rules[0].for"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("config is invalid, nothing was replayed"), std::string::npos) << r.err;

  r = backtest({"--config", dir_.file("missing.yml"), "--start", "1714557600", "--end", "1714561200"});
  EXPECT_EQ(r.code, 1) << r.err;

  // Prometheus refuses the rule's query as bad PromQL: the config is wrong, named by rule.
  prometheus_.set_route("/api/v1/query_range", 400,
                        R"({"status":"error","errorType":"bad_data","error":"1:12: parse error: unexpected \"}\""})");
  r = backtest({"--config", config(prometheus_.url()), "--start", "1714557600", "--end", "1714561200"});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("rule error-rate: query failed (prometheus bad_data, HTTP 400): 1:12: parse error"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("query: error_ratio"), std::string::npos) << r.err;
}

TEST_F(BacktestCliTest, PrometheusUnreachableExits3AfterRetrying) {
  const std::string c = config("http://127.0.0.1:" + std::to_string(free_port()));
  const BacktestResult r =
      backtest({"--config", c, "--start", "1714557600", "--end", "1714561200", "--log-level", "warn"});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("rule error-rate: query failed (connect)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("attempt 3 of 3"), std::string::npos) << "retried before giving up:\n" << r.err;
}

TEST_F(BacktestCliTest, ARunPrintsOneJsonObjectAndExits0) {
  // Every evaluation of 10:00 .. 10:02 every 15 s: 0.2 from 10:01:00 on (no `for`: decides there).
  std::string values;
  for (int k = 0; k <= 8; ++k) {
    values += std::string(values.empty() ? "" : ",") + "[" + std::to_string(1714557600 + 15 * k) + ",\"" +
              (k >= 4 ? "0.2" : "0.01") + "\"]";
  }
  prometheus_.set_route(
      "/api/v1/query_range", 200,
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[)" + values + "]}]}}");
  const BacktestResult r = backtest({"--config", config(prometheus_.url()), "--start", "2024-05-01T10:00:00Z", "--end",
                                     "2024-05-01T10:02:00Z", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto report = nlohmann::json::parse(r.out);
  ASSERT_EQ(report["decisions"].size(), 1u) << r.out;
  EXPECT_EQ(report["decisions"][0]["decided_at"], "2024-05-01T10:01:00.000Z");
  EXPECT_EQ(report["decisions"][0]["kind"], "rollback");
  EXPECT_EQ(report["summary"]["evaluations"], 9);
  const auto seen = prometheus_.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body, "query=error_ratio&start=1714557600.000&end=1714557720.000&step=15.000&timeout=1s");
  EXPECT_FALSE(read_file(dir_.file("router")).size()) << "a backtest changes nothing";
}

}  // namespace
}  // namespace rs::testing
