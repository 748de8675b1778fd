// The state file loader (the latched rollback state read at startup).
#include <cstdlib>

#include "fuzz/fuzz_support.h"
#include "sidecar/core/state_store.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = rs::fuzz::scratch_path("state");
  rs::fuzz::write_scratch(path, data, size);
  rs::sidecar::StateStore store(path);
  std::optional<rs::sidecar::PersistedState> state;
  std::string error;
  if (!store.load(&state, &error)) {
    if (error.empty()) std::abort();
    return 0;
  }
  if (!state) return 0;  // empty path only
  // What was loaded can be written back and loaded again to the same state.
  const std::string& again = rs::fuzz::scratch_path("state-again");
  rs::sidecar::StateStore copy(again);
  if (!copy.save(*state, &error)) std::abort();
  std::optional<rs::sidecar::PersistedState> reloaded;
  if (!copy.load(&reloaded, &error) || !reloaded || reloaded->state != state->state ||
      reloaded->identity != state->identity) {
    std::abort();
  }
  return 0;
}
