// The exec actuator and the POSIX process runner, with real scripts in a temp dir.
#include <gtest/gtest.h>

#include <signal.h>
#include <fstream>
#include <sys/stat.h>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "actuators/exec/exec.h"
#include "common/process.h"
#include "tests/actuators/test_settings.h"
#include "tests/support/harness.h"

namespace rs::actuators {
namespace {

using namespace std::chrono_literals;
using rs::testing::MapSettings;
using rs::testing::TempDir;
using Clock = std::chrono::steady_clock;

std::string script(const TempDir& dir, const std::string& name, const std::string& body) {
  std::string path = dir.file(name);
  rs::testing::write_file(path, "#!/bin/sh\n" + body);
  chmod(path.c_str(), 0755);
  return path;
}

// Gone, or a zombie waiting for its new parent (init) to reap it: either way not running.
bool not_running(pid_t pid) {
  std::string stat = rs::testing::read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && (stat[paren + 2] == 'Z' || stat[paren + 2] == 'X');
}

const DecisionContext kContext{"checkout",   "prod", "canary", "rule",
                               "error-rate", "0.31", "0.05",   "error rate 31% > 5% for 5m; rolling back"};

TEST(ExecActuator, DecisionContextAndExtraEnvArriveAsEnvironmentVariables) {
  TempDir dir;
  std::string out = dir.file("env.txt");
  std::string cmd = script(dir, "rollback.sh", "env | grep -E '^(ROLLBACK_|EXTRA_)' | sort > \"$OUT_FILE\"\n");
  MapSettings settings({{"command", MapSettings::List{cmd}},
                        {"env", MapSettings::Map{{"OUT_FILE", out}, {"EXTRA_VAR", "x y"}}},
                        {"timeout", "10s"}});
  auto actuator = make_exec_actuator(settings, Environment{"canary"});
  ASSERT_TRUE(settings.errors.empty()) << settings.all_errors();
  ActResult r = actuator->rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged);
  EXPECT_EQ(rs::testing::read_file(out),
            "EXTRA_VAR=x y\n"
            "ROLLBACK_DEPLOYMENT=checkout\n"
            "ROLLBACK_REASON=error rate 31% > 5% for 5m; rolling back\n"
            "ROLLBACK_RULE=error-rate\n"
            "ROLLBACK_STAGE=prod\n"
            "ROLLBACK_STRATEGY=canary\n"
            "ROLLBACK_THRESHOLD=0.05\n"
            "ROLLBACK_TRIGGER=rule\n"
            "ROLLBACK_VALUE=0.31\n");
}

TEST(ExecActuator, ExitZeroIsChangedWithStdoutInDetail) {
  ExecOptions o;
  o.command = {"sh", "-c", "echo switched traffic to v1"};  // argv list; PATH lookup for "sh"
  ActResult r = ExecActuator(o).rollback(kContext, Clock::now() + 10s);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(r.change, Change::kChanged);
  EXPECT_NE(r.detail.find("exit code 0"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("switched traffic to v1"), std::string::npos) << r.detail;
}

TEST(ExecActuator, NonZeroExitFailsNamingCommandCodeAndStderr) {
  TempDir dir;
  std::string cmd = script(dir, "fail.sh", "echo partial\necho 'router said no' >&2\nexit 3\n");
  ExecOptions o;
  o.command = {cmd, "--now"};
  ActResult r = ExecActuator(o).rollback(kContext, Clock::now() + 10s);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.retryable);
  EXPECT_NE(r.detail.find(cmd + " --now"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("exit code 3"), std::string::npos) << r.detail;
  EXPECT_NE(r.detail.find("stderr: router said no"), std::string::npos) << r.detail;
}

TEST(ExecActuator, DeathBySignalFails) {
  ExecOptions o;
  o.command = {"/bin/sh", "-c", "kill -9 $$"};
  ActResult r = ExecActuator(o).rollback(kContext, Clock::now() + 10s);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("killed by signal 9"), std::string::npos) << r.detail;
}

TEST(ExecActuator, MissingProgramIsNonRetryable) {
  ExecOptions o;
  o.command = {"/nonexistent/rollback.sh"};
  ActResult r = ExecActuator(o).rollback(kContext, Clock::now() + 10s);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.retryable);
  EXPECT_NE(r.detail.find("cannot start: No such file or directory"), std::string::npos) << r.detail;
}

TEST(ExecActuator, TimeoutKillsTheWholeProcessGroup) {
  TempDir dir;
  std::string pidfile = dir.file("child.pid");
  // Ignores SIGTERM (inherited by the child), so only the SIGKILL to the group can end both.
  std::string cmd = script(dir, "hang.sh", "trap '' TERM\nsleep 300 &\necho $! > \"$1\"\nwait\n");
  ExecOptions o;
  o.command = {cmd, pidfile};
  o.timeout = 1500ms;
  o.kill_grace = 300ms;
  auto start = Clock::now();
  ActResult r = ExecActuator(o).rollback(kContext, Clock::now() + 30s);
  auto took = Clock::now() - start;
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.retryable);
  EXPECT_NE(r.detail.find("timed out (limit 1500ms); process group killed"), std::string::npos) << r.detail;
  EXPECT_GE(took, 1500ms);
  EXPECT_LT(took, 5s);

  std::string pid_text = rs::testing::read_file(pidfile);
  ASSERT_FALSE(pid_text.empty()) << "the script did not start its child within the timeout";
  pid_t child = static_cast<pid_t>(std::stol(pid_text));
  EXPECT_TRUE(rs::testing::wait_until([&] { return not_running(child); }, 5s, 20ms))
      << "child sleep " << child << " survived the timeout";
}

TEST(ExecActuator, DeadlineStopsTheCommandBeforeItsTimeout) {
  TempDir dir;
  std::string pidfile = dir.file("sleep.pid");
  std::string cmd = script(dir, "slow.sh", "echo $$ > \"$1\"\nexec sleep 300\n");
  ExecOptions o;
  o.command = {cmd, pidfile};
  o.timeout = 30s;
  auto start = Clock::now();
  auto deadline = start + 800ms;
  ActResult r = ExecActuator(o).rollback(kContext, deadline);
  EXPECT_LE(Clock::now(), deadline + 200ms);  // the grace is carved out of the deadline
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("timed out"), std::string::npos) << r.detail;
  std::string pid_text = rs::testing::read_file(pidfile);
  if (!pid_text.empty()) {
    pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    EXPECT_TRUE(not_running(pid));  // our own child: reaped before rollback() returned
  }
}

TEST(ExecActuator, OutputIsBoundedWithAMarker) {
  ExecOptions o;
  o.command = {"/bin/sh", "-c",
               "head -c 1000000 /dev/zero | tr '\\0' x; head -c 300000 /dev/zero | tr '\\0' e >&2; exit 1"};
  o.max_output_bytes = 1000;
  ActResult r = ExecActuator(o).rollback(kContext, Clock::now() + 20s);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("exit code 1"), std::string::npos);
  EXPECT_LT(r.detail.size(), 1500u) << r.detail;
  EXPECT_NE(r.detail.find("eeee"), std::string::npos);

  ProcessSpec spec;
  spec.argv = o.command;
  spec.max_output_bytes = 1000;
  ProcessResult p = posix_process_runner()->run(spec);
  ASSERT_EQ(p.status, ProcessResult::Status::kExited) << p.spawn_error;
  EXPECT_EQ(p.exit_code, 1);
  EXPECT_TRUE(p.out_truncated);
  EXPECT_TRUE(p.err_truncated);
  EXPECT_EQ(p.out, std::string(500, 'x') + "\n[... 999000 bytes truncated ...]\n" + std::string(500, 'x'));
  EXPECT_EQ(p.err, std::string(500, 'e') + "\n[... 299000 bytes truncated ...]\n" + std::string(500, 'e'));
}

TEST(ExecActuator, LogsInfoOnSuccessAndErrorOnFailure) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("exec-test", sink));
  ExecOptions ok, bad;
  ok.command = {"/bin/sh", "-c", "echo all good"};
  bad.command = {"/bin/sh", "-c", "echo broken >&2; exit 2"};
  ExecActuator(ok).rollback(kContext, Clock::now() + 10s);
  ExecActuator(bad).rollback(kContext, Clock::now() + 10s);
  spdlog::set_default_logger(previous);
  auto logged = sink->last_raw();
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[0].level, spdlog::level::info);
  EXPECT_NE(std::string(logged[0].payload.data(), logged[0].payload.size()).find("all good"), std::string::npos);
  EXPECT_EQ(logged[1].level, spdlog::level::err);
  EXPECT_NE(std::string(logged[1].payload.data(), logged[1].payload.size()).find("broken"), std::string::npos);
}

// The runner is injected: a fake sees exactly what would be run.
class RecordingRunner : public ProcessRunner {
 public:
  ProcessResult run(const ProcessSpec& spec) override {
    seen = spec;
    ProcessResult r;
    r.status = ProcessResult::Status::kExited;
    r.exit_code = 0;
    return r;
  }
  ProcessSpec seen;
};

TEST(ExecActuator, PassesSpecToTheInjectedRunner) {
  auto runner = std::make_shared<RecordingRunner>();
  ExecOptions o;
  o.command = {"/usr/local/bin/rollback", "--service", "checkout"};
  o.timeout = 7s;
  o.env = {{"REGION", "eu-1"}};
  o.max_output_bytes = 4096;
  auto deadline = Clock::now() + 20s;
  ActResult r = ExecActuator(o, runner).rollback(kContext, deadline);
  EXPECT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(runner->seen.argv, o.command);
  EXPECT_EQ(runner->seen.timeout, 7s);
  EXPECT_EQ(runner->seen.deadline, deadline);
  EXPECT_EQ(runner->seen.max_output_bytes, 4096u);
  EXPECT_EQ(runner->seen.env.at("REGION"), "eu-1");
  EXPECT_EQ(runner->seen.env.at("ROLLBACK_TRIGGER"), "rule");
  EXPECT_EQ(runner->seen.env.at("ROLLBACK_REASON"), kContext.reason);
}

TEST(ExecActuator, ProbeChecksTheProgramWithoutRunningIt) {
  TempDir dir;
  std::string marker = dir.file("ran");
  ExecOptions o;
  o.command = {"sh", "-c", "touch " + marker};
  ActResult ok = ExecActuator(o).probe(Clock::now() + 5s);
  EXPECT_TRUE(ok.ok) << ok.detail;
  EXPECT_EQ(rs::testing::read_file(marker), "");
  EXPECT_FALSE(std::ifstream(marker).good()) << "probe ran the command";

  o.command = {"/nonexistent/rollback.sh"};
  ActResult missing = ExecActuator(o).probe(Clock::now() + 5s);
  EXPECT_FALSE(missing.ok);
  EXPECT_FALSE(missing.retryable);
  EXPECT_NE(missing.detail.find("not found"), std::string::npos) << missing.detail;
}

TEST(ExecFactory, RejectsShellStringsAndBadSettings) {
  MapSettings shell({{"command", std::string("curl -X POST http://router/rollback && echo done")}, {"timeout", "5s"}});
  make_exec_actuator(shell, Environment{"canary"});
  ASSERT_EQ(shell.errors.size(), 1u) << shell.all_errors();
  EXPECT_NE(shell.errors[0].find("command: must be a list of arguments"), std::string::npos) << shell.errors[0];

  MapSettings bad({{"command", MapSettings::List{}},
                   {"timeout", "0s"},
                   {"env", MapSettings::Map{{"ROLLBACK_RULE", "x"}}},
                   {"max_output_bytes", "0"}});
  make_exec_actuator(bad, Environment{"canary"});
  std::string all = bad.all_errors();
  EXPECT_NE(all.find("command: must be a non-empty list"), std::string::npos) << all;
  EXPECT_NE(all.find("timeout: must be greater than 0"), std::string::npos) << all;
  EXPECT_NE(all.find("env: \"ROLLBACK_RULE\""), std::string::npos) << all;
  EXPECT_NE(all.find("max_output_bytes"), std::string::npos) << all;

  MapSettings missing;
  make_exec_actuator(missing, Environment{"canary"});
  EXPECT_NE(missing.all_errors().find("command: missing"), std::string::npos) << missing.all_errors();

  MapSettings good({{"command", MapSettings::List{"/bin/true"}}});
  auto actuator = make_exec_actuator(good, Environment{"blue-green"});
  EXPECT_TRUE(good.errors.empty()) << good.all_errors();
  EXPECT_EQ(actuator->type(), "exec");
  EXPECT_EQ(actuator->describe(), "exec /bin/true");
}

TEST(ProcessRunner, RenderArgvQuotesOnlyWhereNeeded) {
  EXPECT_EQ(render_argv({"/bin/echo", "a b", "it's", "", "--x=1"}), "/bin/echo 'a b' 'it'\\''s' '' --x=1");
}

}  // namespace
}  // namespace rs::actuators
