#include "sidecar/api/cloudwatch_intake.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <re2/re2.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/read_file.h"
#include "common/secret_file.h"
#include "common/utf8.h"

namespace rs::sidecar {
namespace {

constexpr const char* kAlarmStateChange = "CloudWatch Alarm State Change";

// At most this much of an untrusted value goes into an error message or a log line.
std::string clip(const std::string& s, std::size_t max = 80) { return common::clip_for_message(s, max); }

constexpr std::size_t kMaxCertificateBytes = 64 * 1024;  // a PEM certificate is a few KiB

// `j[key]` when it is a string, else "" (and *present false).
std::string str(const nlohmann::json& j, const char* key, bool* present = nullptr) {
  const bool ok = j.is_object() && j.contains(key) && j[key].is_string();
  if (present) *present = ok;
  return ok ? j[key].get<std::string>() : "";
}

// Strict base64 (standard alphabet, padding required); nullopt on anything else.
std::optional<std::string> base64_decode(const std::string& in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      v[k] = value(c);
      if (v[k] < 0) return std::nullopt;
    }
    const unsigned n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
  }
  return out;
}

// "2019-10-02T17:20:48.551+0000" (CloudWatch's style) → "...+00:00"; RFC 3339 unchanged.
std::optional<WallTime> parse_time(std::string text) {
  static const re2::RE2 kCompactOffset("(.*[+-][0-9]{2})([0-9]{2})");
  std::string head, minutes;
  if (re2::RE2::FullMatch(text, kCompactOffset, &head, &minutes)) text = head + ":" + minutes;
  WallTime t;
  if (parse_rfc3339_checked(text, &t) == Rfc3339Result::kOk) return t;
  return std::nullopt;
}

// arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME → region, account.
void from_arn(const std::string& arn, std::string* region, std::string* account) {
  static const re2::RE2 kArn("arn:aws[a-z-]*:cloudwatch:([a-z0-9-]+):([0-9]{12}):alarm:.+");
  std::string r, a;
  if (re2::RE2::FullMatch(arn, kArn, &r, &a)) {
    if (region->empty()) *region = r;
    if (account->empty()) *account = a;
  }
}

}  // namespace

struct CloudWatchIntake::PublicKey {
  EVP_PKEY* key = nullptr;
  ~PublicKey() { EVP_PKEY_free(key); }
};

std::string AlarmStateChange::key() const { return account + ":" + region + ":" + name + "@" + timestamp; }

nlohmann::json AlarmStateChange::evidence() const {
  return {{"source", "cloudwatch"}, {"via", via},       {"alarm", name},           {"alarm_arn", arn},
          {"account", account},     {"region", region}, {"state", state},          {"previous_state", previous_state},
          {"timestamp", timestamp}, {"reason", reason}, {"message_id", message_id}};
}

bool sns_string_to_sign(const nlohmann::json& m, std::string* out, std::string* error) {
  const std::string type = str(m, "Type");
  std::vector<const char*> fields;
  if (type == "Notification") {
    fields = {"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"};
  } else if (type == "SubscriptionConfirmation" || type == "UnsubscribeConfirmation") {
    fields = {"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"};
  } else {
    *error = "Type must be Notification, SubscriptionConfirmation or UnsubscribeConfirmation";
    return false;
  }
  out->clear();
  for (const char* field : fields) {
    bool present = false;
    const std::string value = str(m, field, &present);
    if (!present) {
      if (std::string(field) == "Subject" && (!m.contains(field) || m[field].is_null())) continue;  // optional
      *error = std::string(field) + " must be a string (SNS " + type + ")";
      return false;
    }
    *out += field;
    *out += '\n';
    *out += value;
    *out += '\n';
  }
  return true;
}

bool is_sns_url(const std::string& url, std::string* why) {
  // https, a host sns.REGION.amazonaws.com (or .com.cn), no userinfo or port, a path.
  static const re2::RE2 kSns(R"(https://sns\.[a-z]{2}(-[a-z]+)+-[0-9]+\.amazonaws\.com(\.cn)?/[^#\s]*)");
  if (re2::RE2::FullMatch(url, kSns)) return true;
  *why = "'" + clip(url) + "' is not https on an sns.<region>.amazonaws.com host";
  return false;
}

CloudWatchIntake::CloudWatchIntake(const CloudWatchConfig& config, std::string bearer_token_file, Hooks hooks)
    : config_(config), bearer_(std::move(bearer_token_file)), hooks_(std::move(hooks)) {
  if (!hooks_.now) hooks_.now = [] { return std::chrono::system_clock::now(); };
}

CloudWatchIntake::~CloudWatchIntake() = default;

void CloudWatchIntake::count(const std::string& result) const {
  if (hooks_.count) hooks_.count(result);
}

HttpReply CloudWatchIntake::reject(int status, const std::string& result, const std::string& message) {
  count(result);
  spdlog::warn("POST /api/v1/cloudwatch rejected ({}): {}", result, message);
  return HttpReply::error(status, message);
}

HttpReply CloudWatchIntake::handle(const HttpCall& call) {
  if (!config_.enabled) {
    return HttpReply::error(404, "CloudWatch-triggered rollback is off: configure cloudwatch.match to enable it");
  }
  nlohmann::json j = nlohmann::json::parse(call.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return reject(400, "rejected_malformed",
                  "body must be a JSON object: an EventBridge CloudWatch Alarm State Change event or an SNS message");
  }
  const std::string sns_type = call.header("x-amz-sns-message-type");
  if (!sns_type.empty() || (j.contains("Type") && j.contains("TopicArn"))) {
    if (!sns_type.empty() && sns_type != str(j, "Type")) {
      return reject(400, "rejected_malformed",
                    "x-amz-sns-message-type '" + clip(sns_type) + "' differs from the body's Type");
    }
    return sns(call, j);
  }
  if (j.contains("detail-type")) return eventbridge(call, j);
  return reject(400, "rejected_malformed",
                "neither an EventBridge event (detail-type) nor an SNS message (Type, TopicArn)");
}

HttpReply CloudWatchIntake::eventbridge(const HttpCall& call, const nlohmann::json& e) {
  // Authentication first: an unauthenticated sender learns nothing about the payload's checks.
  bool allowed = false;
  const std::string api_key = config_.api_key_file.empty() ? "" : call.header(config_.api_key_header);
  if (!api_key.empty()) {
    std::string expected, error;
    if (!common::read_secret_file(config_.api_key_file, "CloudWatch API key", &expected, &error)) {
      spdlog::error("POST /api/v1/cloudwatch: {}", error);
      count("rejected_auth");
      return HttpReply::error(503, "the API key file cannot be read (see the sidecar's log)");
    }
    if (!constant_time_equal(api_key, expected)) {
      return reject(403, "rejected_auth", config_.api_key_header + " is not the configured API key");
    }
    allowed = true;
  }
  if (!allowed) {
    std::string why;
    const auto verdict = bearer_.check(call.header("Authorization"), &why);
    if (verdict != BearerAuth::Verdict::kAllowed) {
      if (verdict == BearerAuth::Verdict::kMissing && !config_.api_key_file.empty()) {
        why = "EventBridge events need Authorization: Bearer <token> or the " + config_.api_key_header + " header";
      }
      HttpReply reply = reject(BearerAuth::http_status(verdict), "rejected_auth", why);
      if (verdict == BearerAuth::Verdict::kMissing) reply.headers.emplace_back("WWW-Authenticate", "Bearer");
      return reply;
    }
  }
  if (str(e, "source") != "aws.cloudwatch" || str(e, "detail-type") != kAlarmStateChange) {
    return reject(400, "rejected_malformed",
                  "only CloudWatch alarm state changes are taken: source must be aws.cloudwatch and detail-type '" +
                      std::string(kAlarmStateChange) + "' (got '" + clip(str(e, "source")) + "', '" +
                      clip(str(e, "detail-type")) + "')");
  }
  if (!e.contains("detail") || !e["detail"].is_object())
    return reject(400, "rejected_malformed", "detail must be an object");
  const auto& d = e["detail"];
  AlarmStateChange c;
  c.via = "eventbridge";
  bool present = false;
  c.name = str(d, "alarmName", &present);
  if (!present || c.name.empty())
    return reject(400, "rejected_malformed", "detail.alarmName must be a non-empty string");
  if (!d.contains("state") || !d["state"].is_object())
    return reject(400, "rejected_malformed", "detail.state must be an object");
  c.state = str(d["state"], "value");
  c.timestamp = str(d["state"], "timestamp", &present);
  if (!present || c.timestamp.empty())
    return reject(400, "rejected_malformed", "detail.state.timestamp must be a string");
  c.reason = str(d["state"], "reason");
  if (d.contains("previousState")) c.previous_state = str(d["previousState"], "value");
  c.account = str(e, "account");
  c.region = str(e, "region");
  c.message_id = str(e, "id");
  if (e.contains("resources") && e["resources"].is_array() && !e["resources"].empty() &&
      e["resources"][0].is_string()) {
    c.arn = e["resources"][0].get<std::string>();
  }
  from_arn(c.arn, &c.region, &c.account);
  return alarm(std::move(c));
}

HttpReply CloudWatchIntake::sns(const HttpCall& call, const nlohmann::json& m) {
  std::string canonical, error;
  if (!sns_string_to_sign(m, &canonical, &error)) return reject(400, "rejected_malformed", error);
  const std::string type = str(m, "Type");
  const std::string topic = str(m, "TopicArn");
  if (!config_.sns_topics.empty() &&
      std::find(config_.sns_topics.begin(), config_.sns_topics.end(), topic) == config_.sns_topics.end()) {
    return reject(403, "rejected_topic", "TopicArn '" + clip(topic, 160) + "' is not in cloudwatch.sns_topics");
  }
  const std::string version = str(m, "SignatureVersion");
  const EVP_MD* md = version == "1" ? EVP_sha1() : version == "2" ? EVP_sha256() : nullptr;
  if (!md) return reject(400, "rejected_malformed", "SignatureVersion must be \"1\" (SHA1) or \"2\" (SHA256)");
  auto signature = base64_decode(str(m, "Signature"));
  if (!signature) return reject(400, "rejected_malformed", "Signature must be base64");
  const std::string cert_url = str(m, "SigningCertURL");
  std::string why;
  if (!is_sns_url(cert_url, &why)) return reject(403, "rejected_signature", "SigningCertURL " + why);
  int status = 0;
  auto key = signing_key(cert_url, &status, &error);
  if (!key) {
    if (status >= 500) {
      count("error");
      spdlog::error("POST /api/v1/cloudwatch: {}", error);
      return HttpReply::error(status, error);
    }
    return reject(status, "rejected_signature", error);
  }
  bool valid = false;
  if (EVP_MD_CTX* ctx = EVP_MD_CTX_new()) {
    valid = EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key->key) == 1 &&
            EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
                             reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size()) == 1;
    EVP_MD_CTX_free(ctx);
  }
  if (!valid) {
    return reject(403, "rejected_signature",
                  "the SNS signature does not verify (SignatureVersion " + version + ", certificate " +
                      clip(cert_url, 160) + ")");
  }
  // Authentic from here on. A message older than sns_max_age is a replay (SNS retries for minutes).
  const auto sent = parse_time(str(m, "Timestamp"));
  if (!sent)
    return reject(400, "rejected_malformed", "Timestamp '" + clip(str(m, "Timestamp")) + "' is not an ISO 8601 time");
  const auto age = hooks_.now() - *sent;
  if (age > config_.sns_max_age) {
    return reject(400, "rejected_stale",
                  "Timestamp " + str(m, "Timestamp") + " is older than cloudwatch.sns_max_age (a replayed message?)");
  }
  if (type == "SubscriptionConfirmation") {
    const std::string url = str(m, "SubscribeURL");
    if (!is_sns_url(url, &why)) return reject(400, "rejected_malformed", "SubscribeURL " + why);
    if (!config_.sns_confirm_subscriptions) {
      count("subscription_logged");
      spdlog::warn(
          "SNS subscription to {} awaits confirmation (cloudwatch.sns_confirm_subscriptions is false): open {}",
          clip(topic, 160), url);
      return HttpReply::json(200, {{"type", type}, {"topic", topic}, {"result", "subscription_logged"}});
    }
    HttpResponse r = fetch(url);
    if (r.error != TransportError::kNone || r.status < 200 || r.status >= 300) {
      const std::string what = r.error != TransportError::kNone ? r.error_message : "HTTP " + std::to_string(r.status);
      count("error");
      spdlog::error("SNS subscription to {}: confirming failed: {}", clip(topic, 160), what);
      return HttpReply::error(502, "confirming the subscription failed: " + what);
    }
    count("subscription_confirmed");
    spdlog::info("SNS subscription to {} confirmed", clip(topic, 160));
    return HttpReply::json(200, {{"type", type}, {"topic", topic}, {"result", "subscription_confirmed"}});
  }
  if (type == "UnsubscribeConfirmation") {
    count("unsubscribed");
    spdlog::warn("SNS: the sidecar was unsubscribed from {}", clip(topic, 160));
    return HttpReply::json(200, {{"type", type}, {"topic", topic}, {"result", "unsubscribed"}});
  }
  // Notification: Message is the alarm, as JSON text.
  nlohmann::json a = nlohmann::json::parse(str(m, "Message"), nullptr, false);
  AlarmStateChange c;
  c.via = "sns";
  bool present = false;
  if (!a.is_discarded() && a.is_object()) c.name = str(a, "AlarmName", &present);
  if (!present || c.name.empty()) {
    return reject(400, "rejected_malformed", "Message is not a CloudWatch alarm notification (no AlarmName)");
  }
  c.state = str(a, "NewStateValue");
  c.previous_state = str(a, "OldStateValue");
  c.timestamp = str(a, "StateChangeTime", &present);
  if (!present || c.timestamp.empty())
    return reject(400, "rejected_malformed", "Message.StateChangeTime must be a string");
  c.reason = str(a, "NewStateReason");
  c.arn = str(a, "AlarmArn");
  c.account = str(a, "AWSAccountId");
  c.message_id = str(m, "MessageId");
  from_arn(c.arn, &c.region, &c.account);  // Message.Region is the long name ("EU (Ireland)")
  return alarm(std::move(c));
}

bool CloudWatchIntake::matches(const AlarmStateChange& c) const {
  for (const auto& [key, pattern] : config_.match) {
    const std::string& value = key == "alarm" ? c.name : key == "account" ? c.account : c.region;
    auto it = config_.compiled.find(key);
    std::shared_ptr<const re2::RE2> re = it != config_.compiled.end() ? it->second : nullptr;
    if (!re) re = compile_alert_matcher(pattern, nullptr);
    if (!re || !re2::RE2::FullMatch(value, *re)) return false;
  }
  return true;
}

AlertAdmission CloudWatchIntake::admit(const std::string& key, std::optional<WallTime> started) {
  if (hooks_.admit) return hooks_.admit(key, started);
  return seen_.first_time(key) ? AlertAdmission::kNew : AlertAdmission::kDuplicate;
}

HttpReply CloudWatchIntake::alarm(AlarmStateChange c) {
  if (c.state != "ALARM" && c.state != "OK" && c.state != "INSUFFICIENT_DATA") {
    return reject(400, "rejected_malformed",
                  "the alarm's state '" + clip(c.state) + "' is not ALARM, OK or INSUFFICIENT_DATA");
  }
  std::string result;
  std::optional<RollbackRequestResult> decision;
  if (c.state != "ALARM") {
    result = "not_alarm";  // OK and INSUFFICIENT_DATA never roll back
  } else if (!matches(c)) {
    result = "ignored";
  } else if (const AlertAdmission admission = admit(c.key(), parse_time(c.timestamp));
             admission != AlertAdmission::kNew) {
    result = admission == AlertAdmission::kStale ? "ignored_stale" : "duplicate";
    if (admission == AlertAdmission::kStale) {
      const auto since = hooks_.deployment_since ? hooks_.deployment_since() : std::nullopt;
      spdlog::info(
          "CloudWatch alarm {} in ALARM since {}, before this deployment began at {}: about an earlier "
          "deployment; ignored",
          clip(c.name, 160), c.timestamp, since ? to_rfc3339(*since) : "?");
    }
  } else {
    result = "matched";
    RollbackRequest request;
    request.trigger = Trigger::kAlert;
    request.name = c.name;
    request.reason = "CloudWatch alarm " + c.name + " in ALARM since " + c.timestamp;
    if (!c.reason.empty()) request.reason += ": " + c.reason;
    request.started_at = parse_time(c.timestamp);
    request.details = c.evidence();
    if (hooks_.request_rollback) decision = hooks_.request_rollback(request);
  }
  count(result);
  spdlog::info("CloudWatch alarm {} ({} via {}): {}", clip(c.name, 160), c.state, c.via, result);
  nlohmann::json body = {{"alarm", c.name}, {"state", c.state}, {"via", c.via}, {"result", result}};
  if (decision) body["rollback"] = to_json(*decision);
  return HttpReply::json(200, body);
}

HttpResponse CloudWatchIntake::fetch(const std::string& url) {
  std::lock_guard<std::mutex> lock(http_mu_);
  if (!hooks_.transport) hooks_.transport = make_http_transport();
  HttpRequest request;
  request.method = "GET";
  request.url = url;
  request.timeout = config_.sns_timeout;
  request.max_body_bytes = 64 * 1024;
  request.headers.emplace_back("User-Agent", "rollback-sidecar");
  return hooks_.transport->perform(request);
}

std::shared_ptr<CloudWatchIntake::PublicKey> CloudWatchIntake::signing_key(const std::string& url, int* status,
                                                                           std::string* error) {
  const std::string cache_key = config_.sns_certificate_file.empty() ? url : "file:" + config_.sns_certificate_file;
  {
    std::lock_guard<std::mutex> lock(keys_mu_);
    auto it = keys_.find(cache_key);
    if (it != keys_.end()) return it->second;
  }
  std::string pem;
  if (!config_.sns_certificate_file.empty()) {
    std::string why;
    auto text = common::read_regular_file(config_.sns_certificate_file, kMaxCertificateBytes, &why);
    if (!text || text->empty()) {
      *status = 503;
      *error = "cloudwatch.sns_certificate_file cannot be read: " +
               (text ? config_.sns_certificate_file + " is empty" : why);
      return nullptr;
    }
    pem = std::move(*text);
  } else {
    HttpResponse r = fetch(url);
    if (r.error != TransportError::kNone || r.status != 200) {
      *status = 503;  // SNS retries; the next attempt fetches again
      *error = "the SNS signing certificate could not be fetched from " + clip(url, 160) + ": " +
               (r.error != TransportError::kNone ? r.error_message : "HTTP " + std::to_string(r.status));
      return nullptr;
    }
    pem = r.body;
  }
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!cert) {
    *status = 403;
    *error = "the SNS signing certificate at " + clip(url, 160) + " is not a PEM X.509 certificate";
    return nullptr;
  }
  const bool expired = X509_cmp_current_time(X509_get0_notAfter(cert)) < 0;
  auto key = std::make_shared<PublicKey>();
  key->key = X509_get_pubkey(cert);
  X509_free(cert);
  if (expired || !key->key) {
    *status = 403;
    *error =
        "the SNS signing certificate at " + clip(url, 160) + (expired ? " has expired" : " has no usable public key");
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(keys_mu_);
  if (keys_.size() >= 64) keys_.clear();  // SNS rotates certificates rarely; bound the cache anyway
  keys_[cache_key] = key;
  return key;
}

}  // namespace rs::sidecar
