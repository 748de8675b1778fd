#include "actuators/nginx/nginx.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cctype>
#include <numeric>
#include <optional>

#include "common/atomic_file.h"

namespace rs::actuators {

namespace {

using Clock = std::chrono::steady_clock;

// A string or a list of strings under `key` (required, non-empty).
std::vector<std::string> one_or_more(Settings& settings, const std::string& key) {
  if (settings.kind(key) == Settings::Kind::kScalar) return {settings.string(key)};
  auto list = settings.string_list(key);
  if (settings.has(key) && list.empty()) settings.error(key, "must name at least one server (host:port)");
  return list;
}

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

// host:port, [v6]:port or unix:/path; no spaces, braces or semicolons that would break the file.
bool valid_server(const std::string& server) {
  if (server.empty()) return false;
  for (unsigned char c : server) {
    if (std::isspace(c) || c == ';' || c == '{' || c == '}' || c == '#' || c == '"' || c == '\'') return false;
  }
  return true;
}

// The share recorded on the first line of a file we wrote, "none" without a file, "?" otherwise.
std::string recorded_weight(const std::optional<std::string>& text) {
  if (!text) return "none";
  const std::string marker = "# rollback-sidecar nginx actuator: canary_weight=";
  if (text->rfind(marker, 0) != 0) return "?";
  return text->substr(marker.size(), text->find('\n') - marker.size());
}

}  // namespace

std::string render_nginx_upstream(const NginxOptions& o, int w) {
  std::string out = "# rollback-sidecar nginx actuator: canary_weight=" + std::to_string(w) +
                    "\n# Written by rollback-sidecar; edits here are overwritten.\nupstream " + o.upstream + " {\n";
  const bool blue_green = o.strategy == "blue-green";
  // Per-server weights so the sides' totals are in the ratio (100-w) : w.
  long long ws = static_cast<long long>(100 - w) * static_cast<long long>(o.canary.size());
  long long wc = static_cast<long long>(w) * static_cast<long long>(o.stable.size());
  long long g = std::gcd(ws, wc);
  if (g > 0) {
    ws /= g;
    wc /= g;
  }
  auto side = [&](const std::vector<std::string>& servers, long long weight) {
    for (const auto& s : servers) {
      if (weight > 0) {
        out += "    server " + s + " weight=" + std::to_string(weight) + ";\n";
      } else if (!blue_green) {
        out += "    server " + s + " down;\n";
      }
    }
  };
  side(o.stable, ws);
  side(o.canary, wc);
  out += "}\n";
  return out;
}

NginxActuator::NginxActuator(NginxOptions options, std::shared_ptr<ProcessRunner> runner)
    : options_(std::move(options)), runner_(runner ? std::move(runner) : posix_process_runner()) {}

std::string NginxActuator::describe() const {
  return "nginx upstream " + options_.upstream + " in " + options_.upstream_file;
}

ProcessResult NginxActuator::run(const std::vector<std::string>& argv, Clock::time_point deadline) {
  ProcessSpec spec;
  spec.argv = argv;
  spec.timeout = options_.timeout;
  spec.deadline = deadline;
  return runner_->run(spec);
}

ActResult NginxActuator::rollback(const DecisionContext&, Clock::time_point deadline) { return apply(0, deadline); }

ActResult NginxActuator::set_canary_weight(int percent, const DecisionContext&, Clock::time_point deadline) {
  if (percent < 0 || percent > 100)
    return ActResult::failure(describe() + ": canary weight " + std::to_string(percent) + " is not in 0-100", false);
  return apply(percent, deadline);
}

ActResult NginxActuator::apply(int w, Clock::time_point deadline) {
  const std::string what = describe();
  try {
    common::FileLock lock(options_.upstream_file + ".lock", deadline);
    if (!lock.locked()) return ActResult::failure(what + ": " + lock.error(), true);
    const std::string target = render_nginx_upstream(options_, w);
    std::string error;
    bool existed = true;
    std::optional<std::string> previous = common::read_file(options_.upstream_file, &error, &existed);
    if (!previous && existed) return ActResult::failure(what + ": cannot read: " + error, true);
    if (previous && *previous == target)
      return ActResult::noop(what + ": already canary weight " + std::to_string(w) + " (file unchanged)");

    auto restore = [&]() -> std::string {
      std::string why;
      if (previous) {
        if (!common::write_file_atomically(options_.upstream_file, *previous, 0644, &why))
          return "; RESTORING THE PREVIOUS FILE FAILED: " + why;
        return "; previous file restored";
      }
      if (::unlink(options_.upstream_file.c_str()) != 0) return "; removing the new file failed";
      return "; new file removed (there was none before)";
    };

    if (!common::write_file_atomically(options_.upstream_file, target, 0644, &error))
      return ActResult::failure(what + ": " + error, true);
    ProcessResult test = run(options_.test_command, deadline);
    if (!test.succeeded()) {
      std::string detail = what + ": " + render_argv(options_.test_command) + " rejected the new upstream (" +
                           failure_summary(test) + ")" + restore();
      spdlog::error("{}", detail);
      return ActResult::failure(detail, test.status == ProcessResult::Status::kTimedOut);
    }
    ProcessResult reload = run(options_.reload_command, deadline);
    if (!reload.succeeded()) {
      std::string detail =
          what + ": " + render_argv(options_.reload_command) + " failed (" + failure_summary(reload) + ")" + restore();
      spdlog::error("{}", detail);
      return ActResult::failure(detail, true);
    }
    auto written = common::read_file(options_.upstream_file, &error);
    if (!written || *written != target)
      return ActResult::failure(what + ": verification failed: the file changed under us after the reload", true);
    return ActResult::changed(what + ": canary weight " + recorded_weight(previous) + " -> " + std::to_string(w) +
                              "; config test passed, reloaded, file verified");
  } catch (const std::exception& e) {
    return ActResult::failure(what + ": internal error: " + e.what(), true);
  }
}

ActResult NginxActuator::probe(Clock::time_point) {
  const std::string what = describe();
  const std::string dir = common::directory_of(options_.upstream_file);
  if (::access(dir.c_str(), W_OK) != 0)
    return ActResult::failure(what + ": directory " + dir + " is missing or not writable", false);
  return ActResult::noop(what + ": directory " + dir + " is writable (commands not run by probe)");
}

std::unique_ptr<Actuator> make_nginx_actuator(Settings& settings, const Environment& env,
                                              std::shared_ptr<ProcessRunner> runner) {
  NginxOptions o;
  o.strategy = env.strategy;
  o.upstream_file = settings.string("upstream_file");
  o.upstream = settings.string("upstream");
  if (settings.has("upstream") && !valid_name(o.upstream))
    settings.error("upstream", "'" + o.upstream + "' is not a valid upstream name (letters, digits, _ - .)");
  o.stable = one_or_more(settings, "stable");
  o.canary = one_or_more(settings, "canary");
  for (const auto* side : {&o.stable, &o.canary}) {
    for (const auto& s : *side) {
      if (!valid_server(s))
        settings.error(side == &o.stable ? "stable" : "canary", "'" + s + "' is not a server address");
    }
  }
  for (const char* key : {"test_command", "reload_command"}) {
    auto& argv = std::string(key) == "test_command" ? o.test_command : o.reload_command;  // holds the default
    if (settings.kind(key) == Settings::Kind::kScalar) {
      settings.string(key);
      settings.error(key, "must be a list of arguments (no shell runs it), e.g. [nginx, -t]");
    } else {
      argv = settings.string_list(key, argv);
      if (argv.empty() || argv[0].empty()) settings.error(key, "must be a non-empty list of arguments");
    }
  }
  o.timeout = settings.duration("timeout", std::chrono::milliseconds(10000));
  if (o.timeout.count() <= 0) settings.error("timeout", "must be greater than 0");
  return std::make_unique<NginxActuator>(std::move(o), std::move(runner));
}

}  // namespace rs::actuators
