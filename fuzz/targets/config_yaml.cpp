// The config loader on arbitrary YAML, with the builtin actuator and notifier registries. Loading
// validates only: no request is sent, no process is started.
#include "fuzz/fuzz_support.h"
#include "sidecar/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto result =
      rs::sidecar::load_config_text(rs::fuzz::as_string(data, size), "fuzz.yaml", rs::actuators::Registry::builtin());
  for (const auto& e : result.errors) (void)e.message.size();
  return 0;
}
