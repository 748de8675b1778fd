#include "sidecar/records/outbox_file.h"

#include <algorithm>
#include <cstdint>

#include "common/json_text.h"

namespace rs::sidecar {
namespace {

constexpr int kOutboxVersion = 1;
constexpr int kMaxAttempts = 1000000;  // 5-minute back-offs: nine years

}  // namespace

bool parse_outbox(const std::string& text, OutboxDocument* out, std::string* why) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("version") || !j["version"].is_number_integer() ||
      j["version"].get<long long>() != kOutboxVersion || !j.contains("pending") || !j["pending"].is_array() ||
      !j.contains("queued_ids") || !j["queued_ids"].is_array()) {
    *why = "not a version " + std::to_string(kOutboxVersion) + " outbox document";
    return false;
  }
  OutboxDocument doc;
  for (const auto& id : j["queued_ids"]) {
    if (id.is_string()) doc.queued_ids.push_back(id.get<std::string>());
  }
  for (const auto& e : j["pending"]) {
    OutboxEntry entry;
    std::string bad;
    if (!e.is_object() || !e.contains("notifier") || !e["notifier"].is_string() || !e.contains("queued_at") ||
        !e["queued_at"].is_string() || !parse_rfc3339(e["queued_at"].get<std::string>(), &entry.queued_at) ||
        (e.contains("attempts") && !e["attempts"].is_number_integer()) || !e.contains("notification") ||
        !notifiers::Notification::from_json(e["notification"], &entry.notification, &bad)) {
      *why = "bad pending entry" + (bad.empty() ? "" : ": " + bad);
      return false;
    }
    entry.notifier = e["notifier"].get<std::string>();
    if (e.contains("attempts")) {
      // Clamped: a negative count would make the next back-off shift by a negative amount and
      // INT_MAX would overflow on the next attempt (both undefined behaviour).
      const auto& a = e["attempts"];
      entry.attempts = a.is_number_unsigned()
                           ? static_cast<int>(std::min<std::uint64_t>(a.get<std::uint64_t>(), kMaxAttempts))
                           : static_cast<int>(std::clamp<std::int64_t>(a.get<std::int64_t>(), 0, kMaxAttempts));
    }
    doc.pending.push_back(std::move(entry));
  }
  *out = std::move(doc);
  return true;
}

std::string outbox_text(const OutboxDocument& doc) {
  nlohmann::json pending = nlohmann::json::array();
  for (const auto& e : doc.pending) {
    pending.push_back({{"notifier", e.notifier},
                       {"queued_at", to_rfc3339(e.queued_at)},
                       {"attempts", e.attempts},
                       {"notification", e.notification.to_json()}});
  }
  const nlohmann::json j = {{"version", kOutboxVersion}, {"queued_ids", doc.queued_ids}, {"pending", pending}};
  return common::dump_json(j) + "\n";
}

}  // namespace rs::sidecar
