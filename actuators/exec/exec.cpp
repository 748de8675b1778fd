#include "actuators/exec/exec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/utf8.h"

namespace rs::actuators {

namespace {

using Clock = std::chrono::steady_clock;

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// The end of a stream on one line, for failure details (logs get the whole capture). Cut on a
// character boundary and made valid UTF-8: the detail goes into JSON records.
std::string tail_line(const std::string& text, size_t max = 512) {
  std::string t = trim(text);
  if (t.size() > max) t = "..." + common::cut_utf8_suffix(t, max);
  t = common::valid_utf8(t);
  std::string out;
  for (char c : t) {
    if (c == '\n') {
      out += " | ";
    } else if (c != '\r') {
      out += c;
    }
  }
  return out;
}

bool executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// Where posix_spawnp would find argv[0], or "" (PATH as the child will see it).
std::string find_program(const std::string& name, const std::map<std::string, std::string>& env) {
  if (name.find('/') != std::string::npos) return executable_file(name) ? name : "";
  std::string path;
  if (auto it = env.find("PATH"); it != env.end()) {
    path = it->second;
  } else if (const char* p = std::getenv("PATH")) {
    path = p;
  } else {
    path = "/bin:/usr/bin";
  }
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (executable_file(candidate)) return candidate;
  }
  return "";
}

// "; stdout: ...; stderr: ..." for the log, leaving out empty streams.
std::string streams(const ProcessResult& r) {
  std::string out;
  if (!trim(r.out).empty()) out += "; stdout: " + trim(r.out);
  if (!trim(r.err).empty()) out += "; stderr: " + trim(r.err);
  return out;
}

std::string signal_text(int sig) {
  const char* name = sig > 0 ? ::strsignal(sig) : nullptr;
  return "signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : "");
}

}  // namespace

std::map<std::string, std::string> decision_environment(const DecisionContext& c) {
  return {
      {"ROLLBACK_DEPLOYMENT", c.deployment}, {"ROLLBACK_STAGE", c.stage},   {"ROLLBACK_STRATEGY", c.strategy},
      {"ROLLBACK_TRIGGER", c.trigger},       {"ROLLBACK_RULE", c.rule},     {"ROLLBACK_VALUE", c.value},
      {"ROLLBACK_THRESHOLD", c.threshold},   {"ROLLBACK_REASON", c.reason},
  };
}

ExecActuator::ExecActuator(ExecOptions options, std::shared_ptr<ProcessRunner> runner)
    : options_(std::move(options)), runner_(runner ? std::move(runner) : posix_process_runner()) {}

std::string ExecActuator::describe() const { return "exec " + render_argv(options_.command); }

ActResult ExecActuator::rollback(const DecisionContext& context, Clock::time_point deadline) {
  const std::string what = describe();
  try {
    ProcessSpec spec;
    spec.argv = options_.command;
    spec.env = options_.env;
    for (auto& [k, v] : decision_environment(context)) spec.env[k] = v;  // the decision wins
    spec.timeout = options_.timeout;
    spec.deadline = deadline;
    spec.kill_grace = options_.kill_grace;
    spec.max_output_bytes = options_.max_output_bytes;
    const auto started = Clock::now();
    ProcessResult r = runner_->run(spec);

    using Status = ProcessResult::Status;
    if (r.status == Status::kSpawnFailed) {
      std::string detail = what + ": cannot start: " + r.spawn_error;
      spdlog::error("{}", detail);
      // A missing or non-executable program stays so; a passed deadline or a full process
      // table may not.
      bool permanent = r.spawn_error == std::strerror(ENOENT) || r.spawn_error == std::strerror(EACCES) ||
                       r.spawn_error == std::strerror(ENOEXEC) || r.spawn_error == "empty command";
      return ActResult::failure(detail, !permanent);
    }
    std::string took = " after " + std::to_string(r.elapsed.count()) + "ms";
    if (r.succeeded()) {
      spdlog::info("{}: exit code 0{}{}", what, took, streams(r));
      std::string detail = what + ": exit code 0" + took;
      if (!trim(r.out).empty()) detail += "; stdout: " + tail_line(r.out);
      return ActResult::changed(detail);
    }
    std::string how;
    switch (r.status) {
      case Status::kExited: how = "exit code " + std::to_string(r.exit_code); break;
      case Status::kSignaled: how = "killed by " + signal_text(r.signal); break;
      default: {
        auto limit =
            std::min(options_.timeout, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - started));
        how = "timed out (limit " + std::to_string(std::max<long long>(0, limit.count())) + "ms); process group killed";
        break;
      }
    }
    spdlog::error("{}: {}{}{}", what, how, took, streams(r));
    std::string detail = what + ": " + how + took;
    detail += trim(r.err).empty() ? "; stderr empty" : "; stderr: " + tail_line(r.err);
    return ActResult::failure(detail, true);
  } catch (const std::exception& e) {
    return ActResult::failure(what + ": internal error: " + e.what(), true);
  }
}

ActResult ExecActuator::probe(Clock::time_point) {
  const std::string what = describe();
  if (options_.command.empty() || options_.command[0].empty())
    return ActResult::failure(what + ": empty command", false);
  std::string found = find_program(options_.command[0], options_.env);
  if (found.empty())
    return ActResult::failure(what + ": " + options_.command[0] + " not found or not executable", false);
  return ActResult::noop(what + ": " + found + " is executable (not run by probe)");
}

std::unique_ptr<Actuator> make_exec_actuator(Settings& settings, const Environment&,
                                             std::shared_ptr<ProcessRunner> runner) {
  ExecOptions o;
  const auto kind = settings.kind("command");
  if (kind == Settings::Kind::kScalar) {
    std::string text = settings.string("command");  // read it so it is not also "unknown"
    settings.error("command",
                   "must be a list of arguments, e.g. [\"/usr/local/bin/rollback.sh\", \"--now\"], not the string \"" +
                       text + "\": no shell runs it, so quoting, pipes and $VARIABLES would not work as written");
  } else {
    o.command = settings.string_list("command");
    if (settings.has("command")) {
      if (o.command.empty() || o.command[0].empty()) {
        settings.error("command", "must be a non-empty list whose first element is the program to run");
      } else if (kind == Settings::Kind::kUnknown && o.command.size() == 1 &&
                 std::any_of(o.command[0].begin(), o.command[0].end(),
                             [](unsigned char c) { return std::isspace(c); })) {
        // The loader could not say whether this was a list; a lone element with spaces is
        // almost certainly a shell string that was accepted as a one-element list.
        settings.error("command", "\"" + o.command[0] +
                                      "\" looks like a shell string; give the arguments as a list, e.g. "
                                      "[\"/usr/local/bin/rollback.sh\", \"--now\"]");
      }
    }
  }
  o.timeout = settings.duration("timeout", std::chrono::milliseconds(30000));
  if (o.timeout.count() <= 0) settings.error("timeout", "must be greater than 0");
  o.env = settings.string_map("env");
  for (const auto& [k, v] : o.env) {
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos) {
      settings.error("env", "\"" + k + "\" is not a valid environment variable name");
    } else if (k.compare(0, 9, "ROLLBACK_") == 0) {
      settings.error("env", "\"" + k + "\": ROLLBACK_* variables are set from the decision and cannot be overridden");
    }
  }
  long long max_output = settings.integer("max_output_bytes", 64 * 1024);
  if (max_output < 1 || max_output > 64LL * 1024 * 1024) {
    settings.error("max_output_bytes", "must be between 1 and 67108864");
    max_output = 64 * 1024;
  }
  o.max_output_bytes = static_cast<std::size_t>(max_output);
  return std::make_unique<ExecActuator>(std::move(o), std::move(runner));
}

}  // namespace rs::actuators
