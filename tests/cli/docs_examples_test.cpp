// Every complete config shown in the docs is one `rollback-sidecar check` accepts.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <regex>

#include "tests/cli/cli_support.h"
#include "tests/support/harness.h"

namespace rs::testing {
namespace {

const std::string& kBinary = kSidecarBinary;

TEST(DocsExamples, CompleteConfigsInTheDocsPassCheck) {
  TempDir dir;
  int checked = 0;
  std::vector<std::string> files{std::string(RS_SOURCE_DIR) + "/README.md"};
  for (const auto& entry : std::filesystem::directory_iterator(std::string(RS_SOURCE_DIR) + "/docs")) {
    if (entry.path().extension() == ".md") files.push_back(entry.path().string());
  }
  static const std::regex kBlock("```yaml\\n([\\s\\S]*?)```");
  for (const auto& file : files) {
    const std::string text = read_file(file);
    for (std::sregex_iterator it(text.begin(), text.end(), kBlock), end; it != end; ++it) {
      const std::string yaml = (*it)[1];
      // Complete configs only; fragments (one rule, one actuator) are not checked here.
      if (yaml.rfind("prometheus:", 0) != 0 || yaml.find("\nrules:") == std::string::npos) continue;
      const std::string path = dir.file("example-" + std::to_string(checked) + ".yml");
      write_file(path, yaml);
      Process check({kBinary, "check", "--config", path}, path + ".log");
      int status = check.wait_exit(10s);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << file << " has a config example that check rejects:\n"
          << read_file(path + ".log");
      ++checked;
    }
  }
  EXPECT_GE(checked, 1);
}

}  // namespace
}  // namespace rs::testing
