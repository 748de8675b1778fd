// `cloudwatch:` — CloudWatch alarm state changes (POST /api/v1/cloudwatch) that roll back.
// Loaded by load_cloudwatch() (sidecar/config/load_cloudwatch.h).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace re2 {
class RE2;
}  // namespace re2

namespace rs::sidecar {

struct CloudWatchConfig {
  bool enabled = false;
  // key -> regex (templated; RE2, fully anchored like alerts.match). Keys: `alarm` (the alarm
  // name, required), `account` (12 digits), `region` (e.g. eu-west-1). A missing value is "".
  std::map<std::string, std::string> match;
  std::map<std::string, std::shared_ptr<const re2::RE2>> compiled;
  // EventBridge API destinations: besides `Authorization: Bearer <api.bearer_token_file>`, the
  // connection may send this header (API_KEY authorization) with the content of api_key_file.
  std::string api_key_file;
  std::string api_key_header = "X-Api-Key";
  // SNS: the TopicArns accepted (exact; empty = any topic, logged as a warning at startup).
  std::vector<std::string> sns_topics;
  bool sns_confirm_subscriptions = true;  // false: the SubscribeURL is logged for a person
  // PEM certificate used instead of downloading SigningCertURL (tests, air-gapped setups); the
  // URL must still be https on sns.REGION.amazonaws.com.
  std::string sns_certificate_file;
  std::chrono::milliseconds sns_max_age{3600000};  // older SNS Timestamps are refused (replays)
  std::chrono::milliseconds sns_timeout{5000};     // certificate download, subscription confirmation
};

}  // namespace rs::sidecar
