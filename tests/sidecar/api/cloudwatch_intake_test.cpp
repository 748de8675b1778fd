// POST /api/v1/cloudwatch: EventBridge alarm events (bearer token / API key) and SNS messages
// (signature verified against a certificate made here with openssl), latched and de-duplicated.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sidecar/api/cloudwatch_intake.h"
#include "sidecar/config/config.h"
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using rs::testing::read_file;
using rs::testing::TempDir;
using rs::testing::write_file;

const char* kTopic = "arn:aws:sns:eu-west-1:123456789012:checkout-alarms";
const char* kCertUrl = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem";
const char* kSubscribeUrl =
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-west-1:123456789012:"
    "checkout-alarms&Token=2336412f37f";

// An RSA key and a self-signed certificate standing in for SNS's, made once with the openssl CLI.
struct Pki {
  TempDir dir;
  std::string cert_pem;
  Pki() {
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sns.amazonaws.com -keyout " +
                            dir.file("key.pem") + " -out " + dir.file("cert.pem") + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed: " + cmd);
    cert_pem = read_file(dir.file("cert.pem"));
  }
  // base64(RSA sign(SHA1 or SHA256, text)), by openssl dgst.
  std::string sign(const std::string& text, const std::string& version) const {
    write_file(dir.file("in.txt"), text);
    const std::string cmd = std::string("openssl dgst ") + (version == "1" ? "-sha1" : "-sha256") + " -sign " +
                            dir.file("key.pem") + " -out " + dir.file("sig.bin") + " " + dir.file("in.txt") +
                            " && openssl base64 -A -in " + dir.file("sig.bin") + " -out " + dir.file("sig.b64");
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl dgst failed");
    return read_file(dir.file("sig.b64"));
  }
};

const Pki& pki() {
  static const Pki* p = new Pki();
  return *p;
}

// Hands out the certificate at kCertUrl and 200 for anything else; remembers each URL.
class FakeTransport : public HttpTransport {
 public:
  std::vector<std::string> urls;
  std::string cert = pki().cert_pem;
  std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& requests) override {
    std::vector<HttpResponse> out;
    for (const auto& r : requests) {
      urls.push_back(r.url);
      HttpResponse resp;
      resp.status = 200;
      resp.body = r.url == kCertUrl ? cert : "<ConfirmSubscriptionResponse/>";
      out.push_back(resp);
    }
    return out;
  }
  int count(const std::string& url) const { return static_cast<int>(std::count(urls.begin(), urls.end(), url)); }
};

// The canonical string, written out independently of the production code (SNS docs).
std::string canonical(const nlohmann::json& m) {
  std::vector<std::string> fields =
      m["Type"] == "Notification"
          ? std::vector<std::string>{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
          : std::vector<std::string>{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"};
  std::string s;
  for (const auto& f : fields) {
    if (m.contains(f)) s += f + "\n" + m[f].get<std::string>() + "\n";
  }
  return s;
}

std::string iso(WallTime t) { return to_rfc3339(t); }

nlohmann::json signed_sns(nlohmann::json m, const std::string& version = "2") {
  m["SignatureVersion"] = version;
  if (!m.contains("SigningCertURL")) m["SigningCertURL"] = kCertUrl;
  m["Signature"] = pki().sign(canonical(m), version);
  return m;
}

nlohmann::json alarm_message(const std::string& name, const std::string& state, const std::string& changed) {
  return {{"AlarmName", name},
          {"AlarmDescription", "5xx over 1%"},
          {"AWSAccountId", "123456789012"},
          {"NewStateValue", state},
          {"NewStateReason", "Threshold Crossed: 1 datapoint [3.2] was greater than the threshold (1.0)."},
          {"StateChangeTime", changed},
          {"Region", "EU (Ireland)"},
          {"AlarmArn", "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:" + name},
          {"OldStateValue", "OK"}};
}

nlohmann::json sns_notification(const nlohmann::json& alarm, WallTime sent, const std::string& version = "2") {
  return signed_sns(
      {{"Type", "Notification"},
       {"MessageId", "b1a2c3d4-0000-4000-8000-" + std::to_string(sent.time_since_epoch().count() % 1000000000000)},
       {"TopicArn", kTopic},
       {"Subject", "ALARM: \"" + alarm["AlarmName"].get<std::string>() + "\" in EU (Ireland)"},
       {"Message", alarm.dump()},
       {"Timestamp", iso(sent)},
       {"UnsubscribeURL", std::string("https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe")}},
      version);
}

nlohmann::json eventbridge_event(const std::string& name, const std::string& state, const std::string& changed) {
  return {{"version", "0"},
          {"id", "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92"},
          {"detail-type", "CloudWatch Alarm State Change"},
          {"source", "aws.cloudwatch"},
          {"account", "123456789012"},
          {"time", "2024-05-01T12:00:00Z"},
          {"region", "eu-west-1"},
          {"resources", {"arn:aws:cloudwatch:eu-west-1:123456789012:alarm:" + name}},
          {"detail",
           {{"alarmName", name},
            {"state", {{"value", state}, {"reason", "Threshold Crossed"}, {"timestamp", changed}}},
            {"previousState", {{"value", "OK"}, {"timestamp", "2024-05-01T11:00:00.000+0000"}}},
            {"configuration", {{"description", "5xx over 1%"}}}}}};
}

HttpCall call(const nlohmann::json& body, std::map<std::string, std::string> headers = {}) {
  HttpCall c;
  c.method = "POST";
  c.path = "/api/v1/cloudwatch";
  c.body = body.dump();
  c.header = [headers](const std::string& name) {
    for (const auto& [k, v] : headers) {
      if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
    }
    return std::string();
  };
  return c;
}

struct Harness {
  TempDir dir;
  LoadedConfig loaded;
  std::shared_ptr<FakeTransport> transport = std::make_shared<FakeTransport>();
  std::vector<RollbackRequest> requests;
  std::map<std::string, int> counts;
  std::unique_ptr<CloudWatchIntake> intake;
  std::string token_file;

  using Admit = std::function<AlertAdmission(const std::string&, std::optional<WallTime>)>;
  explicit Harness(const std::string& cloudwatch_yaml, Admit admit = nullptr) {
    token_file = dir.file("token");
    write_file(token_file, "s3cret-token\n");
    write_file(dir.file("api-key"), "k3y-from-eventbridge\n");
    std::string yaml = cloudwatch_yaml;
    for (std::string::size_type at; (at = yaml.find("DIR")) != std::string::npos;) yaml.replace(at, 3, dir.path());
    LoadResult r = load_config_text(
        "prometheus: {url: 'http://prom:9090'}\n"
        "deployment: {name: checkout, stage: prod, strategy: canary}\n"
        "rules: [{name: e, query: x, above: 1}]\n"
        "actuators: [{type: exec, command: [/bin/true]}]\n"
        "api: {bearer_token_file: " +
            token_file +
            "}\n"
            "cloudwatch: " +
            yaml + "\n",
        "c.yml", actuators::Registry::builtin());
    if (!r.loaded) throw std::runtime_error(r.errors.at(0).to_string("c.yml"));
    loaded = std::move(*r.loaded);
    CloudWatchIntake::Hooks hooks;
    hooks.request_rollback = [this](const RollbackRequest& req) {
      requests.push_back(req);
      RollbackRequestResult res;
      res.accepted = requests.size() == 1;  // the engine latches: only the first is a decision
      res.decision_id = 1;
      res.kind = DecisionKind::kRollback;
      res.state = "rolled_back";
      return res;
    };
    hooks.count = [this](const std::string& result) { ++counts[result]; };
    hooks.transport = transport;
    hooks.admit = std::move(admit);
    intake = std::make_unique<CloudWatchIntake>(loaded.config.cloudwatch, token_file, hooks);
  }
  HttpReply post(const nlohmann::json& body, std::map<std::string, std::string> headers = {}) {
    return intake->handle(call(body, std::move(headers)));
  }
  static std::string result(const HttpReply& r) { return nlohmann::json::parse(r.body).value("result", ""); }
};

const std::string kMatch =
    "{match: {alarm: '{{deployment}}-(5xx|latency)'}, sns_topics: ['" + std::string(kTopic) + "']";
const std::map<std::string, std::string> kBearer = {{"Authorization", "Bearer s3cret-token"}};

// The engine's admission (Engine::admit_alert) decides staleness: an alarm that went to ALARM
// before this deployment began is counted ignored_stale and never asks for a rollback.
TEST(CloudWatchIntake, AnAlarmFromBeforeTheDeploymentIsIgnoredAsStale) {
  WallTime deployment_since;
  ASSERT_TRUE(parse_rfc3339("2024-05-01T12:00:00Z", &deployment_since));
  std::vector<std::string> keys;
  Harness h(kMatch + "}", [&](const std::string& key, std::optional<WallTime> started) {
    keys.push_back(key);
    return started && *started < deployment_since ? AlertAdmission::kStale : AlertAdmission::kNew;
  });
  HttpReply stale = h.post(eventbridge_event("checkout-5xx", "ALARM", "2024-05-01T11:59:00.000+0000"), kBearer);
  ASSERT_EQ(stale.status, 200) << stale.body;
  EXPECT_EQ(Harness::result(stale), "ignored_stale");
  EXPECT_TRUE(h.requests.empty());
  EXPECT_EQ(h.counts["ignored_stale"], 1);
  HttpReply fresh = h.post(eventbridge_event("checkout-5xx", "ALARM", "2024-05-01T12:00:05.000+0000"), kBearer);
  EXPECT_EQ(Harness::result(fresh), "matched");
  EXPECT_EQ(h.requests.size(), 1u);
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_NE(keys[0], keys[1]) << "the key holds the state-change time";
}

TEST(CloudWatchIntake, AnEventBridgeAlarmRollsBackOnceAndRedeliveryIsADuplicate) {
  Harness h(kMatch + "}");
  const auto event = eventbridge_event("checkout-5xx", "ALARM", "2024-05-01T12:00:05.123+0000");
  HttpReply r = h.post(event, kBearer);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Harness::result(r), "matched");
  ASSERT_EQ(h.requests.size(), 1u);
  EXPECT_EQ(h.requests[0].name, "checkout-5xx");
  EXPECT_NE(h.requests[0].reason.find("Threshold Crossed"), std::string::npos);
  ASSERT_TRUE(h.requests[0].started_at);
  EXPECT_EQ(to_rfc3339(*h.requests[0].started_at).substr(0, 19), "2024-05-01T12:00:05");
  EXPECT_EQ(h.requests[0].details["via"], "eventbridge");
  EXPECT_EQ(nlohmann::json::parse(r.body)["rollback"]["decision"], "rollback");

  HttpReply again = h.post(event, kBearer);  // EventBridge retries: the same state change
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(Harness::result(again), "duplicate");
  EXPECT_EQ(h.requests.size(), 1u);
  EXPECT_EQ(h.counts["matched"], 1);
  EXPECT_EQ(h.counts["duplicate"], 1);
}

TEST(CloudWatchIntake, EventBridgeNeedsTheBearerTokenOrTheApiKey) {
  Harness h(kMatch + ", api_key_file: DIR/api-key, api_key_header: X-Rollback-Key}");
  const auto event = eventbridge_event("checkout-5xx", "ALARM", "2024-05-01T12:00:05.123+0000");
  HttpReply none = h.post(event);
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.body.find("X-Rollback-Key"), std::string::npos) << none.body;
  EXPECT_EQ(h.post(event, {{"Authorization", "Bearer wrong"}}).status, 403);
  HttpReply bad_key = h.post(event, {{"X-Rollback-Key", "guess"}});
  EXPECT_EQ(bad_key.status, 403);
  EXPECT_NE(bad_key.body.find("API key"), std::string::npos);
  EXPECT_EQ(h.counts["rejected_auth"], 3);
  EXPECT_TRUE(h.requests.empty());
  HttpReply ok = h.post(event, {{"x-rollback-key", "k3y-from-eventbridge"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(h.requests.size(), 1u);
}

TEST(CloudWatchIntake, OkAndInsufficientDataNeverRollBack) {
  Harness h(kMatch + "}");
  for (const char* state : {"OK", "INSUFFICIENT_DATA"}) {
    HttpReply r = h.post(eventbridge_event("checkout-5xx", state, "2024-05-01T12:00:05.123+0000"), kBearer);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(Harness::result(r), "not_alarm");
    HttpReply s = h.post(sns_notification(alarm_message("checkout-5xx", state, "2024-05-01T12:01:00.000+0000"),
                                          std::chrono::system_clock::now()));
    EXPECT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(Harness::result(s), "not_alarm");
  }
  EXPECT_TRUE(h.requests.empty());
  EXPECT_EQ(h.counts["not_alarm"], 4);
  HttpReply weird = h.post(eventbridge_event("checkout-5xx", "PANIC", "2024-05-01T12:00:05.123+0000"), kBearer);
  EXPECT_EQ(weird.status, 400);
  EXPECT_NE(weird.body.find("PANIC"), std::string::npos);
}

TEST(CloudWatchIntake, AnAlarmThatDoesNotMatchIsIgnoredPatternsAreAnchored) {
  Harness h(kMatch + "}");
  for (const char* name : {"payments-5xx", "checkout-5xx-old", "xcheckout-latency"}) {
    HttpReply r = h.post(eventbridge_event(name, "ALARM", "2024-05-01T12:00:05.123+0000"), kBearer);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(Harness::result(r), "ignored") << name;
  }
  EXPECT_TRUE(h.requests.empty());
  EXPECT_EQ(h.counts["ignored"], 3);
}

TEST(CloudWatchIntake, OtherEventsAndGarbageAreRefusedByName) {
  Harness h(kMatch + "}");
  auto event = eventbridge_event("checkout-5xx", "ALARM", "2024-05-01T12:00:05.123+0000");
  event["detail-type"] = "EC2 Instance State-change Notification";
  HttpReply r = h.post(event, kBearer);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("detail-type"), std::string::npos) << r.body;
  HttpCall garbage = call(nullptr);
  garbage.body = "not json";
  EXPECT_EQ(h.intake->handle(garbage).status, 400);
  EXPECT_EQ(h.post({{"hello", "world"}}).status, 400);
  EXPECT_EQ(h.counts["rejected_malformed"], 3);
}

TEST(CloudWatchIntake, TheCanonicalStringIsSnsDocumentedFormat) {
  nlohmann::json m = {{"Type", "Notification"},
                      {"MessageId", "id-1"},
                      {"TopicArn", kTopic},
                      {"Message", "line1\nline2"},
                      {"Timestamp", "2024-05-01T12:00:00.000Z"}};
  std::string s, error;
  ASSERT_TRUE(sns_string_to_sign(m, &s, &error)) << error;
  EXPECT_EQ(s, "Message\nline1\nline2\nMessageId\nid-1\nTimestamp\n2024-05-01T12:00:00.000Z\nTopicArn\n" +
                   std::string(kTopic) + "\nType\nNotification\n")
      << "no Subject: the field is left out";
  m["Subject"] = "ALARM";
  ASSERT_TRUE(sns_string_to_sign(m, &s, &error));
  EXPECT_NE(s.find("MessageId\nid-1\nSubject\nALARM\nTimestamp\n"), std::string::npos);
}

TEST(CloudWatchIntake, ASignedSnsNotificationRollsBackWithEitherSignatureVersion) {
  Harness h(kMatch + "}");
  const auto now = std::chrono::system_clock::now();
  HttpReply v1 =
      h.post(sns_notification(alarm_message("checkout-latency", "ALARM", "2024-05-01T12:01:00.000+0000"), now, "1"),
             {{"x-amz-sns-message-type", "Notification"}});
  ASSERT_EQ(v1.status, 200) << v1.body;
  EXPECT_EQ(Harness::result(v1), "matched");
  HttpReply v2 =
      h.post(sns_notification(alarm_message("checkout-5xx", "ALARM", "2024-05-01T12:02:00.000+0000"), now, "2"));
  ASSERT_EQ(v2.status, 200) << v2.body;
  EXPECT_EQ(Harness::result(v2), "matched");
  ASSERT_EQ(h.requests.size(), 2u);
  EXPECT_EQ(h.requests[0].details["via"], "sns");
  EXPECT_EQ(h.requests[0].details["region"], "eu-west-1") << "from the alarm ARN, not 'EU (Ireland)'";
  EXPECT_EQ(h.transport->count(kCertUrl), 1) << "the certificate is fetched once and cached";
}

TEST(CloudWatchIntake, AForgedSignatureIsRefused) {
  Harness h(kMatch + "}");
  auto m = sns_notification(alarm_message("payments-5xx", "ALARM", "2024-05-01T12:01:00.000+0000"),
                            std::chrono::system_clock::now());
  m["Message"] =
      alarm_message("checkout-5xx", "ALARM", "2024-05-01T12:01:00.000+0000").dump();  // altered after signing
  HttpReply r = h.post(m);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("signature does not verify"), std::string::npos) << r.body;
  m["Signature"] = "bm90IGEgc2lnbmF0dXJl";
  EXPECT_EQ(h.post(m).status, 403);
  // A signature made by another key, with the real certificate's URL.
  Pki other;
  auto forged = m;
  forged["Signature"] = other.sign(canonical(forged), "2");
  EXPECT_EQ(h.post(forged).status, 403);
  EXPECT_TRUE(h.requests.empty());
  EXPECT_EQ(h.counts["rejected_signature"], 3);
}

TEST(CloudWatchIntake, AReplayIsADuplicateAndAnOldOneIsRefused) {
  Harness h(kMatch + "}");
  const auto m = sns_notification(alarm_message("checkout-5xx", "ALARM", "2024-05-01T12:01:00.000+0000"),
                                  std::chrono::system_clock::now());
  EXPECT_EQ(Harness::result(h.post(m)), "matched");
  HttpReply replay = h.post(m);
  EXPECT_EQ(replay.status, 200);
  EXPECT_EQ(Harness::result(replay), "duplicate");
  // The same state change through EventBridge is the same alarm at the same time.
  EXPECT_EQ(
      Harness::result(h.post(eventbridge_event("checkout-5xx", "ALARM", "2024-05-01T12:01:00.000+0000"), kBearer)),
      "duplicate");
  EXPECT_EQ(h.requests.size(), 1u);
  const auto old = sns_notification(alarm_message("checkout-5xx", "ALARM", "2024-05-01T09:00:00.000+0000"),
                                    std::chrono::system_clock::now() - std::chrono::hours(2));
  HttpReply stale = h.post(old);
  EXPECT_EQ(stale.status, 400);
  EXPECT_NE(stale.body.find("sns_max_age"), std::string::npos) << stale.body;
  EXPECT_EQ(h.counts["rejected_stale"], 1);
  EXPECT_EQ(h.requests.size(), 1u);
}

TEST(CloudWatchIntake, ASigningCertUrlOffSnsIsRefusedWithoutFetchingIt) {
  Harness h(kMatch + "}");
  for (const std::string url :
       {"https://evil.example.com/cert.pem", "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem", "https://sns.eu-west-1.amazonaws.com:8443/cert.pem"}) {
    nlohmann::json m = {{"Type", "Notification"},
                        {"MessageId", "x"},
                        {"TopicArn", kTopic},
                        {"Timestamp", iso(std::chrono::system_clock::now())},
                        {"Message", alarm_message("checkout-5xx", "ALARM", "2024-05-01T12:01:00.000+0000").dump()},
                        {"SigningCertURL", url}};
    HttpReply r = h.post(signed_sns(m));
    EXPECT_EQ(r.status, 403) << url;
    EXPECT_NE(r.body.find("SigningCertURL"), std::string::npos) << r.body;
  }
  EXPECT_TRUE(h.transport->urls.empty());
  EXPECT_TRUE(h.requests.empty());
}

TEST(CloudWatchIntake, AnotherTopicIsRefused) {
  Harness h(kMatch + "}");
  nlohmann::json m = {{"Type", "Notification"},
                      {"MessageId", "x"},
                      {"TopicArn", "arn:aws:sns:eu-west-1:999999999999:mine"},
                      {"Timestamp", iso(std::chrono::system_clock::now())},
                      {"Message", alarm_message("checkout-5xx", "ALARM", "2024-05-01T12:01:00.000+0000").dump()}};
  HttpReply r = h.post(signed_sns(m));
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("sns_topics"), std::string::npos);
  EXPECT_EQ(h.counts["rejected_topic"], 1);
}

nlohmann::json confirmation(const std::string& subscribe_url) {
  return signed_sns({{"Type", "SubscriptionConfirmation"},
                     {"MessageId", "165545c9-2a5c-472c-8df2-7ff2be2b3b1b"},
                     {"Token", "2336412f37f"},
                     {"TopicArn", kTopic},
                     {"Message", std::string("You have chosen to subscribe to the topic ") + kTopic},
                     {"SubscribeURL", subscribe_url},
                     {"Timestamp", iso(std::chrono::system_clock::now())}});
}

TEST(CloudWatchIntake, ASubscriptionConfirmationIsConfirmedAtSns) {
  Harness h(kMatch + "}");
  HttpReply r = h.post(confirmation(kSubscribeUrl), {{"x-amz-sns-message-type", "SubscriptionConfirmation"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Harness::result(r), "subscription_confirmed");
  EXPECT_EQ(h.transport->count(kSubscribeUrl), 1);
  // A SubscribeURL elsewhere is never fetched, even when correctly signed.
  HttpReply evil = h.post(confirmation("https://evil.example.com/?Action=ConfirmSubscription"));
  EXPECT_EQ(evil.status, 400);
  EXPECT_NE(evil.body.find("SubscribeURL"), std::string::npos);
  EXPECT_EQ(h.transport->urls.size(), 2u) << "the certificate and the one confirmation";
  // An unsigned confirmation is not confirmed.
  auto forged = confirmation(kSubscribeUrl);
  forged["Token"] = "other";
  EXPECT_EQ(h.post(forged).status, 403);
  EXPECT_EQ(h.transport->count(kSubscribeUrl), 1);
}

TEST(CloudWatchIntake, WithConfirmationOffTheUrlIsLoggedNotFetched) {
  Harness h(kMatch + ", sns_confirm_subscriptions: false}");
  HttpReply r = h.post(confirmation(kSubscribeUrl));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Harness::result(r), "subscription_logged");
  EXPECT_EQ(h.transport->count(kSubscribeUrl), 0);
}

TEST(CloudWatchIntake, TheTrustedCertificateFileReplacesTheDownload) {
  Harness h(kMatch + ", sns_certificate_file: DIR/sns.pem}");
  write_file(h.dir.file("sns.pem"), pki().cert_pem);
  HttpReply r = h.post(sns_notification(alarm_message("checkout-5xx", "ALARM", "2024-05-01T12:01:00.000+0000"),
                                        std::chrono::system_clock::now()));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Harness::result(r), "matched");
  EXPECT_TRUE(h.transport->urls.empty());
}

TEST(CloudWatchIntake, WhatIsNotACertificateAtTheUrlIsRefused) {
  Harness h(kMatch + "}");
  h.transport->cert = "<html>not a certificate</html>";
  HttpReply r = h.post(sns_notification(alarm_message("checkout-5xx", "ALARM", "2024-05-01T12:01:00.000+0000"),
                                        std::chrono::system_clock::now()));
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("not a PEM"), std::string::npos) << r.body;
}

std::vector<std::string> config_errors(const std::string& yaml) {
  LoadResult r = load_config_text(
      "prometheus: {url: 'http://prom:9090'}\ndeployment: {name: checkout, stage: prod, strategy: canary}\n"
      "rules: [{name: e, query: x, above: 1}]\nactuators: [{type: exec, command: [/bin/true]}]\n" +
          yaml,
      "c.yml", actuators::Registry::builtin());
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string("c.yml"));
  return out;
}

TEST(CloudWatchConfig, MistakesAreNamed) {
  EXPECT_TRUE(config_errors("cloudwatch: {match: {alarm: 'checkout-.*', region: eu-west-1}}\n").empty());
  auto e = config_errors("cloudwatch: {match: {alarm: 'a(', severity: x}, sns_topics: [foo], colour: red}\n");
  std::string all;
  for (const auto& s : e) all += s + "\n";
  EXPECT_NE(all.find("cloudwatch.match: alarm: 'a(' is not a valid RE2 regex"), std::string::npos) << all;
  EXPECT_NE(all.find("unknown key 'severity'"), std::string::npos) << all;
  EXPECT_NE(all.find("cloudwatch.sns_topics: 'foo' is not an SNS topic ARN"), std::string::npos) << all;
  EXPECT_NE(all.find("cloudwatch.colour: unknown key"), std::string::npos) << all;
  EXPECT_NE(
      config_errors("cloudwatch: {sns_confirm_subscriptions: false}\n").at(0).find("cloudwatch.match: is required"),
      std::string::npos);
}

TEST(PrometheusSigV4Config, RegionIsRequiredAndExcludesOtherAuth) {
  LoadResult ok = load_config_text(
      "prometheus: {url: 'https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1', sigv4: {region: "
      "eu-west-1}}\n"
      "deployment: {name: checkout, stage: prod, strategy: canary}\nrules: [{name: e, query: x, above: 1}]\n"
      "actuators: [{type: exec, command: [/bin/true]}]\n",
      "c.yml", actuators::Registry::builtin());
  ASSERT_TRUE(ok.loaded) << ok.errors.at(0).to_string("c.yml");
  ASSERT_TRUE(ok.loaded->config.prometheus.sigv4);
  EXPECT_EQ(ok.loaded->config.prometheus.sigv4->region, "eu-west-1");
  EXPECT_EQ(ok.loaded->config.prometheus.sigv4->service, "aps");
  std::string all;
  LoadResult bad = load_config_text(
      "prometheus: {url: 'https://x', bearer_token_file: /t, sigv4: {region: Ireland, colour: red}}\n"
      "deployment: {name: checkout, stage: prod, strategy: canary}\nrules: [{name: e, query: x, above: 1}]\n"
      "actuators: [{type: exec, command: [/bin/true]}]\n",
      "c.yml", actuators::Registry::builtin());
  all.clear();
  for (const auto& err : bad.errors) all += err.to_string("c.yml") + "\n";
  EXPECT_NE(all.find("prometheus.sigv4.region: 'Ireland' is not an AWS region"), std::string::npos) << all;
  EXPECT_NE(all.find("prometheus.sigv4.colour: unknown key"), std::string::npos) << all;
  EXPECT_NE(all.find("prometheus.sigv4: cannot go with bearer_token_file"), std::string::npos) << all;
}

}  // namespace
}  // namespace rs::sidecar
