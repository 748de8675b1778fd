#include "sidecar/api/alert_intake.h"

#include <atomic>

#include <re2/re2.h>
#include <spdlog/spdlog.h>

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

// At most this much of an untrusted value goes into an error message or a log line.
std::string clip(const std::string& s, std::size_t max = 64) {
  return s.size() <= max ? s : s.substr(0, max) + "... (" + std::to_string(s.size()) + " bytes)";
}

// Once at info (so an operator learns that a sender leaves startsAt unset), then at debug:
// Alertmanager re-sends every group_interval and must not flood the log.
void log_unknown_start(const std::string& where, const std::string& starts_at) {
  static std::atomic<bool> logged{false};
  const bool first = !logged.exchange(true);
  spdlog::log(first ? spdlog::level::info : spdlog::level::debug,
              "alert {}: startsAt '{}' is outside {}..{} (Go's zero time means unset); the alert counts, its "
              "detection time is not measured{}",
              where, clip(starts_at), to_rfc3339(min_rfc3339_time()), to_rfc3339(max_rfc3339_time()),
              first ? " (logged once; later ones at debug)" : "");
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
      switch (parse_rfc3339_checked(alert.starts_at, &started)) {
        case Rfc3339Result::kOk:
          alert.started = started;
          break;
        case Rfc3339Result::kOutOfRange:
          // Go's zero time (0001-01-01T00:00:00Z) and the like mean "unset": the alert still
          // counts, only the detection time cannot be measured from it.
          log_unknown_start(where, alert.starts_at);
          break;
        case Rfc3339Result::kMalformed:
          *error = where + ".startsAt '" + clip(alert.starts_at) + "' is not an RFC 3339 time";
          return false;
      }
    }
    alerts->push_back(std::move(alert));
  }
  return true;
}

bool alert_matches(const ReceivedAlert& alert, const AlertsConfig& config) {
  if (!config.enabled) return false;
  for (const auto& [label, pattern] : config.match) {
    auto it = alert.labels.find(label);
    static const std::string kMissing;
    const std::string& value = it == alert.labels.end() ? kMissing : it->second;
    // RE2: linear time, bounded memory, no recursion, whatever the label value's length.
    auto compiled = config.compiled.find(label);
    if (compiled == config.compiled.end() || !compiled->second) {
      // Not compiled by the config loader (an AlertsConfig built by hand): compile here.
      auto re = compile_alert_matcher(pattern, nullptr);
      if (!re || !re2::RE2::FullMatch(value, *re)) return false;
      continue;
    }
    if (!re2::RE2::FullMatch(value, *compiled->second)) return false;
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
