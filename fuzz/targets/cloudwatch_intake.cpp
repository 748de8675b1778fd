// POST /api/v1/cloudwatch bodies through the intake: EventBridge events (authenticated, so the
// alarm parsing, matching and de-duplication run) and SNS messages (parsed and checked up to the
// signature, which a fuzzer cannot forge; the canonical string is built for every object).
#include <cstdlib>
#include <string>

#include "common/json_text.h"
#include "fuzz/fuzz_support.h"
#include "sidecar/api/cloudwatch_intake.h"
#include "sidecar/config/config.h"

namespace {

const std::string& token_file() {
  static const std::string path = [] {
    const std::string p = rs::fuzz::scratch_path("cloudwatch-token");
    const std::string token = "fuzz-token";
    rs::fuzz::write_scratch(p, reinterpret_cast<const std::uint8_t*>(token.data()), token.size());
    return p;
  }();
  return path;
}

rs::sidecar::CloudWatchConfig make_config() {
  rs::sidecar::CloudWatchConfig c;
  c.enabled = true;
  c.match = {{"alarm", "checkout-.*"}, {"region", "eu-west-1|us-east-1"}};
  for (const auto& [key, pattern] : c.match) {
    std::string error;
    c.compiled[key] = rs::sidecar::compile_alert_matcher(pattern, &error);
    if (!c.compiled[key]) std::abort();
  }
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const rs::sidecar::CloudWatchConfig config = make_config();
  static const auto transport = [] {
    auto t = std::make_shared<rs::fuzz::CannedTransport>();
    t->body = "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n";
    return t;
  }();
  static rs::sidecar::CloudWatchIntake intake(config, token_file(),
                                              {[](const rs::sidecar::RollbackRequest&) {
                                                 rs::sidecar::RollbackRequestResult r;
                                                 r.accepted = true;
                                                 r.kind = rs::sidecar::DecisionKind::kRollback;
                                                 r.state = "rolled_back";
                                                 return r;
                                               },
                                               nullptr, nullptr, transport});

  const std::string body = rs::fuzz::as_string(data, size);
  rs::sidecar::HttpCall call;
  call.method = "POST";
  call.path = "/api/v1/cloudwatch";
  call.body = body;
  call.header = [](const std::string& name) -> std::string {
    return name == "Authorization" ? "Bearer fuzz-token" : "";
  };
  const rs::sidecar::HttpReply reply = intake.handle(call);
  if (reply.status < 200 || reply.status > 599) std::abort();
  if (reply.status >= 400 && reply.body.find("\"error\"") == std::string::npos) std::abort();

  const auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_object()) {
    std::string canonical, error;
    if (!rs::sidecar::sns_string_to_sign(json, &canonical, &error) && error.empty()) std::abort();
  }
  return 0;
}
