#include "sidecar/api/alert_intake.h"

#include <algorithm>
#include <atomic>

#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include "common/json_text.h"
#include "common/utf8.h"

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
std::string clip(const std::string& s) { return common::clip_for_message(s, 64); }

// An untrusted value for an error message: scalars as JSON (cut, invalid UTF-8 replaced),
// containers by their type only (a dump of deeply nested arrays would recurse without bound).
std::string shown(const nlohmann::json& j) {
  if (j.is_array()) return "an array";
  if (j.is_object()) return "an object";
  if (j.is_string()) {
    return "the string " + common::dump_json(nlohmann::json(clip(j.get<std::string>())));
  }
  return std::string(j.type_name()) + " " + clip(common::dump_json(j));
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
  return {{"status", status},
          {"labels", labels},
          {"annotations", annotations},
          {"startsAt", starts_at},
          {"generatorURL", generator_url},
          {"fingerprint", fingerprint}};
}

bool parse_alertmanager_webhook(const std::string& body, std::vector<ReceivedAlert>* alerts, std::string* error,
                                WebhookInfo* info) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    *error = "body is not JSON";
    return false;
  }
  if (!j.is_object()) {
    *error = "body must be a JSON object (Alertmanager webhook payload)";
    return false;
  }
  // Every Alertmanager since 0.9 sends "4"; other senders differ in what the fields mean (Grafana's
  // version "1", pre-0.9 "3" with a numeric groupKey, hand-made bodies with 0 or none), so they
  // are refused by name rather than read as if they were version 4.
  auto version = j.find("version");
  if (version == j.end()) {
    *error = "version is missing (need \"4\": an Alertmanager webhook payload version 4)";
    return false;
  }
  if (*version != "4") {
    *error = "version must be \"4\" (Alertmanager webhook payload version 4), got " + shown(*version) +
             (*version == "1" ? " (Grafana-managed alerting's webhook; route it through an Alertmanager)" : "");
    return false;
  }
  WebhookInfo parsed_info;
  for (const auto& [field, target] : {std::pair<const char*, std::string*>{"receiver", &parsed_info.receiver},
                                      {"status", &parsed_info.status},
                                      {"groupKey", &parsed_info.group_key}}) {
    auto it = j.find(field);
    if (it == j.end() || it->is_null()) continue;
    if (!it->is_string()) {
      *error = std::string(field) + " must be a string, got " + shown(*it);
      return false;
    }
    *target = it->get<std::string>();
  }
  if (!parsed_info.status.empty() && parsed_info.status != "firing" && parsed_info.status != "resolved") {
    *error = "status must be \"firing\" or \"resolved\", got \"" + clip(parsed_info.status) + "\"";
    return false;
  }
  if (auto truncated = j.find("truncatedAlerts"); truncated != j.end() && !truncated->is_null()) {
    if (!truncated->is_number_unsigned() && !(truncated->is_number_integer() && truncated->get<long long>() >= 0)) {
      *error = "truncatedAlerts must be a non-negative integer, got " + shown(*truncated);
      return false;
    }
    // is_number_unsigned above 2^63 cannot be a real count; cap instead of wrapping negative.
    const auto count = truncated->is_number_unsigned() ? truncated->get<unsigned long long>()
                                                       : static_cast<unsigned long long>(truncated->get<long long>());
    parsed_info.truncated_alerts = static_cast<long long>(std::min<unsigned long long>(count, 1ULL << 62));
  }
  auto list_it = j.find("alerts");
  if (list_it == j.end() || !list_it->is_array()) {
    *error =
        list_it == j.end() ? "alerts is missing" : std::string("alerts must be an array, got ") + list_it->type_name();
    return false;
  }
  alerts->clear();
  const auto& list = *list_it;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = "alerts[" + std::to_string(i) + "]";
    const auto& a = list[i];
    if (!a.is_object()) {
      *error = where + " must be an object";
      return false;
    }
    ReceivedAlert alert;
    if (!a.contains("status") || !a["status"].is_string() || (a["status"] != "firing" && a["status"] != "resolved")) {
      *error = where + ".status must be \"firing\" or \"resolved\", got " +
               (a.contains("status") ? shown(a["status"]) : std::string("nothing (the alert has no status)"));
      return false;
    }
    alert.status = a["status"].get<std::string>();
    if (!a.contains("labels")) {
      *error = where + ".labels is required";
      return false;
    }
    if (!read_string_map(a["labels"], where + ".labels", &alert.labels, error)) return false;
    if (a.contains("annotations") &&
        !read_string_map(a["annotations"], where + ".annotations", &alert.annotations, error)) {
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
        case Rfc3339Result::kOk: alert.started = started; break;
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
  if (parsed_info.truncated_alerts > 0) {
    spdlog::warn("Alertmanager webhook from receiver '{}': {} alert(s) truncated (max_alerts); only {} received",
                 clip(parsed_info.receiver), parsed_info.truncated_alerts, alerts->size());
  }
  if (info) *info = std::move(parsed_info);
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
