#include "actuators/aws/ecs.h"

#include <nlohmann/json.hpp>

#include <mutex>
#include <vector>

#include "common/json_text.h"

namespace rs::actuators {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

const char* kPrefix = "AmazonEC2ContainerServiceV20141113.";

struct Deployment {
  std::string id, status, task_definition;
};

struct ServiceState {
  std::string controller = "ECS";
  std::vector<Deployment> deployments;
  const Deployment* primary() const {
    for (const auto& d : deployments)
      if (d.status == "PRIMARY") return &d;
    return nullptr;
  }
};

// "arn:aws:ecs:r:a:task-definition/web:7" or "web:7" → {"web", 7}; revision -1 when absent.
std::pair<std::string, long> family_revision(const std::string& td) {
  auto slash = td.rfind('/');
  std::string tail = slash == std::string::npos ? td : td.substr(slash + 1);
  auto colon = tail.rfind(':');
  if (colon == std::string::npos) return {tail, -1};
  try {
    return {tail.substr(0, colon), std::stol(tail.substr(colon + 1))};
  } catch (...) {
    return {tail, -1};
  }
}

bool same_task_definition(const std::string& a, const std::string& b) {
  if (a == b) return true;
  auto fa = family_revision(a), fb = family_revision(b);
  return fa.second >= 0 && fa == fb;
}

class EcsActuator final : public Actuator {
 public:
  EcsActuator(std::shared_ptr<rs::aws::AwsClient> client, std::string cluster, std::string service, std::string stable)
      : client_(std::move(client)),
        cluster_(std::move(cluster)),
        service_(std::move(service)),
        stable_(std::move(stable)) {}

  std::string type() const override { return "aws-ecs"; }
  std::string describe() const override {
    return "aws-ecs " + cluster_ + "/" + service_ + " (" + client_->options().region + ")";
  }

  ActResult rollback(const DecisionContext&, Clock::time_point deadline) override {
    const std::string what = describe();
    ServiceState s;
    ActResult error;
    if (!read(&s, &error, deadline)) return error;
    if (s.controller != "ECS")
      return ActResult::failure(what + ": the service uses the " + s.controller +
                                    " deployment controller; mode "
                                    "previous-task-definition needs ECS" +
                                    (s.controller == "CODE_DEPLOY" ? " (use the aws-codedeploy actuator)" : ""),
                                false);
    const Deployment* primary = s.primary();
    if (!primary) return ActResult::failure(what + ": DescribeServices shows no PRIMARY deployment", true);
    std::string target;
    if (!stable_.empty()) {
      if (same_task_definition(primary->task_definition, stable_))
        return ActResult::noop(what + ": PRIMARY deployment already runs " + primary->task_definition);
      target = stable_;
    } else {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!rolled_back_to_.empty() && same_task_definition(primary->task_definition, rolled_back_to_))
          return ActResult::noop(what + ": PRIMARY deployment runs " + primary->task_definition +
                                 ", which this sidecar rolled back to");
      }
      auto [family, revision] = family_revision(primary->task_definition);
      long best = -1;
      for (const auto& d : s.deployments) {
        if (d.status != "ACTIVE") continue;
        auto [f, r] = family_revision(d.task_definition);
        if (f != family) continue;
        if (r > revision)
          return ActResult::noop(what + ": PRIMARY deployment runs " + primary->task_definition +
                                 ", older than the draining " + d.task_definition + ": already rolled back");
        if (r < revision && r > best) {
          best = r;
          target = d.task_definition;
        }
      }
      if (target.empty())
        return ActResult::failure(
            what + ": only the PRIMARY deployment (" + primary->task_definition +
                ") is left, so the previous task definition is unknown; set stable_task_definition",
            false);
    }
    json body = {{"cluster", cluster_}, {"service", service_}, {"taskDefinition", target}};
    auto r = client_->json_call(std::string(kPrefix) + "UpdateService", common::dump_json(body), deadline);
    if (!r.ok) return aws::failed(what, "UpdateService", r);
    ServiceState after;
    if (!read(&after, &error, deadline)) return error;
    const Deployment* now = after.primary();
    if (!now || !same_task_definition(now->task_definition, target))
      return ActResult::failure(what + ": UpdateService succeeded but the PRIMARY deployment runs " +
                                    (now ? now->task_definition : std::string("nothing")),
                                true);
    {
      std::lock_guard<std::mutex> lock(mu_);
      rolled_back_to_ = now->task_definition;
    }
    return ActResult::changed(what + ": PRIMARY deployment was " + primary->task_definition + ", now " +
                              now->task_definition + " (deployment " + now->id + ", verified)");
  }

  ActResult probe(Clock::time_point deadline) override {
    ServiceState s;
    ActResult error;
    if (!read(&s, &error, deadline)) return error;
    const Deployment* p = s.primary();
    return ActResult::noop(describe() + ": reachable; " + s.controller + " controller, PRIMARY runs " +
                           (p ? p->task_definition : std::string("nothing")));
  }

 private:
  bool read(ServiceState* s, ActResult* error, Clock::time_point deadline) {
    json body = {{"cluster", cluster_}, {"services", {service_}}};
    auto r = client_->json_call(std::string(kPrefix) + "DescribeServices", common::dump_json(body), deadline);
    if (!r.ok) {
      *error = aws::failed(describe(), "DescribeServices", r);
      return false;
    }
    auto j = json::parse(r.body, nullptr, false);
    auto str = [](const json& o, const char* k) {
      return o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : "";
    };
    if (j.is_discarded() || !j.is_object()) {
      *error = ActResult::failure(describe() + ": DescribeServices: reply is not a JSON object", true);
      return false;
    }
    if (j.contains("failures") && j["failures"].is_array() && !j["failures"].empty()) {
      const json& f = j["failures"][0];
      *error = ActResult::failure(describe() + ": DescribeServices: " + str(f, "arn") + ": " + str(f, "reason") +
                                      (str(f, "detail").empty() ? "" : " (" + str(f, "detail") + ")"),
                                  false);
      return false;
    }
    if (!j.contains("services") || !j["services"].is_array() || j["services"].empty()) {
      *error = ActResult::failure(describe() + ": DescribeServices: no such service", false);
      return false;
    }
    const json& svc = j["services"][0];
    if (str(svc, "status") == "INACTIVE") {
      *error = ActResult::failure(describe() + ": the service is INACTIVE (deleted)", false);
      return false;
    }
    if (svc.contains("deploymentController") && svc["deploymentController"].is_object())
      s->controller = str(svc["deploymentController"], "type");
    if (s->controller.empty()) s->controller = "ECS";
    if (svc.contains("deployments") && svc["deployments"].is_array())
      for (const auto& d : svc["deployments"])
        s->deployments.push_back({str(d, "id"), str(d, "status"), str(d, "taskDefinition")});
    return true;
  }

  std::shared_ptr<rs::aws::AwsClient> client_;
  std::string cluster_, service_, stable_;
  std::mutex mu_;
  std::string rolled_back_to_;
};

}  // namespace

std::unique_ptr<Actuator> make_aws_ecs_actuator(Settings& settings, const Environment& env, aws::AwsSeams seams) {
  std::string cluster = settings.string("cluster");
  std::string service = settings.string("service");
  std::string mode = settings.string("mode", "previous-task-definition");
  if (mode == "stop-deployment")
    settings.error("mode",
                   "stop-deployment (StopServiceDeployment) is not implemented yet; use previous-task-definition");
  else if (mode != "previous-task-definition")
    settings.error("mode", "'" + mode + "' is not one of previous-task-definition, stop-deployment");
  std::string stable = settings.string("stable_task_definition", "");
  auto client = aws::make_client(settings, "ecs", "ecs", env, seams);
  return std::make_unique<EcsActuator>(std::move(client), cluster, service, stable);
}

}  // namespace rs::actuators
