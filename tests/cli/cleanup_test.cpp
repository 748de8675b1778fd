// cleanup: actuators run a delay after a successful rollback, and never if the sidecar stops first.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;

class CleanupTest : public ::testing::Test {
 protected:
  void start(const std::string& delay) {
    prometheus_.set_route("/api/v1/query", 200, vector_reply("0"));
    write_file(dir_.file("token"), "cleanup-token\n");
    for (const char* name : {"rollback", "cleanup"}) {
      const std::string script = dir_.file(std::string(name) + ".sh");
      write_file(script, "#!/bin/sh\necho \"$ROLLBACK_TRIGGER\" >> " + dir_.file(std::string(name) + ".calls") + "\n");
      ::chmod(script.c_str(), 0755);
    }
    port_ = free_port();
    write_file(dir_.file("sidecar.yml"), "prometheus: {url: " + prometheus_.url() +
                                             "}\n"
                                             "listen: 127.0.0.1:" +
                                             std::to_string(port_) +
                                             "\n"
                                             "evaluation_interval: 100ms\n"
                                             "deployment: {name: shop, stage: prod, strategy: blue-green}\n"
                                             "rules: [{name: errors, query: x, above: 1}]\n"
                                             "actuators: [{type: exec, command: [" +
                                             dir_.file("rollback.sh") +
                                             "]}]\n"
                                             "cleanup: {delay: " +
                                             delay + ", actuators: [{type: exec, command: [" + dir_.file("cleanup.sh") +
                                             "]}]}\n"
                                             "api: {bearer_token_file: " +
                                             dir_.file("token") + "}\n");
    sidecar_ = std::make_unique<Process>(std::vector<std::string>{kBinary, "--config", dir_.file("sidecar.yml")},
                                         dir_.file("sidecar.log"));
    std::string why;
    ASSERT_TRUE(wait_http_ok("http://127.0.0.1:" + std::to_string(port_) + "/readyz", 10s, &why)) << why;
    ASSERT_EQ(http_request("POST", "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/rollback",
                           R"({"reason":"r","actor":"a"})", {"Authorization: Bearer cleanup-token"})
                  .status,
              202);
    ASSERT_TRUE(wait_until([&] { return read_file(dir_.file("rollback.calls")) == "manual\n"; }, 10s));
  }

  TempDir dir_;
  FakeHttpServer prometheus_;
  int port_ = 0;
  std::unique_ptr<Process> sidecar_;
};

TEST_F(CleanupTest, RunsOnceAfterTheDelay) {
  start("700ms");
  EXPECT_EQ(read_file(dir_.file("cleanup.calls")), "");  // not before the delay
  ASSERT_TRUE(wait_until([&] { return read_file(dir_.file("cleanup.calls")) == "cleanup\n"; }, 10s)) << sidecar_->log();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(read_file(dir_.file("cleanup.calls")), "cleanup\n");  // once
}

TEST_F(CleanupTest, IsCancelledWhenTheSidecarStops) {
  start("5s");
  sidecar_->stop();
  EXPECT_NE(sidecar_->log().find("cancelled"), std::string::npos) << sidecar_->log();
  EXPECT_EQ(read_file(dir_.file("cleanup.calls")), "");
}

}  // namespace
}  // namespace rs::testing
