#include "actuators/haproxy/haproxy.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

namespace rs::actuators {

namespace {

using haproxy::ServerState;
using Clock = std::chrono::steady_clock;

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// HAProxy error replies that retrying cannot fix.
bool permanent_error(const std::string& reply) {
  static const char* kPatterns[] = {"No such server",  "No such backend",     "Can't find backend",
                                    "Unknown backend", "Permission denied",   "permission denied",
                                    "Unknown command", "static LB algorithm", "Require "};
  return std::any_of(std::begin(kPatterns), std::end(kPatterns),
                     [&](const char* p) { return reply.find(p) != std::string::npos; });
}

const char* op_state_name(int op) {
  switch (op) {
    case 0: return "down";
    case 1: return "starting";
    case 2: return "up";
    case 3: return "stopping";
    default: return "op-unknown";
  }
}

std::string show_server(const ServerState& s) {
  return s.name + " weight " + std::to_string(s.uweight) + "/" + std::to_string(s.iweight) + " " +
         haproxy::describe_admin_state(s.admin_state) + " " + op_state_name(s.op_state);
}

// HAProxy 2.6 keeps the config-maint bit (0x04, "disabled" in the configuration) after
// "set server ... state ready" clears forced maintenance, and the server then serves: a
// "disabled" server is 0x05. So only the other maintenance bits mean "out of rotation".
constexpr int kEffectiveMaint = haproxy::kAnyMaint & ~haproxy::kConfigMaint;

bool canary_out(const ServerState& c, const std::string& strategy) {
  bool forced_out = (c.admin_state & haproxy::kForcedMaint) != 0;
  return strategy == "blue-green" ? forced_out : (forced_out || c.uweight == 0);
}

// Names go into one command line: reject what would split or re-route it.
bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  return std::none_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isspace(c) || std::iscntrl(c) || c == ';' || c == '/' || c == '\\';
  });
}

}  // namespace

HaproxyActuator::HaproxyActuator(HaproxyOptions options)
    : options_(std::move(options)), client_(options_.address, options_.connect_timeout, options_.read_timeout) {}

std::string HaproxyActuator::prefix() const {
  return "haproxy " + options_.address.text + " backend " + options_.backend;
}

std::string HaproxyActuator::describe() const {
  return prefix() + " (servers canary=" + options_.canary + " stable=" + options_.stable + ", strategy " +
         options_.strategy + ")";
}

std::string HaproxyActuator::invalid() const {
  if (options_.strategy != "canary" && options_.strategy != "blue-green")
    return prefix() + ": unsupported strategy \"" + options_.strategy + "\"";
  for (const auto* name : {&options_.backend, &options_.canary, &options_.stable})
    if (!valid_name(*name)) return prefix() + ": invalid HAProxy name \"" + *name + "\"";
  return "";
}

std::string HaproxyActuator::show(const Snapshot& s) const {
  return "canary " + show_server(s.canary) + "; stable " + show_server(s.stable);
}

std::string HaproxyActuator::not_rolled_back(const Snapshot& s) const {
  std::vector<std::string> why;
  if (!canary_out(s.canary, options_.strategy)) {
    why.push_back(options_.strategy == "blue-green"
                      ? "canary " + s.canary.name + " is not in maintenance (" +
                            haproxy::describe_admin_state(s.canary.admin_state) + ")"
                      : "canary " + s.canary.name + " has weight " + std::to_string(s.canary.uweight));
  }
  if ((s.stable.admin_state & (kEffectiveMaint | haproxy::kAnyDrain)) != 0)
    why.push_back("stable " + s.stable.name + " is " + haproxy::describe_admin_state(s.stable.admin_state));
  if (s.stable.uweight <= 0)
    why.push_back("stable " + s.stable.name + " has weight " + std::to_string(s.stable.uweight));
  std::string out;
  for (const auto& w : why) out += (out.empty() ? "" : "; ") + w;
  return out;
}

std::optional<HaproxyActuator::Snapshot> HaproxyActuator::read_state(Clock::time_point deadline,
                                                                     ActResult* failure) const {
  const std::string command = "show servers state " + options_.backend;
  const std::string servers = " (servers canary " + options_.canary + ", stable " + options_.stable + ")";
  haproxy::Reply reply = client_.command(command, deadline);
  if (!reply.ok) {
    *failure = ActResult::failure(prefix() + servers + ": \"" + command + "\": " + reply.error, true);
    return std::nullopt;
  }
  std::string error;
  auto rows = haproxy::parse_servers_state(reply.text, &error);
  if (!rows) {
    *failure =
        ActResult::failure(prefix() + servers + ": \"" + command + "\" failed: " + error, !permanent_error(reply.text));
    return std::nullopt;
  }
  auto find = [&](const std::string& name) -> const ServerState* {
    for (const auto& r : *rows)
      if (r.name == name) return &r;
    return nullptr;
  };
  const ServerState* canary = find(options_.canary);
  const ServerState* stable = find(options_.stable);
  if (!canary || !stable) {
    std::string known;
    for (const auto& r : *rows) known += (known.empty() ? "" : ", ") + r.name;
    std::string missing = !canary ? "canary server \"" + options_.canary + "\"" : "";
    if (!stable) missing += (missing.empty() ? "" : " and ") + ("stable server \"" + options_.stable + "\"");
    *failure = ActResult::failure(
        prefix() + ": no such " + missing + " (HAProxy lists: " + (known.empty() ? "no servers" : known) + ")", false);
    return std::nullopt;
  }
  return Snapshot{*canary, *stable};
}

ActResult HaproxyActuator::rollback(const DecisionContext& context, Clock::time_point deadline) {
  try {
    if (std::string bad = invalid(); !bad.empty()) return ActResult::failure(bad, false);

    ActResult failure;
    auto before = read_state(deadline, &failure);
    if (!before) return failure;
    if (not_rolled_back(*before).empty())
      return ActResult::noop(prefix() + ": already rolled back (" + show(*before) + ")");

    // Stable first: at no moment may the backend be left without a server taking traffic.
    struct Step {
      std::string server;
      std::string command;
    };
    std::vector<Step> plan;
    const auto& b = options_.backend;
    const ServerState& st = before->stable;
    if (st.admin_state & (haproxy::kForcedMaint | haproxy::kForcedDrain))
      plan.push_back({st.name, "set server " + b + "/" + st.name + " state ready"});
    if (st.uweight <= 0) {
      if (st.iweight <= 0)
        return ActResult::failure(prefix() + " server " + st.name +
                                      ": stable has weight 0 and initial weight 0; nothing to restore (give it a "
                                      "weight in the HAProxy configuration)",
                                  false);
      plan.push_back({st.name, "set weight " + b + "/" + st.name + " " + std::to_string(st.iweight)});
    }
    if (!canary_out(before->canary, options_.strategy)) {
      plan.push_back({before->canary.name, options_.strategy == "blue-green"
                                               ? "set server " + b + "/" + before->canary.name + " state maint"
                                               : "set weight " + b + "/" + before->canary.name + " 0"});
    }

    std::string done;
    for (const auto& step : plan) {
      haproxy::Reply reply = client_.command(step.command, deadline);
      std::string where = prefix() + " server " + step.server + ": \"" + step.command + "\"";
      std::string after = done.empty() ? "" : " (already sent: " + done + ")";
      if (!reply.ok) return ActResult::failure(where + ": " + reply.error + after, true);
      // Success is an empty reply; anything else is HAProxy explaining why it refused.
      if (!trim(reply.text).empty())
        return ActResult::failure(
            where + " failed: HAProxy replied \"" + haproxy::quote_reply(reply.text) + "\"" + after,
            !permanent_error(reply.text));
      done += (done.empty() ? "" : "; ") + step.command;
    }

    auto verified = read_state(deadline, &failure);
    if (!verified) {
      failure.detail = "sent " + done + " but could not verify: " + failure.detail;
      failure.retryable = true;
      return failure;
    }
    std::string why = not_rolled_back(*verified);
    if (!why.empty())
      return ActResult::failure(prefix() + ": sent " + (done.empty() ? "nothing" : done) +
                                    " but the state is not rolled back: " + why + " (" + show(*verified) + ")",
                                true);
    std::string detail = prefix() + ": " + done + "; verified " + show(*verified);
    spdlog::info("{} (deployment {}, trigger {})", detail, context.deployment, context.trigger);
    return ActResult::changed(detail);
  } catch (const std::exception& e) {
    return ActResult::failure(prefix() + ": internal error: " + e.what(), true);
  }
}

ActResult HaproxyActuator::probe(Clock::time_point deadline) {
  try {
    if (std::string bad = invalid(); !bad.empty()) return ActResult::failure(bad, false);
    haproxy::Reply level = client_.command("show cli level", deadline);
    if (!level.ok) return ActResult::failure(prefix() + ": \"show cli level\": " + level.error, true);
    std::string lv = trim(level.text);
    // "set weight"/"set server" need level admin; catch a read-only socket before a rollback does.
    if (lv != "admin" && !permanent_error(lv))
      return ActResult::failure(prefix() + ": the stats socket has level \"" + haproxy::quote_reply(lv) +
                                    "\"; rollback needs \"level admin\"",
                                false);
    ActResult failure;
    auto state = read_state(deadline, &failure);
    if (!state) return failure;
    std::string why = not_rolled_back(*state);
    return ActResult::noop(prefix() + ": reachable, level admin; " + show(*state) +
                           (why.empty() ? "; already rolled back" : ""));
  } catch (const std::exception& e) {
    return ActResult::failure(prefix() + ": internal error: " + e.what(), true);
  }
}

std::unique_ptr<Actuator> make_haproxy_actuator(Settings& settings, const Environment& env) {
  HaproxyOptions o;
  std::string address = settings.string("address");
  std::string error;
  if (auto parsed = haproxy::Address::parse(address, &error)) {
    o.address = *parsed;
  } else if (settings.has("address")) {
    settings.error("address", error);
  }
  o.backend = settings.string("backend");
  o.canary = settings.string("canary");
  o.stable = settings.string("stable");
  for (const auto& [key, value] : {std::pair<const char*, const std::string*>{"backend", &o.backend},
                                   {"canary", &o.canary},
                                   {"stable", &o.stable}}) {
    if (settings.has(key) && !valid_name(*value))
      settings.error(key, "\"" + *value + "\" is not a valid HAProxy name (empty, or has spaces, ';', '/' or '\\')");
  }
  if (settings.has("canary") && settings.has("stable") && o.canary == o.stable)
    settings.error("canary", "canary and stable are the same server \"" + o.canary + "\"");
  o.connect_timeout = settings.duration("connect_timeout", std::chrono::milliseconds(1000));
  o.read_timeout = settings.duration("read_timeout", std::chrono::milliseconds(2000));
  if (o.connect_timeout.count() <= 0) settings.error("connect_timeout", "must be greater than 0");
  if (o.read_timeout.count() <= 0) settings.error("read_timeout", "must be greater than 0");
  o.strategy = env.strategy;
  if (env.strategy != "canary" && env.strategy != "blue-green")
    settings.error(
        "type", "the haproxy actuator supports deployment.strategy canary or blue-green, not \"" + env.strategy + "\"");
  return std::make_unique<HaproxyActuator>(std::move(o));
}

}  // namespace rs::actuators

namespace rs::actuators {

ActResult HaproxyActuator::send_all(const std::vector<std::pair<std::string, std::string>>& commands,
                                    Clock::time_point deadline, std::string* done) const {
  for (const auto& [server, command] : commands) {
    haproxy::Reply reply = client_.command(command, deadline);
    std::string where = prefix() + " server " + server + ": \"" + command + "\"";
    std::string after = done->empty() ? "" : " (already sent: " + *done + ")";
    if (!reply.ok) return ActResult::failure(where + ": " + reply.error + after, true);
    if (!trim(reply.text).empty())
      return ActResult::failure(where + " failed: HAProxy replied \"" + haproxy::quote_reply(reply.text) + "\"" + after,
                                !permanent_error(reply.text));
    *done += (done->empty() ? "" : "; ") + command;
  }
  return ActResult::changed("");
}

ActResult HaproxyActuator::set_canary_weight(int percent, const DecisionContext& context, Clock::time_point deadline) {
  try {
    if (std::string bad = invalid(); !bad.empty()) return ActResult::failure(bad, false);
    if (percent < 0 || percent > 100) return ActResult::failure(prefix() + ": canary weight must be 0-100", false);
    if (percent == 0) return rollback(context, deadline);
    const bool blue_green = options_.strategy == "blue-green";
    if (blue_green && percent != 100)
      return ActResult::failure(
          prefix() + ": blue-green switches all traffic at once; only 0 or 100 (got " + std::to_string(percent) + ")",
          false);
    ActResult failure;
    auto before = read_state(deadline, &failure);
    if (!before) return failure;
    const auto& b = options_.backend;
    const auto& c = before->canary;
    const auto& st = before->stable;
    auto in_rotation = [](const ServerState& s) {
      return (s.admin_state & (kEffectiveMaint | haproxy::kAnyDrain)) == 0;
    };
    auto where_we_want = [&](const Snapshot& s) {
      if (blue_green) {
        return in_rotation(s.canary) && s.canary.uweight > 0 && (s.stable.admin_state & haproxy::kForcedMaint) != 0;
      }
      return in_rotation(s.canary) && s.canary.uweight == percent && s.stable.uweight == 100 - percent &&
             (percent == 100 || in_rotation(s.stable));
    };
    if (where_we_want(*before))
      return ActResult::noop(prefix() + ": canary already at " + std::to_string(percent) + "% (" + show(*before) + ")");

    // The server gaining traffic is set first, so the backend never has nothing to send to.
    std::vector<std::pair<std::string, std::string>> plan;
    if (c.admin_state & (haproxy::kForcedMaint | haproxy::kForcedDrain))
      plan.push_back({c.name, "set server " + b + "/" + c.name + " state ready"});
    if (blue_green) {
      if (c.uweight <= 0)
        plan.push_back({c.name, "set weight " + b + "/" + c.name + " " +
                                    std::to_string(std::max(1L, static_cast<long>(c.iweight)))});
      plan.push_back({st.name, "set server " + b + "/" + st.name + " state maint"});
    } else {
      if (percent < 100 && (st.admin_state & (haproxy::kForcedMaint | haproxy::kForcedDrain)))
        plan.push_back({st.name, "set server " + b + "/" + st.name + " state ready"});
      plan.push_back({c.name, "set weight " + b + "/" + c.name + " " + std::to_string(percent)});
      plan.push_back({st.name, "set weight " + b + "/" + st.name + " " + std::to_string(100 - percent)});
    }
    std::string done;
    ActResult sent = send_all(plan, deadline, &done);
    if (!sent.ok) return sent;
    auto verified = read_state(deadline, &failure);
    if (!verified) {
      failure.detail = "sent " + done + " but could not verify: " + failure.detail;
      return failure;
    }
    if (!where_we_want(*verified))
      return ActResult::failure(prefix() + ": sent " + done + " but the canary is not at " + std::to_string(percent) +
                                    "% (" + show(*verified) + ")",
                                true);
    std::string detail = prefix() + ": " + done + "; verified " + show(*verified);
    spdlog::info("{} (deployment {}, promotion)", detail, context.deployment);
    return ActResult::changed(detail);
  } catch (const std::exception& e) {
    return ActResult::failure(prefix() + ": internal error: " + e.what(), true);
  }
}

}  // namespace rs::actuators
