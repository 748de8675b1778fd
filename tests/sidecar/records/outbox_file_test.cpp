// The outbox's text apart from its file (the dispatcher's restart behaviour is tested with it).
#include "sidecar/records/outbox_file.h"

#include <gtest/gtest.h>

namespace rs::sidecar {
namespace {

std::string outbox_with_attempts(const std::string& attempts) {
  OutboxDocument doc;
  doc.queued_ids = {"checkout/1/2026-12-01T10:00:00Z/RollbackStarted"};
  OutboxEntry entry;
  entry.notifier = "webhook https://hooks.example/…";
  parse_rfc3339("2026-12-01T10:00:01Z", &entry.queued_at);
  entry.notification.id = doc.queued_ids[0];
  entry.notification.message = "RollbackStarted";
  entry.notification.decision_id = 1;
  doc.pending.push_back(entry);
  std::string text = outbox_text(doc);
  const std::string field = "\"attempts\":0";
  text.replace(text.find(field), field.size(), "\"attempts\":" + attempts);
  return text;
}

TEST(OutboxFile, RoundTripsAndClampsAttemptCountsThatWouldOverflowTheBackOff) {
  OutboxDocument doc;
  std::string why;
  ASSERT_TRUE(parse_outbox(outbox_with_attempts("3"), &doc, &why)) << why;
  ASSERT_EQ(doc.pending.size(), 1u);
  EXPECT_EQ(doc.pending[0].attempts, 3);
  EXPECT_EQ(doc.pending[0].notification.message, "RollbackStarted");
  EXPECT_EQ(outbox_text(doc), outbox_with_attempts("3"));
  for (const auto& [attempts, clamped] : std::vector<std::pair<std::string, int>>{
           {"-5", 0}, {"2147483647", 1000000}, {"18446744073709551615", 1000000}, {"-9223372036854775808", 0}}) {
    ASSERT_TRUE(parse_outbox(outbox_with_attempts(attempts), &doc, &why)) << attempts << ": " << why;
    EXPECT_EQ(doc.pending[0].attempts, clamped) << attempts;
  }
  EXPECT_FALSE(parse_outbox(outbox_with_attempts("1.5"), &doc, &why));
  EXPECT_EQ(why, "bad pending entry");
  EXPECT_FALSE(parse_outbox("{\"version\": 2, \"queued_ids\": [], \"pending\": []}", &doc, &why));
  EXPECT_EQ(why, "not a version 1 outbox document");
}

}  // namespace
}  // namespace rs::sidecar
