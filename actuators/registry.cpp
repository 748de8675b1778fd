#include "actuators/actuator.h"
#include "actuators/exec/exec.h"
#include "actuators/file/file.h"
#include "actuators/haproxy/haproxy.h"
#include "actuators/nginx/nginx.h"
#include "actuators/webhook/webhook.h"

namespace rs::actuators {

const Registry& Registry::builtin() {
  static const Registry registry = [] {
    Registry r;
    r.add("haproxy", [](Settings& s, const Environment& e) { return make_haproxy_actuator(s, e); });
    r.add("exec", [](Settings& s, const Environment& e) { return make_exec_actuator(s, e, e.env->processes); });
    r.add("file", [](Settings& s, const Environment& e) { return make_file_actuator(s, e, e.env->processes); });
    r.add("nginx", [](Settings& s, const Environment& e) { return make_nginx_actuator(s, e, e.env->processes); });
    r.add("webhook", [](Settings& s, const Environment& e) { return make_webhook_actuator(s, e, e.env->make_http()); });
    return r;
  }();
  return registry;
}

}  // namespace rs::actuators
