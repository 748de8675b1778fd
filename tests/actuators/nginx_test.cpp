// The nginx actuator against a real nginx (Debian's package) with its own prefix, proxying to
// two backends: after a rollback no request reaches the canary; a failing config test leaves
// the old file byte-identical and the traffic unchanged.
#include <gtest/gtest.h>

#include <fstream>

#include "actuators/nginx/nginx.h"
#include "common/process.h"
#include "tests/actuators/test_settings.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

using actuators::Change;
using actuators::DecisionContext;
using actuators::NginxOptions;
using Clock = std::chrono::steady_clock;

int count_path(FakeHttpServer& server) { return static_cast<int>(server.seen().size()); }

class NginxActuatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nginx_ = find_binary("nginx");
    if (nginx_.empty()) nginx_ = "/usr/sbin/nginx";
    ASSERT_EQ(::access(nginx_.c_str(), X_OK), 0) << "nginx not installed (scripts/install-deps.sh)";
    stable_.set_route("/", 200, "stable", 0ms, "text/plain");
    canary_.set_route("/", 200, "canary", 0ms, "text/plain");
    port_ = free_port();
    ::mkdir(dir_.file("tmp").c_str(), 0755);
    write_file(dir_.file("nginx.conf"),
               "worker_processes 1;\n"
               "pid " +
                   dir_.file("nginx.pid") +
                   ";\n"
                   "error_log " +
                   dir_.file("error.log") +
                   " notice;\n"
                   "events { worker_connections 64; }\n"
                   "http {\n"
                   "  access_log off;\n"
                   "  client_body_temp_path " +
                   dir_.file("tmp") +
                   ";\n"
                   "  proxy_temp_path " +
                   dir_.file("tmp") +
                   ";\n"
                   "  fastcgi_temp_path " +
                   dir_.file("tmp") +
                   ";\n"
                   "  uwsgi_temp_path " +
                   dir_.file("tmp") +
                   ";\n"
                   "  scgi_temp_path " +
                   dir_.file("tmp") +
                   ";\n"
                   "  include " +
                   dir_.file("upstream.conf") +
                   ";\n"
                   "  server {\n"
                   "    listen 127.0.0.1:" +
                   std::to_string(port_) +
                   ";\n"
                   "    location / { proxy_pass http://checkout; proxy_next_upstream off; }\n"
                   "  }\n"
                   "}\n");
    options_.upstream_file = dir_.file("upstream.conf");
    options_.upstream = "checkout";
    options_.stable = {"127.0.0.1:" + std::to_string(stable_.port())};
    options_.canary = {"127.0.0.1:" + std::to_string(canary_.port())};
    options_.test_command = nginx_command({"-t"});
    options_.reload_command = nginx_command({"-s", "reload"});
    write_file(options_.upstream_file, actuators::render_nginx_upstream(options_, 50));
    nginx_process_ = std::make_unique<Process>(nginx_command({"-g", "daemon off;"}), dir_.file("nginx.log"));
    ASSERT_TRUE(wait_until([&] { return http_get(url()).status == 200; }, 10s)) << nginx_process_->log();
  }

  std::vector<std::string> nginx_command(std::vector<std::string> extra) {
    std::vector<std::string> argv{nginx_,      "-e", dir_.file("error.log"), "-p",
                                  dir_.path(), "-c", dir_.file("nginx.conf")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  void send(int n) {
    for (int i = 0; i < n; ++i) ASSERT_EQ(http_get(url()).status, 200);
  }
  // nginx reloads gracefully: `-s reload` returns at once, the new workers take over when the
  // old one has stopped accepting ("gracefully shutting down", logged at notice).
  void send_after_reload(int n) {
    ASSERT_TRUE(wait_until(
        [&] { return read_file(dir_.file("error.log")).find("gracefully shutting down") != std::string::npos; }, 10s))
        << read_file(dir_.file("error.log"));
    send(n);
  }

  TempDir dir_;
  FakeHttpServer stable_, canary_;
  int port_ = 0;
  std::string nginx_;
  NginxOptions options_;
  std::unique_ptr<Process> nginx_process_;
  DecisionContext context_{"checkout", "prod", "canary", "rule", "error-rate", "0.3", "0.05", "errors"};
};

TEST_F(NginxActuatorTest, RollbackSendsNoRequestToTheCanaryAndASecondOneIsANoop) {
  send(20);
  ASSERT_GT(count_path(canary_), 0) << "the canary gets traffic before the rollback";
  actuators::NginxActuator actuator(options_);
  auto result = actuator.rollback(context_, Clock::now() + 10s);
  ASSERT_TRUE(result.ok) << result.detail;
  EXPECT_EQ(result.change, Change::kChanged);
  EXPECT_NE(result.detail.find("canary weight 50 -> 0"), std::string::npos) << result.detail;
  const int canary_before = count_path(canary_);
  const int stable_before = count_path(stable_);
  send_after_reload(30);
  EXPECT_EQ(count_path(canary_), canary_before) << "no request reaches the canary after the rollback";
  EXPECT_EQ(count_path(stable_), stable_before + 30);
  EXPECT_NE(read_file(options_.upstream_file).find("down;"), std::string::npos);

  auto again = actuator.rollback(context_, Clock::now() + 10s);
  ASSERT_TRUE(again.ok) << again.detail;
  EXPECT_EQ(again.change, Change::kNoop);
}

TEST_F(NginxActuatorTest, AFailingConfigTestRestoresTheOldFileByteForByteAndReportsNginxsMessage) {
  const std::string before = read_file(options_.upstream_file);
  options_.test_command = {"/bin/sh", "-c",
                           "echo 'nginx: [emerg] host not found in upstream \"canary:8080\"' >&2; exit 1"};
  actuators::NginxActuator actuator(options_);
  auto result = actuator.rollback(context_, Clock::now() + 10s);
  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.retryable);
  EXPECT_NE(result.detail.find("[emerg] host not found"), std::string::npos) << result.detail;
  EXPECT_NE(result.detail.find("previous file restored"), std::string::npos) << result.detail;
  EXPECT_EQ(read_file(options_.upstream_file), before);
  const int canary_before = count_path(canary_);
  send(20);
  EXPECT_GT(count_path(canary_), canary_before) << "traffic unchanged: the canary still gets requests";
}

TEST_F(NginxActuatorTest, PromotionWeightsReachNginx) {
  actuators::NginxActuator actuator(options_);
  auto result = actuator.set_canary_weight(100, context_, Clock::now() + 10s);
  ASSERT_TRUE(result.ok) << result.detail;
  const int stable_before = count_path(stable_);
  send_after_reload(20);
  EXPECT_EQ(count_path(stable_), stable_before) << "at 100 % the stable servers are down";
  EXPECT_FALSE(actuator.set_canary_weight(101, context_, Clock::now() + 1s).ok);
}

TEST(NginxRendering, WeightsAreExactPerSideAndBlueGreenListsOneColour) {
  NginxOptions o;
  o.upstream = "app";
  o.stable = {"s1:80", "s2:80"};
  o.canary = {"c1:80"};
  // 25 % canary with 2 stable servers and 1 canary: stable 75*1 = 75 each, canary 25*2 = 50:
  // totals 150 : 50 = 75 : 25.
  const std::string text = actuators::render_nginx_upstream(o, 25);
  EXPECT_NE(text.find("server s1:80 weight=3;"), std::string::npos) << text;
  EXPECT_NE(text.find("server c1:80 weight=2;"), std::string::npos) << text;
  EXPECT_NE(actuators::render_nginx_upstream(o, 0).find("server c1:80 down;"), std::string::npos);
  o.strategy = "blue-green";
  const std::string blue = actuators::render_nginx_upstream(o, 0);
  EXPECT_EQ(blue.find("c1:80"), std::string::npos) << blue;
  EXPECT_NE(blue.find("server s2:80 weight=1;"), std::string::npos) << blue;
  EXPECT_EQ(actuators::render_nginx_upstream(o, 100).find("s1:80"), std::string::npos);
}

TEST(NginxFactory, ConfigErrorsNameTheKey) {
  MapSettings s({{"upstream", std::string("bad name")},
                 {"stable", std::string("10.0.0.1:80")},
                 {"canary", MapSettings::List{}},
                 {"test_command", std::string("nginx -t")}});
  actuators::make_nginx_actuator(s, actuators::Environment{"canary"});
  const std::string errors = s.all_errors();
  EXPECT_NE(errors.find("upstream_file: "), std::string::npos) << errors;
  EXPECT_NE(errors.find("upstream: 'bad name' is not a valid upstream name"), std::string::npos) << errors;
  EXPECT_NE(errors.find("canary: must name at least one server"), std::string::npos) << errors;
  EXPECT_NE(errors.find("test_command: must be a list"), std::string::npos) << errors;
}

}  // namespace
}  // namespace rs::testing
