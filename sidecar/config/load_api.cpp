// api: the token of the mutating endpoints and the request size limit.
#include <algorithm>

#include "sidecar/config/loaders.h"

namespace rs::sidecar::config_internal {

void load_api(LoadContext& c) {
  if (!c.top.has("api")) {
    c.top.raw("api");  // known, even when absent
    return;
  }
  ApiConfig& out = c.config.api;
  MapReader api = c.top.child("api");
  out.bearer_token_file = api.string("bearer_token_file", "");
  long long max_body = api.integer("max_body_bytes", 1024 * 1024);
  if (max_body < 1024) api.error("max_body_bytes", "must be at least 1024");
  out.max_body_bytes = static_cast<std::size_t>(std::max(max_body, 1024LL));
  api.finish({{"bearer_token", "put the token in a file and use bearer_token_file"}});
}

}  // namespace rs::sidecar::config_internal
