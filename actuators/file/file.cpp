#include "actuators/file/file.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "actuators/decision_vars.h"
#include "common/atomic_file.h"
#include "common/template.h"

namespace rs::actuators {

using Clock = std::chrono::steady_clock;

std::map<std::string, std::string> file_variables(const FileOptions& o, const DecisionContext& context, int w) {
  auto vars = decision_variables(context, w);
  vars["stable_name"] = o.stable_name;
  vars["canary_name"] = o.canary_name;
  vars["active"] = w == 100 ? o.canary_name : o.stable_name;
  return vars;
}

FileActuator::FileActuator(FileOptions options, std::shared_ptr<ProcessRunner> runner)
    : options_(std::move(options)), runner_(runner ? std::move(runner) : posix_process_runner()) {}

ActResult FileActuator::rollback(const DecisionContext& context, Clock::time_point deadline) {
  return apply(0, context, deadline);
}

ActResult FileActuator::set_canary_weight(int percent, const DecisionContext& context, Clock::time_point deadline) {
  if (percent < 0 || percent > 100)
    return ActResult::failure(describe() + ": canary weight " + std::to_string(percent) + " is not in 0-100", false);
  return apply(percent, context, deadline);
}

ActResult FileActuator::apply(int w, const DecisionContext& context, Clock::time_point deadline) {
  const std::string what = describe();
  try {
    std::string error;
    auto target = common::render_template(options_.content, file_variables(options_, context, w), &error);
    if (!target) return ActResult::failure(what + ": content: " + error, false);
    common::FileLock lock(options_.path + ".lock", deadline);
    if (!lock.locked()) return ActResult::failure(what + ": " + lock.error(), true);
    bool existed = true;
    auto current = common::read_file(options_.path, &error, &existed);
    if (!current && existed) return ActResult::failure(what + ": cannot read: " + error, true);
    const bool written = current && *current == *target;
    if (written && !post_command_owed_)
      return ActResult::noop(what + ": already has the content for canary weight " + std::to_string(w));
    if (!written && !common::write_file_atomically(options_.path, *target, options_.mode, &error))
      return ActResult::failure(what + ": " + error, true);
    std::string detail =
        what + (written ? ": content already written" : ": written") + " (canary weight " + std::to_string(w) + ")";
    if (!options_.post_command.empty()) {
      ProcessSpec spec;
      spec.argv = options_.post_command;
      spec.timeout = options_.timeout;
      spec.deadline = deadline;
      ProcessResult r = runner_->run(spec);
      if (!r.succeeded()) {
        post_command_owed_ = true;
        std::string failed = what + ": " + render_argv(options_.post_command) + " failed (" + failure_summary(r) +
                             "); the new file stays in place";
        spdlog::error("{}", failed);
        return ActResult::failure(failed, r.status != ProcessResult::Status::kSpawnFailed);
      }
      detail += "; " + render_argv(options_.post_command) + " exit code 0";
    }
    post_command_owed_ = false;
    auto check = common::read_file(options_.path, &error);
    if (!check || *check != *target)
      return ActResult::failure(what + ": verification failed: the file changed under us", true);
    return ActResult::changed(detail + "; verified");
  } catch (const std::exception& e) {
    return ActResult::failure(what + ": internal error: " + e.what(), true);
  }
}

ActResult FileActuator::probe(Clock::time_point) {
  const std::string dir = common::directory_of(options_.path);
  if (::access(dir.c_str(), W_OK) != 0)
    return ActResult::failure(describe() + ": directory " + dir + " is missing or not writable", false);
  return ActResult::noop(describe() + ": directory " + dir + " is writable");
}

std::unique_ptr<Actuator> make_file_actuator(Settings& settings, const Environment&,
                                             std::shared_ptr<ProcessRunner> runner) {
  FileOptions o;
  o.path = settings.string("path");
  o.content = settings.string("content");
  o.stable_name = settings.string("stable_name", o.stable_name);
  o.canary_name = settings.string("canary_name", o.canary_name);
  if (settings.has("content")) {
    std::string why;
    if (!common::render_template(o.content, file_variables(o, DecisionContext{}, 0), &why))
      settings.error("content", why);
  }
  if (settings.kind("post_command") == Settings::Kind::kScalar) {
    settings.string("post_command");
    settings.error("post_command", "must be a list of arguments (no shell runs it), e.g. [systemctl, reload, envoy]");
  } else {
    o.post_command = settings.string_list("post_command", std::vector<std::string>{});
    if (settings.has("post_command") && (o.post_command.empty() || o.post_command[0].empty()))
      settings.error("post_command", "must be a non-empty list of arguments");
  }
  o.timeout = settings.duration("timeout", std::chrono::milliseconds(30000));
  if (o.timeout.count() <= 0) settings.error("timeout", "must be greater than 0");
  const std::string mode = settings.string("mode", "0644");
  char* end = nullptr;
  unsigned long m = std::strtoul(mode.c_str(), &end, 8);
  if (mode.empty() || *end != '\0' || m > 0777) {
    settings.error("mode", "'" + mode + "' is not an octal file mode like 0644");
  } else {
    o.mode = static_cast<unsigned>(m);
  }
  return std::make_unique<FileActuator>(std::move(o), std::move(runner));
}

}  // namespace rs::actuators
