// Kubernetes API answers as the actuators' client receives them (a canned transport, no
// network): JSON or not, Status bodies quoted by describe(); and kubeconfig files.
#include "actuators/kubernetes/client.h"
#include "common/http/url.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace k = rs::actuators::kubernetes;
  const std::string input = rs::fuzz::as_string(data, size);
  auto transport = std::make_shared<rs::fuzz::CannedTransport>();
  transport->body = input;
  k::Cluster cluster;
  cluster.server = "https://127.0.0.1:1";
  cluster.token = "fuzz-token";
  k::Client client(cluster, transport);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (long status : {200L, 403L, 409L, 422L, 500L}) {
    transport->status = status;
    k::Reply reply = client.get("/api/v1/namespaces/default/services/checkout", deadline);
    (void)reply.describe();
    (void)reply.retryable();
  }
  (void)k::base64_decode(input);
  (void)rs::percent_encode(input);
  // The same bytes as a kubeconfig (resolve_cluster() adds only the capped file read).
  k::Cluster resolved;
  std::string error;
  if (!k::cluster_from_kubeconfig(input, "/var/run/kubeconfig", "", &resolved, &error) && error.empty()) std::abort();
  return 0;
}
