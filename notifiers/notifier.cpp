#include "notifiers/notifier.h"

#include <cstdio>

#include "common/http/call_policy.h"
#include "notifiers/alertmanager.h"
#include "notifiers/slack.h"
#include "notifiers/webhook.h"

namespace rs::notifiers {

namespace {

std::string headline(const std::string& message) {
  if (message == "RollbackStarted") return "Rollback started";
  if (message == "RollbackSucceeded") return "Rollback succeeded";
  if (message == "RollbackFailed") return "ROLLBACK FAILED";
  if (message == "RollbackUnverified") return "ROLLBACK NOT VERIFIED";
  if (message == "RollbackDryRun") return "Would roll back (dry run)";
  if (message == "RuleNotify") return "Rule firing";
  return message;
}

std::string evidence(const Notification& n) {
  std::string out = n.rule.empty() ? n.trigger : n.rule;
  if (!n.value.empty()) out += " " + n.value;
  if (!n.comparison.empty() && !n.threshold.empty()) out += " " + n.comparison + " " + n.threshold;
  return out;
}

}  // namespace

std::string Notification::title() const {
  return headline(message) + ": " + deployment + " (" + stage + "): " + evidence(*this);
}

std::string Notification::text() const {
  std::string out;
  out += "Deployment: " + deployment + " (stage " + stage + ", strategy " + strategy + ")\n";
  out += "Trigger: " + trigger + (rule.empty() ? "" : " " + rule) +
         (severity.empty() ? "" : " (severity " + severity + ")") + "\n";
  if (!query.empty()) out += "Query: " + query + "\n";
  if (!value.empty())
    out += "Value: " + value + (threshold.empty() ? "" : " (" + comparison + " threshold " + threshold + ")") + "\n";
  out += "Reason: " + reason + "\n";
  out += "Status: " + state;
  if (!result.empty()) out += ", result " + result;
  if (duration_seconds) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f s", *duration_seconds);
    out += std::string(", took ") + buf;
  }
  if (!verification.empty()) out += ", verification " + verification;
  out += "\n";
  if (!timeline.empty()) {
    out += "Timeline:\n";
    for (const auto& [when, what] : timeline) out += "- " + when + " " + what + "\n";
  }
  return out;
}

nlohmann::json Notification::to_json() const {
  nlohmann::json tl = nlohmann::json::array();
  for (const auto& [when, what] : timeline) tl.push_back({{"time", when}, {"event", what}});
  return {{"id", id},
          {"message", message},
          {"title", title()},
          {"deployment", deployment},
          {"stage", stage},
          {"strategy", strategy},
          {"decision_id", decision_id},
          {"trigger", trigger},
          {"rule", rule},
          {"severity", severity},
          {"query", query},
          {"comparison", comparison},
          {"value", value},
          {"threshold", threshold},
          {"reason", reason},
          {"state", state},
          {"result", result},
          {"verification", verification},
          {"started_at", started_at},
          {"decided_at", decided_at},
          {"completed_at", completed_at},
          {"duration_seconds", duration_seconds ? nlohmann::json(*duration_seconds) : nlohmann::json(nullptr)},
          {"timeline", tl}};
}

bool Notification::from_json(const nlohmann::json& j, Notification* out, std::string* error) {
  if (!j.is_object()) {
    *error = "notification is not a JSON object";
    return false;
  }
  Notification n;
  const std::pair<const char*, std::string*> strings[] = {{"id", &n.id},
                                                          {"message", &n.message},
                                                          {"deployment", &n.deployment},
                                                          {"stage", &n.stage},
                                                          {"strategy", &n.strategy},
                                                          {"trigger", &n.trigger},
                                                          {"rule", &n.rule},
                                                          {"severity", &n.severity},
                                                          {"query", &n.query},
                                                          {"comparison", &n.comparison},
                                                          {"value", &n.value},
                                                          {"threshold", &n.threshold},
                                                          {"reason", &n.reason},
                                                          {"state", &n.state},
                                                          {"result", &n.result},
                                                          {"verification", &n.verification},
                                                          {"started_at", &n.started_at},
                                                          {"decided_at", &n.decided_at},
                                                          {"completed_at", &n.completed_at}};
  for (const auto& [key, field] : strings) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) {
      *error = std::string("notification field '") + key + "' is missing or not a string";
      return false;
    }
    *field = it->get<std::string>();
  }
  auto id = j.find("decision_id");
  if (id == j.end() || !id->is_number_unsigned()) {
    *error = "notification field 'decision_id' is missing or not a non-negative integer";
    return false;
  }
  n.decision_id = id->get<std::uint64_t>();
  auto d = j.find("duration_seconds");
  if (d != j.end() && d->is_number())
    n.duration_seconds = d->get<double>();
  else if (d != j.end() && !d->is_null()) {
    *error = "notification field 'duration_seconds' is not a number";
    return false;
  }
  auto tl = j.find("timeline");
  if (tl == j.end() || !tl->is_array()) {
    *error = "notification field 'timeline' is missing or not a list";
    return false;
  }
  for (const auto& e : *tl) {
    if (!e.is_object() || !e.contains("time") || !e["time"].is_string() || !e.contains("event") ||
        !e["event"].is_string()) {
      *error = "notification timeline entries need string 'time' and 'event'";
      return false;
    }
    n.timeline.emplace_back(e["time"].get<std::string>(), e["event"].get<std::string>());
  }
  *out = std::move(n);
  return true;
}

const Registry& Registry::builtin() {
  static const Registry registry = [] {
    Registry r;
    r.add("alertmanager", make_alertmanager_notifier);
    r.add("slack", make_slack_notifier);
    r.add("webhook", make_webhook_notifier);
    return r;
  }();
  return registry;
}

SendResult send_http(rs::HttpTransport& transport, rs::HttpRequest request, const std::string& receiver,
                     const std::string& bearer_token_file, const std::string& secret) {
  rs::CallPolicy policy;
  std::string error;
  if (!policy.read_bearer_token_file(bearer_token_file, &error))
    return SendResult::failure(receiver + ": " + error, true);  // retryable: a secret may be mounted late
  policy.add_secret(secret);
  policy.apply(&request);
  rs::HttpResponse response = transport.perform(request);
  SendResult result =
      rs::call_succeeded(response)
          ? SendResult::success("HTTP " + std::to_string(response.status))
          : SendResult::failure(receiver + ": " + policy.describe_failure(response), rs::call_retryable(response));
  policy.redact(&result.detail);  // the receiver's name too: it is the caller's text
  return result;
}

}  // namespace rs::notifiers
