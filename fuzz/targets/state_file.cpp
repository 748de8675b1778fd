// The state file's text (the latched rollback state read at startup): parsed, written back, and
// parsed again to the same text. StateStore adds only the capped file read around it.
#include <cstdlib>

#include "fuzz/fuzz_support.h"
#include "sidecar/core/state_store.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace s = rs::sidecar;
  s::PersistedState state;
  std::string why;
  if (!s::parse_persisted_state(rs::fuzz::as_string(data, size), &state, &why)) {
    if (why.empty()) std::abort();
    return 0;
  }
  const std::string text = s::persisted_state_text(state);
  s::PersistedState again;
  if (!s::parse_persisted_state(text, &again, &why)) std::abort();
  if (again.state != state.state || again.identity != state.identity) std::abort();
  if (s::persisted_state_text(again) != text) std::abort();
  return 0;
}
