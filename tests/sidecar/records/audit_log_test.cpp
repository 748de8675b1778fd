#include "sidecar/records/audit_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using rs::testing::read_file;
using rs::testing::TempDir;
using rs::testing::write_file;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// Every line of the file parsed; fails the test on a line that is not a JSON object or a
// file that does not end in '\n'.
std::vector<nlohmann::json> parse_lines(const std::string& path) {
  const std::string text = read_file(path);
  if (!text.empty()) {
    EXPECT_EQ(text.back(), '\n') << path << " ends in a torn line";
  }
  std::vector<nlohmann::json> out;
  for (const auto& line : lines_of(text)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_TRUE(!j.is_discarded() && j.is_object()) << path << ": not a JSON object: " << line;
    out.push_back(j);
  }
  return out;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

class FixedClock : public Clock {
 public:
  explicit FixedClock(WallTime t) : t_(t) {}
  WallTime wall() const override { return t_; }
  MonoTime mono() const override { return MonoTime{}; }
  bool sleep_until(MonoTime) override { return true; }
  void interrupt() override {}

 private:
  WallTime t_;
};

TEST(AuditLog, OneJsonObjectPerLineWithTsSeqEventFirst) {
  TempDir dir;
  AuditLog log(dir.file("audit.jsonl"));
  std::string error;
  ASSERT_TRUE(log.open(&error)) << error;
  EXPECT_TRUE(log.record("startup", {{"version", "1.2.3"}, {"deployment", "checkout"}}));
  EXPECT_TRUE(log.record("decision", {{"decision", {{"id", 1}, {"kind", "rollback"}, {"value", 0.07}}}}));
  EXPECT_TRUE(log.record("shutdown"));

  const auto text = read_file(dir.file("audit.jsonl"));
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 3u) << text;
  const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  const char* events[] = {"startup", "decision", "shutdown"};
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].rfind("{\"ts\":\"", 0), 0u) << lines[i];
    EXPECT_NE(lines[i].find("\"seq\":" + std::to_string(i + 1) + ",\"event\":\"" + events[i] + "\""), std::string::npos)
        << lines[i];
    auto j = nlohmann::json::parse(lines[i]);
    EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(), rfc3339)) << j["ts"];
    EXPECT_EQ(j["seq"], i + 1);
    EXPECT_EQ(j["event"], events[i]);
  }
  auto first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["version"], "1.2.3");
  EXPECT_EQ(first["deployment"], "checkout");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["decision"]["kind"], "rollback");
  EXPECT_EQ(log.next_seq(), 4u);
  EXPECT_EQ(log.write_errors(), 0u);
}

TEST(AuditLog, TimestampsComeFromTheInjectedClock) {
  TempDir dir;
  WallTime t;
  ASSERT_TRUE(parse_rfc3339("2026-11-22T21:10:29.123Z", &t));
  FixedClock clock(t);
  AuditLog log(dir.file("audit.jsonl"));
  log.set_clock(&clock);
  std::string error;
  ASSERT_TRUE(log.open(&error)) << error;
  log.record("freeze", {{"actor", "alice"}, {"reason", "release train"}});
  auto lines = parse_lines(dir.file("audit.jsonl"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["ts"], "2026-11-22T21:10:29.123Z");
  EXPECT_EQ(lines[0]["actor"], "alice");
}

TEST(AuditLog, ReservedKeysNonObjectFieldsAndBadUtf8) {
  TempDir dir;
  AuditLog log(dir.file("audit.jsonl"));
  std::string error;
  ASSERT_TRUE(log.open(&error)) << error;
  EXPECT_TRUE(log.record("notification", {{"seq", 99}, {"event", "forged"}, {"ts", "x"}, {"notifier", "slack"}}));
  EXPECT_TRUE(log.record("verification", nlohmann::json::array({1, 2})));
  EXPECT_TRUE(log.record("unfreeze", nullptr));
  EXPECT_TRUE(log.record("actuator_call", {{"detail", std::string("bad \xff utf8\nnewline")}}));
  auto lines = parse_lines(dir.file("audit.jsonl"));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0]["seq"], 1);
  EXPECT_EQ(lines[0]["event"], "notification");
  EXPECT_NE(lines[0]["ts"], "x");
  EXPECT_EQ(lines[0]["notifier"], "slack");
  EXPECT_EQ(lines[1]["data"], nlohmann::json::array({1, 2}));
  EXPECT_EQ(lines[2].size(), 3u);  // ts, seq, event only
  EXPECT_NE(lines[3]["detail"].get<std::string>().find("newline"), std::string::npos);
}

TEST(AuditLog, SeqContinuesAcrossReopen) {
  TempDir dir;
  {
    AuditLog log(dir.file("audit.jsonl"));
    std::string error;
    ASSERT_TRUE(log.open(&error)) << error;
    log.record("startup");
    log.record("shutdown");
  }
  AuditLog log(dir.file("audit.jsonl"));
  std::string error;
  ASSERT_TRUE(log.open(&error)) << error;
  EXPECT_FALSE(log.repaired());
  log.record("startup");
  auto lines = parse_lines(dir.file("audit.jsonl"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2]["seq"], 3);
}

TEST(AuditLog, TornTailIsCutOffOnOpenAndTheRepairRecorded) {
  TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  const std::string good =
      "{\"ts\":\"2026-11-22T21:00:00.000Z\",\"seq\":1,\"event\":\"startup\"}\n"
      "{\"ts\":\"2026-11-22T21:00:01.000Z\",\"seq\":2,\"event\":\"decision\",\"decision\":{\"id\":1}}\n";
  const std::string torn = "{\"ts\":\"2026-11-22T21:00:02.000Z\",\"seq\":3,\"event\":\"actuator_ca";
  write_file(path, good + torn);

  AuditLog log(path);
  std::string error;
  ASSERT_TRUE(log.open(&error)) << error;
  EXPECT_TRUE(log.repaired());
  log.record("startup");

  const std::string text = read_file(path);
  EXPECT_EQ(text.rfind(good, 0), 0u) << "complete lines must be kept as they were:\n" << text;
  EXPECT_EQ(text.find("actuator_ca"), std::string::npos) << text;
  auto lines = parse_lines(path);
  ASSERT_EQ(lines.size(), 4u) << text;
  EXPECT_EQ(lines[2]["event"], "audit_log_repaired");
  EXPECT_EQ(lines[2]["seq"], 3);
  EXPECT_EQ(lines[2]["truncated_bytes"], torn.size());
  EXPECT_EQ(lines[2]["path"], path);
  EXPECT_EQ(lines[3]["event"], "startup");
  EXPECT_EQ(lines[3]["seq"], 4);
}

TEST(AuditLog, FileHoldingOnlyATornLineIsEmptiedAndRepaired) {
  TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  write_file(path, "{\"ts\":\"2026-11-22T21:00:02.000Z\",\"se");
  AuditLog log(path);
  std::string error;
  ASSERT_TRUE(log.open(&error)) << error;
  EXPECT_TRUE(log.repaired());
  auto lines = parse_lines(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["event"], "audit_log_repaired");
  EXPECT_EQ(lines[0]["seq"], 1);
}

TEST(AuditLog, RotatesAtMaxBytesKeepingKeepFilesEachParseable) {
  TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  constexpr std::size_t kMax = 1024;
  constexpr int kKeep = 3;
  constexpr int kRecords = 120;
  AuditLog log(path, kMax, kKeep);
  std::string error;
  ASSERT_TRUE(log.open(&error)) << error;
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_TRUE(log.record("decision", {{"i", i}, {"padding", std::string(60, 'x')}}));
  }
  ASSERT_TRUE(exists(path));
  for (int i = 1; i <= kKeep; ++i) EXPECT_TRUE(exists(path + "." + std::to_string(i))) << i;
  EXPECT_FALSE(exists(path + "." + std::to_string(kKeep + 1)));

  // Oldest to newest: .3, .2, .1, current; seqs contiguous and ending at the last record.
  std::vector<std::string> files = {path + ".3", path + ".2", path + ".1", path};
  std::uint64_t previous = 0;
  for (const auto& f : files) {
    EXPECT_LE(read_file(f).size(), kMax) << f;
    auto lines = parse_lines(f);
    EXPECT_FALSE(lines.empty()) << f;
    for (const auto& j : lines) {
      const auto seq = j["seq"].get<std::uint64_t>();
      if (previous != 0) {
        EXPECT_EQ(seq, previous + 1) << f;
      }
      previous = seq;
    }
  }
  EXPECT_EQ(previous, static_cast<std::uint64_t>(kRecords));
}

TEST(AuditLog, SeqContinuesFromTheRotatedFileWhenTheCurrentOneIsNew) {
  TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  write_file(path + ".1", "{\"ts\":\"2026-11-22T21:00:00.000Z\",\"seq\":41,\"event\":\"shutdown\"}\n");
  AuditLog log(path);
  std::string error;
  ASSERT_TRUE(log.open(&error)) << error;
  log.record("startup");
  auto lines = parse_lines(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["seq"], 42);
}

TEST(AuditLog, ConcurrentRecordsNeverInterleave) {
  TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  AuditLog log(path);
  std::string error;
  ASSERT_TRUE(log.open(&error)) << error;
  constexpr int kThreads = 4;
  constexpr int kEach = 60;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        log.record("actuator_call", {{"thread", t}, {"i", i}, {"detail", std::string(200 + t * 50, 'a' + t)}});
      }
    });
  }
  for (auto& th : threads) th.join();

  auto lines = parse_lines(path);
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(kThreads * kEach));
  std::set<std::uint64_t> seqs;
  std::map<int, int> next_i;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const auto& j = lines[n];
    EXPECT_EQ(j["seq"], n + 1) << "seq follows file order";
    seqs.insert(j["seq"].get<std::uint64_t>());
    const int t = j["thread"];
    EXPECT_EQ(j["i"], next_i[t]++) << "thread " << t << "'s records in its order";
    EXPECT_EQ(j["detail"], std::string(200 + t * 50, 'a' + t));
  }
  EXPECT_EQ(seqs.size(), lines.size());
}

TEST(AuditLog, EmptyPathDisablesIt) {
  AuditLog log("");
  std::string error;
  EXPECT_FALSE(log.enabled());
  EXPECT_TRUE(log.open(&error));
  EXPECT_TRUE(log.record("startup", {{"x", 1}}));
  EXPECT_EQ(log.write_errors(), 0u);
}

TEST(AuditLog, MissingDirectoryIsAnOpenErrorNamingThePath) {
  TempDir dir;
  const std::string path = dir.file("no-such-dir/audit.jsonl");
  AuditLog log(path);
  std::string error;
  EXPECT_FALSE(log.open(&error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("does not exist"), std::string::npos) << error;
  EXPECT_FALSE(exists(dir.file("no-such-dir"))) << "open() must not create the directory";
}

TEST(AuditLog, WriteErrorsAreCountedAndReportedNeverThrown) {
  // /dev/full accepts open() and fails every write() with ENOSPC.
  if (!exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  AuditLog log("/dev/full");
  std::string error;
  ASSERT_TRUE(log.open(&error)) << error;
  std::atomic<int> callbacks{0};
  log.set_on_write_error([&] { ++callbacks; });
  EXPECT_FALSE(log.record("decision", {{"id", 1}}));
  EXPECT_FALSE(log.record("decision", {{"id", 2}}));
  EXPECT_EQ(callbacks.load(), 2);
  EXPECT_EQ(log.write_errors(), 2u);
  EXPECT_EQ(log.next_seq(), 1u) << "a record that was not written does not use up a seq";
}

TEST(AuditLog, RecordAfterAFailedOpenRetriesTheOpen) {
  TempDir dir;
  const std::string path = dir.file("later/audit.jsonl");
  AuditLog log(path);
  std::string error;
  ASSERT_FALSE(log.open(&error));
  int callbacks = 0;
  log.set_on_write_error([&] { ++callbacks; });
  EXPECT_FALSE(log.record("startup"));
  EXPECT_EQ(callbacks, 1);
  ASSERT_EQ(::mkdir(dir.file("later").c_str(), 0750), 0);
  EXPECT_TRUE(log.record("startup"));
  auto lines = parse_lines(path);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["seq"], 1);
}

}  // namespace
}  // namespace rs::sidecar
