#include "notifiers/alertmanager.h"

#include <cstddef>

namespace rs::notifiers {

namespace {

// Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]* (a loop: std::regex recurses per character and
// overflows the stack on long input).
bool valid_label_name(const std::string& name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// At most this much of a user's value is quoted back in an error message.
std::string clipped(const std::string& s, std::size_t max = 80) {
  return s.size() <= max ? s : s.substr(0, max) + "... (" + std::to_string(s.size()) + " characters)";
}

std::string base_url(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

class AlertmanagerNotifier : public Notifier {
 public:
  AlertmanagerNotifier(std::string url, std::map<std::string, std::string> labels, std::string token_file,
                       std::chrono::milliseconds timeout, std::unique_ptr<rs::HttpTransport> transport)
      : url_(base_url(std::move(url))),
        labels_(std::move(labels)),
        token_file_(std::move(token_file)),
        timeout_(timeout),
        transport_(std::move(transport)) {}

  std::string type() const override { return "alertmanager"; }
  std::string describe() const override { return "alertmanager " + url_; }

  SendResult send(const Notification& n, std::chrono::milliseconds timeout) override {
    rs::HttpRequest request;
    request.method = "POST";
    request.url = url_ + "/api/v2/alerts";
    request.headers = {{"Content-Type", "application/json"}};
    request.body = alertmanager_alerts(n, labels_).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    request.timeout = std::min(timeout, timeout_);
    return send_http(*transport_, std::move(request), describe(), token_file_);
  }

  // Alertmanager's readiness endpoint: reachable, and the token (if any) readable.
  SendResult probe(std::chrono::milliseconds timeout) override {
    rs::HttpRequest request;
    request.method = "GET";
    request.url = url_ + "/-/ready";
    request.timeout = std::min(timeout, timeout_);
    return send_http(*transport_, std::move(request), describe(), token_file_);
  }

 private:
  std::string url_;
  std::map<std::string, std::string> labels_;
  std::string token_file_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<rs::HttpTransport> transport_;
};

}  // namespace

nlohmann::json alertmanager_alerts(const Notification& n, const std::map<std::string, std::string>& extra_labels) {
  auto put = [](nlohmann::json& into, const std::string& key, const std::string& value) {
    if (!value.empty()) into[key] = value;
  };
  // The label set of the alert for `message`; the same notification fields give the same set, so
  // a later message can resolve the RollbackStarted alert of the same decision.
  auto labels_for = [&](const std::string& message) {
    nlohmann::json labels = nlohmann::json::object();
    put(labels, "alertname", message);
    put(labels, "deployment", n.deployment);
    put(labels, "stage", n.stage);
    put(labels, "trigger", n.trigger);
    put(labels, "rule", n.rule);
    put(labels, "severity", message == "RollbackFailed" || message == "RollbackUnverified" ? "critical" : "warning");
    put(labels, "source", "rollback-sidecar");
    for (const auto& [k, v] : extra_labels) put(labels, k, v);
    return labels;
  };

  std::string timeline;
  for (const auto& [when, what] : n.timeline) timeline += when + " " + what + "\n";
  nlohmann::json annotations = nlohmann::json::object();
  put(annotations, "summary", n.title());
  put(annotations, "description", n.text());
  put(annotations, "query", n.query);
  put(annotations, "value", n.value);
  put(annotations, "threshold", n.threshold.empty() ? "" : n.comparison + " " + n.threshold);
  put(annotations, "reason", n.reason);
  put(annotations, "status", n.state + (n.result.empty() ? "" : " (" + n.result + ")"));
  put(annotations, "verification", n.verification);
  put(annotations, "decision_id", std::to_string(n.decision_id));
  put(annotations, "notification_id", n.id);
  if (n.duration_seconds) put(annotations, "duration_seconds", std::to_string(*n.duration_seconds));
  put(annotations, "timeline", timeline);

  const std::string& when = !n.completed_at.empty() && n.message != "RollbackStarted" ? n.completed_at : n.decided_at;
  nlohmann::json alert = {{"labels", labels_for(n.message)}, {"annotations", annotations}};
  if (!when.empty()) alert["startsAt"] = when;
  nlohmann::json alerts = nlohmann::json::array({alert});
  if ((n.message == "RollbackSucceeded" || n.message == "RollbackFailed") && !n.completed_at.empty()) {
    // The rollback is over: resolve its RollbackStarted alert instead of leaving it to
    // resolve_timeout.
    alerts.push_back(
        {{"labels", labels_for("RollbackStarted")},
         {"annotations", {{"summary", "Rollback of " + n.deployment + " (" + n.stage + ") ended: " + n.result}}},
         {"startsAt", n.decided_at},
         {"endsAt", n.completed_at}});
  }
  return alerts;
}

std::unique_ptr<Notifier> make_alertmanager_notifier(common::PluginSettings& settings, const Environment& env) {
  std::string url = settings.string("url");
  if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    settings.error("url", "must start with http:// or https:// (got '" + url + "')");
  auto labels = settings.string_map("labels");
  for (const auto& [name, value] : labels) {
    if (!valid_label_name(name)) settings.error("labels", "'" + clipped(name) + "' is not a valid label name");
  }
  std::string token_file = settings.string("bearer_token_file", "");
  auto timeout = settings.duration("timeout", std::chrono::milliseconds(5000));
  if (timeout.count() <= 0) settings.error("timeout", "must be greater than 0");
  return std::make_unique<AlertmanagerNotifier>(url, labels, token_file, timeout, env.make_transport());
}

}  // namespace rs::notifiers
