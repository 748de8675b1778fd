// docs/pipelines.md: every YAML example parses and has the shape its CI system needs, and every
// `rollback-sidecar gate` command line on the page (YAML, Jenkinsfile, TypeScript) uses the
// gate's real options with the required ones present.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Block {
  std::string lang;
  std::string text;
  int line = 0;  // where the fence opens, for failure messages
};

std::vector<Block> fenced_blocks(const std::string& path) {
  std::ifstream in(path);
  std::vector<Block> blocks;
  std::string line;
  int number = 0;
  Block* open = nullptr;
  while (std::getline(in, line)) {
    ++number;
    if (line.rfind("```", 0) == 0) {
      if (open) {
        open = nullptr;
      } else {
        blocks.push_back({line.substr(3), "", number});
        open = &blocks.back();
      }
      continue;
    }
    if (open) open->text += line + "\n";
  }
  EXPECT_EQ(open, nullptr) << path << ": unclosed fence";
  return blocks;
}

bool contains(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

// Every `rollback-sidecar gate ...` in `text`: options are the gate's, --config and --bake are given.
int check_gate_lines(const std::string& text, const std::string& where) {
  static const std::set<std::string> kOptions{"--config",      "--bake",      "--junit",     "--json",
                                              "--no-rollback", "--log-level", "--log-format"};
  int found = 0;
  for (std::size_t at = text.find("rollback-sidecar gate"); at != std::string::npos;
       at = text.find("rollback-sidecar gate", at + 1)) {
    std::string rest = text.substr(at, text.find('\n', at) - at);
    // The command ends where the shell (or the host language's string) continues with something else.
    for (const char* end : {"||", "&&", ";", "`", "')", "\")", " #"}) {
      auto cut = rest.find(end);
      if (cut != std::string::npos) rest = rest.substr(0, cut);
    }
    if (contains(rest, "[--")) continue;  // the synopsis, with its optional parts in brackets
    std::istringstream words(rest);
    std::string word;
    std::set<std::string> used;
    while (words >> word) {
      if (word.rfind("--", 0) != 0) continue;
      while (!word.empty() && std::string("'\",)").find(word.back()) != std::string::npos) word.pop_back();
      EXPECT_TRUE(kOptions.count(word)) << where << ": unknown gate option " << word << " in: " << rest;
      used.insert(word);
    }
    EXPECT_TRUE(used.count("--config") && used.count("--bake")) << where << ": gate without --config/--bake: " << rest;
    ++found;
  }
  return found;
}

TEST(PipelinesDocs, EveryExampleHasItsShapeAndARealGateCommand) {
  const std::string path = std::string(RS_SOURCE_DIR) + "/docs/pipelines.md";
  const auto blocks = fenced_blocks(path);
  ASSERT_FALSE(blocks.empty()) << path;
  int github = 0, gitlab = 0, buildspec = 0, config = 0, jenkins = 0, cdk = 0;
  for (const auto& b : blocks) {
    const std::string where = path + ":" + std::to_string(b.line);
    if (b.lang == "yaml") {
      YAML::Node doc;
      try {
        doc = YAML::Load(b.text);
      } catch (const YAML::Exception& e) {
        ADD_FAILURE() << where << ": YAML does not parse: " << e.what();
        continue;
      }
      ASSERT_TRUE(doc.IsMap()) << where;
      if (doc["jobs"]) {  // GitHub Actions
        ++github;
        EXPECT_TRUE(doc["on"]) << where << ": a workflow needs `on`";
        int gates = 0;
        for (const auto& job : doc["jobs"]) {
          ASSERT_TRUE(job.second["steps"].IsSequence()) << where << ": job " << job.first.as<std::string>();
          for (const auto& step : job.second["steps"]) {
            ASSERT_TRUE(step["run"] || step["uses"]) << where << ": a step needs run or uses";
            if (step["run"] && contains(step["run"].as<std::string>(), "rollback-sidecar gate")) ++gates;
          }
        }
        EXPECT_GE(gates, 2) << where << ": a gate after each canary step";
        EXPECT_TRUE(contains(b.text, "failure()")) << where << ": a rollback step on failure";
      } else if (doc["phases"]) {  // CodeBuild
        ++buildspec;
        EXPECT_TRUE(doc["version"]) << where << ": a buildspec needs `version`";
        int gates = 0;
        for (const auto& phase : doc["phases"]) {
          ASSERT_TRUE(phase.second["commands"].IsSequence())
              << where << ": phases." << phase.first.as<std::string>() << ".commands";
          for (const auto& c : phase.second["commands"])
            gates += contains(c.as<std::string>(), "rollback-sidecar gate");
        }
        EXPECT_GE(gates, 2) << where;
        EXPECT_EQ(doc["reports"].begin()->second["file-format"].as<std::string>(), "JUNITXML") << where;
      } else if (doc["prometheus"]) {  // a sidecar config (docs_examples_test runs check on it)
        ++config;
        EXPECT_TRUE(doc["rules"].IsSequence()) << where;
      } else if (doc["stages"]) {  // GitLab CI
        ++gitlab;
        int gates = 0, jobs = 0;
        bool on_failure = false;
        for (const auto& entry : doc) {
          const YAML::Node job = entry.second;
          if (!job.IsMap() || !job["script"]) continue;
          ++jobs;
          ASSERT_TRUE(job["script"].IsSequence()) << where << ": " << entry.first.as<std::string>();
          for (const auto& c : job["script"]) gates += contains(c.as<std::string>(), "rollback-sidecar gate");
          on_failure |= job["when"] && job["when"].as<std::string>() == "on_failure";
        }
        EXPECT_GE(jobs, 3) << where << ": jobs with `script`";
        EXPECT_GE(gates, 2) << where;
        EXPECT_TRUE(on_failure) << where << ": a rollback job when: on_failure";
      } else {
        ADD_FAILURE() << where << ": a YAML example that is none of GitHub, GitLab, buildspec, config";
      }
    } else if (b.lang == "groovy") {
      ++jenkins;
      EXPECT_TRUE(contains(b.text, "pipeline {") && contains(b.text, "stage(")) << where;
      EXPECT_TRUE(contains(b.text, "failure {")) << where << ": rollback in post { failure }";
    } else if (b.lang == "typescript") {
      ++cdk;
      EXPECT_TRUE(contains(b.text, "pipelines.ShellStep") && contains(b.text, "addStepDependency")) << where;
    }
    if (b.lang == "groovy" || b.lang == "typescript") {
      EXPECT_GE(check_gate_lines(b.text, where), 1) << where << ": no rollback-sidecar gate command";
    } else {
      check_gate_lines(b.text, where);
    }
  }
  EXPECT_EQ(github, 1);
  EXPECT_EQ(gitlab, 1);
  EXPECT_EQ(buildspec, 1);
  EXPECT_EQ(jenkins, 1);
  EXPECT_EQ(cdk, 1);
  EXPECT_EQ(config, 1);
}

// The contract table and the options are on the page.
TEST(PipelinesDocs, ContractTableAndOptionsAreDocumented) {
  const std::string doc = [] {
    std::ifstream in(std::string(RS_SOURCE_DIR) + "/docs/pipelines.md");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }();
  for (const char* option : {"--config", "--bake", "--junit", "--json", "--no-rollback", "GITHUB_STEP_SUMMARY"}) {
    EXPECT_TRUE(contains(doc, option)) << option;
  }
  for (const char* code : {"| 0 | pass", "| 1 | fail", "| 2 | inconclusive", "| 3 | could not judge"}) {
    EXPECT_TRUE(contains(doc, code)) << code;
  }
}

}  // namespace
