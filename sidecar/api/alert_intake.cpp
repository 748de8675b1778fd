#include "sidecar/api/alert_intake.h"

#include <regex>

namespace rs::sidecar {
namespace {

bool read_string_map(const nlohmann::json& j, const std::string& where, std::map<std::string, std::string>* out,
                     std::string* error) {
  if (!j.is_object()) {
    *error = where + " must be an object";
    return false;
  }
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) {
      *error = where + "." + k + " must be a string";
      return false;
    }
    (*out)[k] = v.get<std::string>();
  }
  return true;
}

}  // namespace

std::string ReceivedAlert::key() const {
  std::string identity = fingerprint;
  if (identity.empty()) {
    for (const auto& [k, v] : labels) identity += k + "=" + v + ",";
  }
  return identity + "@" + starts_at;
}

nlohmann::json ReceivedAlert::evidence() const {
  return {{"status", status},       {"labels", labels},           {"annotations", annotations},
          {"startsAt", starts_at},  {"generatorURL", generator_url}, {"fingerprint", fingerprint}};
}

bool parse_alertmanager_webhook(const std::string& body, std::vector<ReceivedAlert>* alerts, std::string* error) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *error = "body is not JSON";
    return false;
  }
  if (!j.is_object()) {
    *error = "body must be a JSON object (Alertmanager webhook payload)";
    return false;
  }
  if (!j.contains("version") || j["version"] != "4") {
    *error = "version must be \"4\" (Alertmanager webhook payload version 4)";
    return false;
  }
  if (!j.contains("alerts") || !j["alerts"].is_array()) {
    *error = "alerts must be an array";
    return false;
  }
  alerts->clear();
  const auto& list = j["alerts"];
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = "alerts[" + std::to_string(i) + "]";
    const auto& a = list[i];
    if (!a.is_object()) {
      *error = where + " must be an object";
      return false;
    }
    ReceivedAlert alert;
    if (!a.contains("status") || !a["status"].is_string() ||
        (a["status"] != "firing" && a["status"] != "resolved")) {
      *error = where + ".status must be \"firing\" or \"resolved\"";
      return false;
    }
    alert.status = a["status"].get<std::string>();
    if (!a.contains("labels")) {
      *error = where + ".labels is required";
      return false;
    }
    if (!read_string_map(a["labels"], where + ".labels", &alert.labels, error)) return false;
    if (a.contains("annotations") && !read_string_map(a["annotations"], where + ".annotations", &alert.annotations, error)) {
      return false;
    }
    for (const auto& [field, target] : {std::pair<const char*, std::string*>{"startsAt", &alert.starts_at},
                                        {"generatorURL", &alert.generator_url},
                                        {"fingerprint", &alert.fingerprint}}) {
      if (!a.contains(field) || a[field].is_null()) continue;
      if (!a[field].is_string()) {
        *error = where + "." + field + " must be a string";
        return false;
      }
      *target = a[field].get<std::string>();
    }
    WallTime started;
    if (!alert.starts_at.empty()) {
      if (!parse_rfc3339(alert.starts_at, &started)) {
        *error = where + ".startsAt '" + alert.starts_at + "' is not an RFC 3339 time";
        return false;
      }
      alert.started = started;
    }
    alerts->push_back(std::move(alert));
  }
  return true;
}

bool alert_matches(const ReceivedAlert& alert, const AlertsConfig& config) {
  if (!config.enabled) return false;
  for (const auto& [label, pattern] : config.match) {
    auto it = alert.labels.find(label);
    const std::string value = it == alert.labels.end() ? "" : it->second;
    // Patterns were validated when the config was loaded.
    if (!std::regex_match(value, std::regex(pattern))) return false;
  }
  return true;
}

bool AlertDeduplicator::first_time(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!seen_.insert(key).second) return false;
  order_.push_back(key);
  if (order_.size() > capacity_) {
    seen_.erase(order_.front());
    order_.pop_front();
  }
  return true;
}

}  // namespace rs::sidecar
