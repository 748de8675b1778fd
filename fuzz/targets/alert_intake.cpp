// Alertmanager webhook bodies through the intake parser, then what the API does with an alert.
#include <cstdlib>

#include "common/json_text.h"
#include "fuzz/fuzz_support.h"
#include "sidecar/api/alert_intake.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string body = rs::fuzz::as_string(data, size);
  std::vector<rs::sidecar::ReceivedAlert> alerts;
  std::string error;
  rs::sidecar::WebhookInfo info;
  if (!rs::sidecar::parse_alertmanager_webhook(body, &alerts, &error, &info)) {
    if (error.empty()) std::abort();
    return 0;
  }
  if (info.truncated_alerts < 0) std::abort();
  static const rs::sidecar::AlertsConfig config = [] {
    rs::sidecar::AlertsConfig c;
    c.enabled = true;
    c.match = {{"severity", "critical|page"}, {"service", "checkout.*"}};
    return c;
  }();
  static rs::sidecar::AlertDeduplicator dedup(64);
  for (const auto& alert : alerts) {
    (void)rs::sidecar::alert_matches(alert, config);
    (void)dedup.first_time(alert.key());
    (void)rs::common::dump_json(alert.evidence());
  }
  return 0;
}
