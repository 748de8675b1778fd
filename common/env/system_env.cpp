#include "common/env/env.h"

namespace rs {

SystemEnv::SystemEnv() {
  clock = &system_clock_;
  make_http = [] { return make_http_transport(); };
  processes = posix_process_runner();
}

Env& system_env() {
  static SystemEnv env;
  return env;
}

}  // namespace rs
