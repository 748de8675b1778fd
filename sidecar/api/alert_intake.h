// Alertmanager webhook (payload version 4) → which firing alerts roll this deployment back.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "sidecar/config/config.h"

namespace rs::sidecar {

struct ReceivedAlert {
  std::string status;  // "firing" | "resolved"
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string starts_at;  // as sent
  std::optional<WallTime> started;
  std::string generator_url;
  std::string fingerprint;
  std::string key() const;  // identity for de-duplication: fingerprint (or labels) + startsAt
  nlohmann::json evidence() const;
};

// What the payload says about itself, beside its alerts.
struct WebhookInfo {
  std::string receiver;   // "" when absent
  std::string status;     // group status "firing" | "resolved"; "" when absent
  std::string group_key;  // "" when absent
  // Alerts Alertmanager left out (max_alerts in the receiver's webhook_config): the list is
  // incomplete. The alerts that are there are parsed as usual; the caller logs and counts.
  long long truncated_alerts = 0;
};

// Parses an Alertmanager webhook body. Returns false and names the offending field and what it
// holds in *error ("alerts[2].labels.severity must be a string", "version must be \"4\" ...,
// got \"3\"") for anything that is not a version 4 payload. docs/input-formats.md lists the
// variants other senders produce and which are refused.
bool parse_alertmanager_webhook(const std::string& body, std::vector<ReceivedAlert>* alerts, std::string* error,
                                WebhookInfo* info = nullptr);

// Every `match` label's regex must fully match the alert's label value (missing label = "").
bool alert_matches(const ReceivedAlert& alert, const AlertsConfig& config);

// Remembers the alerts already acted on, so Alertmanager's retries and repeats cause no second
// decision. Bounded: the oldest keys are forgotten past `capacity`. Thread-safe.
class AlertDeduplicator {
 public:
  explicit AlertDeduplicator(std::size_t capacity = 10000) : capacity_(capacity) {}
  bool first_time(const std::string& key);  // true once per key

 private:
  std::mutex mu_;
  std::size_t capacity_;
  std::set<std::string> seen_;
  std::deque<std::string> order_;
};

}  // namespace rs::sidecar
