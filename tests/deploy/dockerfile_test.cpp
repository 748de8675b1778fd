// docker/Dockerfile read as text (no Docker engine here): Debian bookworm-slim stages, the
// sidecar stage last with a numeric non-root USER, EXPOSE/ENTRYPOINT/CMD as documented, every
// build step a command of docker/build-steps.sh, the package lists real Debian 12 packages, and
// the HEALTHCHECK command itself run against a real sidecar. (The build steps themselves run in
// image_build_test.sh.)
#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/deploy/deploy_support.h"

namespace rs::deploy {
namespace {

struct Instruction {
  std::string keyword, args;
  int stage = -1;  // index of the FROM it belongs to
};

// Instructions with continuation lines joined and comments dropped.
std::vector<Instruction> parse_dockerfile(const std::string& text, std::vector<std::string>* stage_names) {
  std::vector<Instruction> out;
  std::istringstream in(text);
  std::string line, pending;
  int stage = -1;
  auto flush = [&] {
    std::size_t start = pending.find_first_not_of(" \t");
    if (start == std::string::npos) {
      pending.clear();
      return;
    }
    std::string body = pending.substr(start);
    pending.clear();
    std::size_t space = body.find_first_of(" \t");
    Instruction ins;
    ins.keyword = body.substr(0, space);
    for (auto& c : ins.keyword) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ins.args = space == std::string::npos ? "" : body.substr(body.find_first_not_of(" \t", space));
    if (ins.keyword == "FROM") {
      ++stage;
      std::smatch m;
      stage_names->push_back(
          std::regex_search(ins.args, m, std::regex(R"(\s+AS\s+(\S+))", std::regex::icase)) ? m[1].str() : "");
    }
    ins.stage = stage;
    out.push_back(ins);
  };
  while (std::getline(in, line)) {
    std::size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '#') continue;
    if (!line.empty() && line.back() == '\\') {
      pending += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    pending += line;
    flush();
  }
  flush();
  return out;
}

class DockerfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    text_ = rs::testing::read_file(source_path("docker/Dockerfile"));
    ASSERT_FALSE(text_.empty()) << "docker/Dockerfile missing";
    instructions_ = parse_dockerfile(text_, &stages_);
    ASSERT_FALSE(stages_.empty());
    final_stage_ = static_cast<int>(stages_.size()) - 1;
  }

  std::vector<Instruction> final(const std::string& keyword) {
    std::vector<Instruction> found;
    for (const auto& i : instructions_)
      if (i.stage == final_stage_ && i.keyword == keyword) found.push_back(i);
    return found;
  }

  std::string text_;
  std::vector<Instruction> instructions_;
  std::vector<std::string> stages_;
  int final_stage_ = 0;
};

TEST_F(DockerfileTest, EveryStageIsDebianBookwormSlim) {
  EXPECT_NE(text_.find("ARG DEBIAN_IMAGE=debian:bookworm-slim"), std::string::npos);
  for (const auto& i : instructions_) {
    if (i.keyword == "FROM") {
      EXPECT_EQ(i.args.rfind("${DEBIAN_IMAGE} AS ", 0), 0u) << "FROM " << i.args;
    }
  }
  EXPECT_EQ((std::set<std::string>(stages_.begin(), stages_.end())),
            (std::set<std::string>{"build", "demo-workload", "sidecar"}));
  EXPECT_EQ(stages_.back(), "sidecar") << "the sidecar must be the default (last) target";
}

TEST_F(DockerfileTest, SidecarStageRunsAsNonRootWithTheDocumentedInterface) {
  auto user = final("USER");
  ASSERT_EQ(user.size(), 1u);
  EXPECT_EQ(user[0].args, "${RS_UID}:${RS_UID}");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text_, m, std::regex(R"(ARG RS_UID=(\d+))")));
  EXPECT_GE(std::stoi(m[1]), 1000) << "a numeric, non-system, non-root UID";

  auto expose = final("EXPOSE");
  ASSERT_EQ(expose.size(), 1u);
  EXPECT_EQ(expose[0].args, "9107");
  auto entrypoint = final("ENTRYPOINT");
  ASSERT_EQ(entrypoint.size(), 1u);
  EXPECT_EQ(entrypoint[0].args, R"(["/usr/local/bin/rollback-sidecar"])");
  auto cmd = final("CMD");
  ASSERT_EQ(cmd.size(), 1u);
  EXPECT_EQ(cmd[0].args, R"(["--config", "/etc/rollback-sidecar/config.yml"])");
  auto healthcheck = final("HEALTHCHECK");
  ASSERT_EQ(healthcheck.size(), 1u);
  EXPECT_NE(healthcheck[0].args.find("http://127.0.0.1:9107/healthz"), std::string::npos) << healthcheck[0].args;
  // Nothing from the build stage but the binary (and the default policy from the context).
  for (const auto& i : final("COPY")) {
    if (i.args.find("--from=") != std::string::npos) {
      EXPECT_NE(i.args.find("/usr/local/bin/rollback-sidecar"), std::string::npos) << "COPY " << i.args;
    }
  }
}

TEST_F(DockerfileTest, BuildStepsAreCommandsOfTheScript) {
  const std::string script = rs::testing::read_file(source_path("docker/build-steps.sh"));
  ASSERT_FALSE(script.empty());
  std::regex step(R"(build-steps\.sh\s+([a-z-]+))");
  int steps = 0;
  for (const auto& i : instructions_) {
    if (i.keyword != "RUN") continue;
    for (std::sregex_iterator it(i.args.begin(), i.args.end(), step), end; it != end; ++it) {
      ++steps;
      EXPECT_NE(script.find("\n  " + (*it)[1].str() + ")"), std::string::npos)
          << "the Dockerfile runs build-steps.sh " << (*it)[1] << ", which the script does not know";
    }
  }
  EXPECT_GE(steps, 6);
  // The build stage verifies both binaries (with readelf: package ownership), each runtime stage its own.
  for (const auto& needle :
       {"build-steps.sh build /src", "build-steps.sh verify /out sidecar", "build-steps.sh verify /out workload",
        "build-steps.sh verify / sidecar", "build-steps.sh verify / workload", "build-steps.sh install-runtime sidecar",
        "build-steps.sh install-runtime workload"})
    EXPECT_NE(text_.find(needle), std::string::npos) << needle;
}

TEST_F(DockerfileTest, CopiedSourcesExistAndPassTheDockerignore) {
  const std::string ignore = rs::testing::read_file(source_path("docker/Dockerfile.dockerignore"));
  ASSERT_FALSE(ignore.empty()) << "docker/Dockerfile.dockerignore missing (keeps build trees out of the context)";
  for (const auto& i : instructions_) {
    if (i.keyword != "COPY" || i.args.find("--from=") != std::string::npos) continue;
    std::istringstream words(i.args);
    std::vector<std::string> parts;
    for (std::string w; words >> w;) parts.push_back(w);
    ASSERT_GE(parts.size(), 2u);
    for (std::size_t k = 0; k + 1 < parts.size(); ++k) {
      std::string src = parts[k];
      EXPECT_EQ(access(source_path(src).c_str(), R_OK), 0) << "COPY " << src << ": not in the repository";
      if (!src.empty() && src.back() == '/') src.pop_back();
      EXPECT_TRUE(ignore.find("!" + src + "\n") != std::string::npos ||
                  ignore.find("!" + src + "/\n") != std::string::npos)
          << "COPY " << src << " is excluded by docker/Dockerfile.dockerignore";
    }
  }
}

TEST_F(DockerfileTest, PackageListsAreDebianPackagesOfThisProject) {
  const std::string steps = source_path("docker/build-steps.sh");
  // Build packages: all among scripts/install-deps.sh's, so the host build and the image agree.
  RunResult build = run({steps, "build-packages"});
  ASSERT_EQ(build.exit_code, 0) << build.describe();
  const std::string install_deps = rs::testing::read_file(source_path("scripts/install-deps.sh"));
  std::istringstream pkgs(build.out);
  for (std::string p; pkgs >> p;)
    EXPECT_TRUE(std::regex_search(
        install_deps, std::regex("[ (]" + std::regex_replace(p, std::regex(R"([.+])"), R"(\$&)") + "[ \n)]")))
        << p << " is not in scripts/install-deps.sh";
  // Runtime packages: real Debian 12 package names, installed here by the -dev packages.
  for (const auto& image : {"sidecar", "workload"}) {
    RunResult runtime = run({steps, "runtime-packages", image});
    ASSERT_EQ(runtime.exit_code, 0) << runtime.describe();
    std::istringstream names(runtime.out);
    for (std::string p; names >> p;) {
      RunResult q = run({"dpkg-query", "-W", "-f=${Status}", p});
      EXPECT_NE(q.out.find("install ok installed"), std::string::npos)
          << image << " runtime package " << p << " is not an installed Debian package:\n"
          << q.describe();
    }
  }
  EXPECT_NE(run({steps, "runtime-packages", "nonsense"}).exit_code, 0);
}

// The HEALTHCHECK command, with the port moved to a free one, against the real sidecar binary:
// healthy (exit 0) while it runs, exit 1 once it is gone.
TEST_F(DockerfileTest, HealthcheckCommandSeesARunningSidecar) {
  RS_REQUIRE_SIDECAR_BINARY();
  auto healthcheck = final("HEALTHCHECK");
  ASSERT_EQ(healthcheck.size(), 1u);
  const std::string& args = healthcheck[0].args;
  const auto cmd_pos = args.find("CMD ");
  ASSERT_NE(cmd_pos, std::string::npos) << args;
  std::string command = args.substr(cmd_pos + 4);
  ASSERT_EQ(command.find('['), std::string::npos) << "expected the shell form (for `|| exit 1`): " << command;

  rs::testing::FakeHttpServer prometheus;
  prometheus.set_route(
      "/api/v1/query", 200,
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"0"]}]}})");
  rs::testing::TempDir dir;
  const int port = rs::testing::free_port();
  rs::testing::write_file(dir.file("config.yml"), "prometheus: {url: " + prometheus.url() +
                                                      "}\n"
                                                      "listen: 127.0.0.1:" +
                                                      std::to_string(port) +
                                                      "\n"
                                                      "evaluation_interval: 1s\n"
                                                      "dry_run: true\n"
                                                      "deployment: {name: checkout, stage: prod, strategy: canary}\n"
                                                      "rules:\n"
                                                      "  - {name: error-rate, query: 'vector(0)', above: 0.05}\n");
  const std::string local =
      std::regex_replace(command, std::regex("127\\.0\\.0\\.1:9107"), "127.0.0.1:" + std::to_string(port));
  ASSERT_NE(local, command) << "the HEALTHCHECK does not probe 127.0.0.1:9107";

  EXPECT_EQ(run({"/bin/sh", "-c", local}).exit_code, 1) << "healthy without a sidecar?";
  rs::testing::Process sidecar({kSidecarBinary, "--config", dir.file("config.yml")}, dir.file("sidecar.log"));
  std::string why;
  ASSERT_TRUE(rs::testing::wait_http_ok("http://127.0.0.1:" + std::to_string(port) + "/readyz", 15s, &why))
      << why << "\n"
      << sidecar.log();
  RunResult ok = run({"/bin/sh", "-c", local});
  EXPECT_EQ(ok.exit_code, 0) << ok.describe();
  sidecar.stop();
  RunResult gone = run({"/bin/sh", "-c", local});
  EXPECT_EQ(gone.exit_code, 1) << "Docker expects 1 for unhealthy:\n" << gone.describe();
}

}  // namespace
}  // namespace rs::deploy
