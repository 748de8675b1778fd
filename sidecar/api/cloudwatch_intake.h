// CloudWatch alarm state changes → rollback (POST /api/v1/cloudwatch).
//
// Two deliveries are accepted on the one endpoint:
//  (a) EventBridge "CloudWatch Alarm State Change" events (source aws.cloudwatch), sent by an API
//      destination; authenticated with `Authorization: Bearer <api.bearer_token_file>` or the
//      header cloudwatch.api_key_header carrying cloudwatch.api_key_file's content.
//  (b) SNS HTTP(S) messages (an alarm action publishing to a topic the sidecar subscribes to);
//      authenticated by SNS's signature: SignatureVersion 1 (SHA1withRSA) or 2 (SHA256withRSA)
//      over the canonical string, with the certificate at SigningCertURL, which must be https on
//      sns.REGION.amazonaws.com[.cn] (downloaded once per URL and cached), or the PEM in
//      cloudwatch.sns_certificate_file. SubscriptionConfirmation is confirmed by a GET of its
//      SubscribeURL (only when that is an SNS host too), or the URL is logged for a person when
//      sns_confirm_subscriptions is false. Timestamps older than sns_max_age are refused.
// An alarm that goes to ALARM and matches cloudwatch.match asks the engine for a rollback once:
// redeliveries (the same alarm and state-change time, by either path) are duplicates. OK and
// INSUFFICIENT_DATA never roll back. Rejections are 4xx naming the problem; each message is
// counted by result.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/http/http_transport.h"
#include "sidecar/api/alert_intake.h"
#include "sidecar/api/api_auth.h"
#include "sidecar/api/http_server.h"
#include "sidecar/config/cloudwatch_config.h"
#include "sidecar/core/engine.h"

namespace rs::sidecar {

// One alarm state change, from either delivery.
struct AlarmStateChange {
  std::string via;   // "eventbridge" | "sns"
  std::string name;  // alarm name
  std::string arn;   // alarm ARN ("" when not sent)
  std::string account;
  std::string region;  // region code (eu-west-1)
  std::string state;   // ALARM | OK | INSUFFICIENT_DATA
  std::string previous_state;
  std::string timestamp;  // the state change's time, as sent
  std::string reason;
  std::string message_id;   // EventBridge event id / SNS MessageId
  std::string key() const;  // de-duplication identity: account:region:name@timestamp
  nlohmann::json evidence() const;
};

// The canonical string SNS signs (SNS docs, "Verifying the signatures of Amazon SNS messages"):
// "Name\nvalue\n" for Message, MessageId, Subject (Notification, when present), SubscribeURL,
// Timestamp, Token (confirmations), TopicArn, Type. False (with *error) when a field is missing.
bool sns_string_to_sign(const nlohmann::json& message, std::string* out, std::string* error);
// True when `url` is https://sns.REGION.amazonaws.com[.cn]/... (no userinfo, no port); else why.
bool is_sns_url(const std::string& url, std::string* why);

class CloudWatchIntake {
 public:
  struct Hooks {
    std::function<RollbackRequestResult(const RollbackRequest&)> request_rollback;
    std::function<void(const std::string& result)> count;  // metrics; may be empty
    std::function<WallTime()> now;                         // default: system clock
    std::shared_ptr<HttpTransport> transport;              // default: curl (made on first use)
    // De-duplication and staleness (Engine::admit_alert, kept in the state file); default: an
    // in-memory de-duplicator, nothing stale.
    std::function<AlertAdmission(const std::string& key, std::optional<WallTime> started)> admit;
    std::function<std::optional<WallTime>()> deployment_since;  // for the log line; may be empty
  };
  CloudWatchIntake(const CloudWatchConfig& config, std::string bearer_token_file, Hooks hooks);
  ~CloudWatchIntake();

  HttpReply handle(const HttpCall& call);

 private:
  struct PublicKey;
  HttpReply eventbridge(const HttpCall& call, const nlohmann::json& event);
  HttpReply sns(const HttpCall& call, const nlohmann::json& message);
  HttpReply alarm(AlarmStateChange change);
  HttpReply reject(int status, const std::string& result, const std::string& message);
  // The signing key for a message: the configured certificate file, or SigningCertURL's (cached).
  std::shared_ptr<PublicKey> signing_key(const std::string& url, int* status, std::string* error);
  HttpResponse fetch(const std::string& url);
  bool matches(const AlarmStateChange& change) const;
  AlertAdmission admit(const std::string& key, std::optional<WallTime> started);
  void count(const std::string& result) const;

  const CloudWatchConfig& config_;
  BearerAuth bearer_;
  Hooks hooks_;
  AlertDeduplicator seen_;
  std::mutex keys_mu_;
  std::map<std::string, std::shared_ptr<PublicKey>> keys_;  // by SigningCertURL
  std::mutex http_mu_;                                      // the transport is used from one thread at a time
};

}  // namespace rs::sidecar
