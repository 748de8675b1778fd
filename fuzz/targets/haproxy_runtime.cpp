// HAProxy runtime API replies: "show servers state" dumps (and HAProxy's error replies, which
// land in the same parser), and the runtime address syntax.
#include <cstdlib>

#include "actuators/haproxy/haproxy_runtime.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace h = rs::actuators::haproxy;
  const std::string reply = rs::fuzz::as_string(data, size);
  std::string error;
  auto rows = h::parse_servers_state(reply, &error);
  if (!rows && error.empty()) std::abort();
  if (rows) {
    for (const auto& row : *rows) (void)h::describe_admin_state(row.admin_state);
  }
  (void)h::quote_reply(reply);
  error.clear();
  auto address = h::Address::parse(reply.substr(0, 256), &error);
  if (!address && error.empty()) std::abort();
  return 0;
}
