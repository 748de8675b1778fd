// The file actuator: atomic replacement under a concurrent reader, post_command, failures.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "actuators/file/file.h"
#include "tests/actuators/test_settings.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

using actuators::Change;
using actuators::DecisionContext;
using actuators::FileActuator;
using actuators::FileOptions;
using Clock = std::chrono::steady_clock;

const DecisionContext kContext{"checkout", "prod", "blue-green", "rule", "error-rate", "0.3", "0.05", "errors"};

TEST(FileActuator, RendersTheRollbackStateRunsThePostCommandAndIsThenANoop) {
  TempDir dir;
  FileOptions o;
  o.path = dir.file("slot.env");
  o.content = "ACTIVE_SLOT={{active}}\nCANARY_WEIGHT={{canary_weight}}\nSTABLE_WEIGHT={{stable_weight}}\n";
  o.stable_name = "blue";
  o.canary_name = "green";
  o.post_command = {"/bin/sh", "-c", "cat " + o.path + " >> " + dir.file("applied")};
  write_file(o.path, "ACTIVE_SLOT=green\nCANARY_WEIGHT=100\nSTABLE_WEIGHT=0\n");
  FileActuator actuator(o);
  auto result = actuator.rollback(kContext, Clock::now() + 5s);
  ASSERT_TRUE(result.ok) << result.detail;
  EXPECT_EQ(result.change, Change::kChanged);
  EXPECT_EQ(read_file(o.path), "ACTIVE_SLOT=blue\nCANARY_WEIGHT=0\nSTABLE_WEIGHT=100\n");
  EXPECT_EQ(read_file(dir.file("applied")), read_file(o.path)) << "post_command ran after the write";
  auto again = actuator.rollback(kContext, Clock::now() + 5s);
  ASSERT_TRUE(again.ok) << again.detail;
  EXPECT_EQ(again.change, Change::kNoop);
  EXPECT_EQ(read_file(dir.file("applied")), read_file(o.path)) << "a noop runs nothing";

  auto promoted = actuator.set_canary_weight(100, kContext, Clock::now() + 5s);
  ASSERT_TRUE(promoted.ok) << promoted.detail;
  EXPECT_EQ(read_file(o.path), "ACTIVE_SLOT=green\nCANARY_WEIGHT=100\nSTABLE_WEIGHT=0\n");
}

TEST(FileActuator, AReaderNeverSeesAPartialFile) {
  TempDir dir;
  FileOptions o;
  o.path = dir.file("weights.yml");
  // Large enough that a non-atomic write would be seen half done.
  o.content = "# " + std::string(256 * 1024, 'x') + "\ncanary: {{canary_weight}}\nstable: {{stable_weight}}\nend\n";
  FileActuator actuator(o);
  ASSERT_TRUE(actuator.set_canary_weight(50, kContext, Clock::now() + 5s).ok);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, torn{0};
  std::thread reader([&] {
    while (!done) {
      const std::string text = read_file(o.path);
      ++reads;
      if (text.size() < 256 * 1024 || text.substr(text.size() - 4) != "end\n") ++torn;
    }
  });
  for (int i = 0; i < 200; ++i) {
    auto r = actuator.set_canary_weight(i % 2 ? 10 : 90, kContext, Clock::now() + 5s);
    ASSERT_TRUE(r.ok) << r.detail;
  }
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
}

TEST(FileActuator, AFailingPostCommandIsReportedAndRunAgainOnTheRetry) {
  TempDir dir;
  FileOptions o;
  o.path = dir.file("traefik.yml");
  o.content = "weight: {{canary_weight}}\n";
  // Fails until `fixed` exists.
  o.post_command = {"/bin/sh", "-c",
                    "echo reload >> " + dir.file("runs") + "; test -e " + dir.file("fixed") +
                        " || { echo 'router refused' >&2; exit 3; }"};
  FileActuator actuator(o);
  auto failed = actuator.rollback(kContext, Clock::now() + 5s);
  EXPECT_FALSE(failed.ok);
  EXPECT_TRUE(failed.retryable);
  EXPECT_NE(failed.detail.find("exit code 3; stderr: router refused"), std::string::npos) << failed.detail;
  EXPECT_EQ(read_file(o.path), "weight: 0\n") << "the rollback state stays written";
  write_file(dir.file("fixed"), "");
  auto retried = actuator.rollback(kContext, Clock::now() + 5s);
  ASSERT_TRUE(retried.ok) << retried.detail;
  EXPECT_EQ(retried.change, Change::kChanged);
  EXPECT_EQ(read_file(dir.file("runs")), "reload\nreload\n");
}

TEST(FileActuator, ConfigErrorsNameTheKey) {
  MapSettings s({{"path", std::string("/tmp/x")},
                 {"content", std::string("slot={{colour}}")},
                 {"post_command", std::string("systemctl reload envoy")},
                 {"mode", std::string("rw-r--r--")}});
  actuators::make_file_actuator(s, actuators::Environment{"canary"});
  const std::string errors = s.all_errors();
  EXPECT_NE(errors.find("content: unknown variable '{{colour}}'"), std::string::npos) << errors;
  EXPECT_NE(errors.find("post_command: must be a list"), std::string::npos) << errors;
  EXPECT_NE(errors.find("mode: 'rw-r--r--' is not an octal file mode"), std::string::npos) << errors;
}

TEST(FileActuator, AMissingDirectoryFailsTheProbeAndTheChange) {
  FileOptions o;
  o.path = "/nonexistent-dir-for-rollback-sidecar/slot.env";
  o.content = "x={{canary_weight}}\n";
  FileActuator actuator(o);
  EXPECT_FALSE(actuator.probe(Clock::now() + 1s).ok);
  auto r = actuator.rollback(kContext, Clock::now() + 1s);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("/nonexistent-dir-for-rollback-sidecar"), std::string::npos) << r.detail;
}

}  // namespace
}  // namespace rs::testing
