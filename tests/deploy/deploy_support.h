// Helpers of the deployment tests: repository paths, running a tool and capturing its output,
// loading YAML documents, and finding things in them with readable failure messages.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace rs::deploy {

using namespace std::chrono_literals;

inline const std::string kSource = RS_SOURCE_DIR;
inline const std::string kSidecarBinary = std::string(RS_BINARY_DIR) + "/sidecar/rollback-sidecar";

inline std::string source_path(const std::string& relative) { return kSource + "/" + relative; }

struct RunResult {
  int exit_code = -1;  // -1: did not exit normally (signal, timeout)
  std::string out, err;
  std::string describe() const {
    return "exit " + std::to_string(exit_code) + "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
  }
};

// Runs argv (in `cwd` when given) with stdout and stderr captured separately; bounded by `timeout`.
inline RunResult run(const std::vector<std::string>& argv, const std::string& cwd = "",
                     std::chrono::milliseconds timeout = 60s) {
  rs::testing::TempDir dir;
  std::vector<std::string> sh = {"/bin/sh", "-c", "exec \"$@\" >\"$RS_OUT\" 2>\"$RS_ERR\"", "sh"};
  sh.insert(sh.end(), argv.begin(), argv.end());
  RunResult result;
  rs::testing::Process process(sh, dir.file("sh.log"), {{"RS_OUT", dir.file("out")}, {"RS_ERR", dir.file("err")}}, cwd);
  int status = process.wait_exit(timeout);
  if (status == -1) process.stop(1000ms);
  result.exit_code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  result.out = rs::testing::read_file(dir.file("out"));
  result.err = rs::testing::read_file(dir.file("err")) + rs::testing::read_file(dir.file("sh.log"));
  return result;
}

// Every document of a multi-document YAML file; a parse error fails the calling test.
inline std::vector<YAML::Node> load_all(const std::string& path) {
  try {
    return YAML::LoadAllFromFile(path);
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << path << ": " << e.what();
    return {};
  }
}

inline YAML::Node load(const std::string& path) {
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    ADD_FAILURE() << path << ": " << e.what();
    return YAML::Node();
  }
}

inline std::string str(const YAML::Node& n, const std::string& fallback = "") {
  return n && n.IsScalar() ? n.as<std::string>() : fallback;
}

// "host:port" -> port (0 when there is none).
inline int port_of(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  if (colon == std::string::npos) return 0;
  try {
    return std::stoi(host_port.substr(colon + 1));
  } catch (...) {
    return 0;
  }
}

inline std::string host_of(const std::string& host_port) {
  auto colon = host_port.rfind(':');
  return colon == std::string::npos ? host_port : host_port.substr(0, colon);
}

// "http://host:port/path" -> "host:port" ("" when not http(s)).
inline std::string authority_of(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  auto start = scheme + 3;
  auto slash = url.find('/', start);
  return url.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
}

inline std::string path_of(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  auto slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

// Skips (with the reason) unless the sidecar binary was built.
#define RS_REQUIRE_SIDECAR_BINARY()                                \
  ASSERT_EQ(access(::rs::deploy::kSidecarBinary.c_str(), X_OK), 0) \
      << ::rs::deploy::kSidecarBinary << " missing: build the rollback-sidecar target (ninja rollback-sidecar)"

// A Debian tool the test needs; fails with the package to install when it is missing.
inline std::string require_tool(const std::string& name, const std::string& package) {
  std::string path = rs::testing::find_binary(name);
  if (path.empty())
    ADD_FAILURE() << name << " not installed: apt-get install " << package << " (scripts/install-deps.sh)";
  return path;
}

}  // namespace rs::deploy
