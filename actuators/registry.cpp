#include "actuators/actuator.h"
#include "actuators/exec/exec.h"
#include "actuators/file/file.h"
#include "actuators/haproxy/haproxy.h"
#include "actuators/kubernetes/kubernetes.h"
#include "actuators/nginx/nginx.h"
#include "actuators/webhook/webhook.h"

namespace rs::actuators {

const Registry& Registry::builtin() {
  static const Registry registry = [] {
    Registry r;
    r.add("haproxy", [](Settings& s, const Environment& e) { return make_haproxy_actuator(s, e); });
    r.add("exec", [](Settings& s, const Environment& e) { return make_exec_actuator(s, e); });
    r.add("file", [](Settings& s, const Environment& e) { return make_file_actuator(s, e); });
    r.add("nginx", [](Settings& s, const Environment& e) { return make_nginx_actuator(s, e); });
    r.add("webhook", [](Settings& s, const Environment& e) { return make_webhook_actuator(s, e); });
    r.add("kubernetes-service",
          [](Settings& s, const Environment& e) { return make_kubernetes_service_actuator(s, e); });
    r.add("kubernetes-scale", [](Settings& s, const Environment& e) { return make_kubernetes_scale_actuator(s, e); });
    r.add("gateway-httproute",
          [](Settings& s, const Environment& e) { return make_gateway_httproute_actuator(s, e); });
    r.add("argo-rollout", [](Settings& s, const Environment& e) { return make_argo_rollout_actuator(s, e); });
    return r;
  }();
  return registry;
}

}  // namespace rs::actuators
