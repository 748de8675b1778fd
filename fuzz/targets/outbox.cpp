// The notification outbox loader: a dispatcher starts on the fuzz input as its outbox file,
// delivers what it finds to a notifier that accepts everything, and stops.
#include <cstdio>

#include "fuzz/fuzz_support.h"
#include "sidecar/core/self_metrics.h"
#include "sidecar/records/notification_dispatcher.h"

namespace {

class Accepting : public rs::notifiers::Notifier {
 public:
  std::string type() const override { return "webhook"; }
  std::string describe() const override { return "accepting"; }
  rs::notifiers::SendResult send(const rs::notifiers::Notification&, std::chrono::milliseconds) override {
    return rs::notifiers::SendResult::success("HTTP 200");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static rs::sidecar::Config config = [] {
    rs::sidecar::Config c;
    c.deployment.name = "checkout";
    c.deployment.stage = "prod";
    return c;
  }();
  static rs::sidecar::SelfMetrics metrics("fuzz", {}, rs::sidecar::deployment_state_names());
  static rs::SystemClock clock;
  static Accepting receiver;
  const std::string& path = rs::fuzz::scratch_path("outbox");
  rs::fuzz::write_scratch(path, data, size);
  std::remove((path + ".corrupt").c_str());
  rs::sidecar::NotifierSpec spec;
  spec.type = "webhook";
  spec.messages = {"RollbackStarted", "RollbackSucceeded", "RollbackFailed", "RollbackDryRun", "RuleNotify"};
  rs::sidecar::NotificationDispatcher dispatcher(config, {{&receiver, spec}}, metrics, clock, path,
                                                 [](const nlohmann::json&) {});
  dispatcher.start();
  (void)dispatcher.pending();
  dispatcher.stop();
  return 0;
}
