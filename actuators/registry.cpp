#include "actuators/actuator.h"
#include "actuators/aws/alb.h"
#include "actuators/aws/codedeploy.h"
#include "actuators/aws/ecs.h"
#include "actuators/aws/lambda_alias.h"
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
    r.add("exec", [](Settings& s, const Environment& e) { return make_exec_actuator(s, e, e.env->processes); });
    r.add("file", [](Settings& s, const Environment& e) { return make_file_actuator(s, e, e.env->processes); });
    r.add("nginx", [](Settings& s, const Environment& e) { return make_nginx_actuator(s, e, e.env->processes); });
    r.add("webhook", [](Settings& s, const Environment& e) { return make_webhook_actuator(s, e, e.env->make_http()); });
    r.add("aws-lambda-alias", [](Settings& s, const Environment& e) { return make_aws_lambda_alias_actuator(s, e); });
    r.add("aws-codedeploy", [](Settings& s, const Environment& e) { return make_aws_codedeploy_actuator(s, e); });
    r.add("aws-ecs", [](Settings& s, const Environment& e) { return make_aws_ecs_actuator(s, e); });
    r.add("aws-alb", [](Settings& s, const Environment& e) { return make_aws_alb_actuator(s, e); });
    r.add("kubernetes-service",
          [](Settings& s, const Environment& e) { return make_kubernetes_service_actuator(s, e); });
    r.add("kubernetes-scale", [](Settings& s, const Environment& e) { return make_kubernetes_scale_actuator(s, e); });
    r.add("gateway-httproute", [](Settings& s, const Environment& e) { return make_gateway_httproute_actuator(s, e); });
    r.add("argo-rollout", [](Settings& s, const Environment& e) { return make_argo_rollout_actuator(s, e); });
    // The types whose supports_weights() is true (progressive promotion goes through them).
    for (const char* type : {"haproxy", "nginx", "file", "webhook", "aws-alb", "gateway-httproute"})
      r.declare_weights(type);
    r.declare_weights("aws-lambda-alias", "with canary");
    return r;
  }();
  return registry;
}

}  // namespace rs::actuators
