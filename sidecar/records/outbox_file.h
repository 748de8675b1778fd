// The notification outbox's file format (version 1), apart from the file and the dispatcher:
// NotificationDispatcher reads and writes it, the fuzz target feeds it.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "notifiers/notifier.h"

namespace rs::sidecar {

struct OutboxEntry {
  std::string notifier;  // the notifier's describe()
  WallTime queued_at;
  int attempts = 0;
  notifiers::Notification notification;
};

struct OutboxDocument {
  std::vector<std::string> queued_ids;  // ids of messages already queued, oldest first
  std::vector<OutboxEntry> pending;     // undelivered, in sending order
};

// Contract: parse_outbox() refuses a document that is not a version 1 outbox or has any
// malformed entry, saying why in *why (the dispatcher then moves the file aside whole rather
// than deliver part of it); ids that are not strings are skipped, attempts are clamped to
// 0..1000000. *out is set only on success. Text from outbox_text() parses back to the same text.
bool parse_outbox(const std::string& text, OutboxDocument* out, std::string* why);
std::string outbox_text(const OutboxDocument& doc);

}  // namespace rs::sidecar
