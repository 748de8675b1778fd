// The notification outbox's text (undelivered notifications read at startup): parsed, written
// back, and parsed again to the same text. NotificationDispatcher adds only the capped file read
// and the matching of entries to the configured notifiers.
#include <cstdlib>

#include "fuzz/fuzz_support.h"
#include "sidecar/records/outbox_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace s = rs::sidecar;
  s::OutboxDocument doc;
  std::string why;
  if (!s::parse_outbox(rs::fuzz::as_string(data, size), &doc, &why)) {
    if (why.empty()) std::abort();
    return 0;
  }
  const std::string text = s::outbox_text(doc);
  s::OutboxDocument again;
  if (!s::parse_outbox(text, &again, &why)) std::abort();
  if (again.pending.size() != doc.pending.size() || again.queued_ids != doc.queued_ids) std::abort();
  if (s::outbox_text(again) != text) std::abort();
  return 0;
}
