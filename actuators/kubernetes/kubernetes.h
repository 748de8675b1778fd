// The native Kubernetes actuators (docs/kubernetes.md):
//
//   kubernetes-service  flips a Service's selector label `label` from `canary` to `stable`
//                       (strategic merge patch with a resourceVersion precondition), verified by
//                       reading the Service back and, when listable, by its EndpointSlices
//                       selecting only the stable pods.
//   kubernetes-scale    scales Deployment `canary_deployment` to 0 through the scale
//                       subresource (and `name`, the stable Deployment, up to `stable_replicas`
//                       when set, first), verified by the Deployments' readyReplicas.
//   gateway-httproute   sets the weights of an HTTPRoute's (gateway.networking.k8s.io/v1)
//                       backendRefs: `canary_backend` 0 and `stable_backend` 100 (or
//                       canary P / stable 100-P for progressive promotion), every other field
//                       kept; merge patch of spec.rules with a resourceVersion precondition.
//   argo-rollout        aborts an Argo Rollout like `kubectl argo rollouts abort`: merge patch
//                       {"status":{"abort":true}} on the status subresource, verified by the
//                       controller moving the Rollout to phase Degraded.
//
// Common keys: namespace, name (required); credentials (default in-cluster): kubeconfig
// (+ context), or api_server + token_file + ca_file; request_timeout (default 5s).
// Every actuator reads first and is a noop when the cluster is already rolled back. A 409
// (someone else changed the object between our read and our patch) makes it read again and
// decide again, never overwrite; 403/404/422 fail at once (not retryable) with the API server's
// Status reason and message, as does a kubeconfig that cannot be used as written; transport
// errors, 429 and 5xx are retryable by the executor.
#pragma once

#include <memory>
#include <string>

#include "actuators/actuator.h"
#include "actuators/kubernetes/client.h"

namespace rs::actuators {

// Test seams of the kubernetes factories: the transport and the in-cluster environment. The clock
// (polls, deadlines) and, without a seam transport, the HTTP transport come from env.env.
struct KubernetesSeams {
  std::shared_ptr<rs::HttpTransport> transport;                          // null: env.env->make_http()
  std::string service_account_dir;                                       // empty: the standard path
  std::function<std::optional<std::string>(const std::string&)> getenv;  // null: the process's
};

std::unique_ptr<Actuator> make_kubernetes_service_actuator(Settings& settings, const Environment& env,
                                                           const KubernetesSeams& seams = {});
std::unique_ptr<Actuator> make_kubernetes_scale_actuator(Settings& settings, const Environment& env,
                                                         const KubernetesSeams& seams = {});
std::unique_ptr<Actuator> make_gateway_httproute_actuator(Settings& settings, const Environment& env,
                                                          const KubernetesSeams& seams = {});
std::unique_ptr<Actuator> make_argo_rollout_actuator(Settings& settings, const Environment& env,
                                                     const KubernetesSeams& seams = {});

}  // namespace rs::actuators
