// Test environments (common/env/env.h): a real Env with the test's own clock, so engine and
// scheduler tests drive time while HTTP and processes stay real (or scripted where a test
// passes its own transport).
#pragma once

#include "common/env/env.h"

namespace rs::fakes {

// The clock must outlive whatever is built from the returned Env.
inline Env env_with_clock(Clock& clock) {
  Env env;
  env.clock = &clock;
  env.make_http = [] { return make_curl_transport(); };
  env.processes = posix_process_runner();
  return env;
}

}  // namespace rs::fakes
