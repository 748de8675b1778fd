#include "actuators/aws/codedeploy.h"

#include <nlohmann/json.hpp>

#include <vector>

#include "common/json_text.h"

namespace rs::actuators {
namespace {

using Deadline = std::chrono::steady_clock::time_point;
using nlohmann::json;

const char* kPrefix = "CodeDeploy_20141006.";

struct DeploymentInfo {
  std::string id, status, creator, rollback_id, rollback_message, triggering_id;
};

class CodeDeployActuator final : public Actuator {
 public:
  // Deadlines are in `clock`'s mono() time; the GetDeployment polls sleep on it.
  CodeDeployActuator(std::shared_ptr<rs::aws::AwsClient> client, Clock& clock, std::string application,
                     std::string group, std::chrono::milliseconds poll)
      : client_(std::move(client)),
        clock_(clock),
        application_(std::move(application)),
        group_(std::move(group)),
        poll_(poll) {}

  std::string type() const override { return "aws-codedeploy"; }
  std::string describe() const override {
    return "aws-codedeploy " + application_ + "/" + group_ + " (" + client_->options().region + ")";
  }

  ActResult rollback(const DecisionContext&, Deadline deadline) override {
    const std::string what = describe();
    std::vector<std::string> ids;
    ActResult error;
    if (!list_in_progress(&ids, &error, deadline)) return error;
    std::vector<DeploymentInfo> to_stop;
    std::vector<std::string> rollbacks;
    for (const auto& id : ids) {
      DeploymentInfo info;
      if (!get(id, &info, &error, deadline)) return error;
      if (is_rollback(info))
        rollbacks.push_back(id);
      else
        to_stop.push_back(info);
    }
    if (to_stop.empty()) {
      if (rollbacks.empty()) return ActResult::noop(what + ": no deployment in progress");
      return ActResult::noop(what + ": only CodeDeploy rollback deployment(s) in progress: " + join(rollbacks));
    }
    std::vector<std::string> done;
    for (const auto& d : to_stop) {
      json body = {{"deploymentId", d.id}, {"autoRollbackEnabled", true}};
      auto r = client_->json_call(std::string(kPrefix) + "StopDeployment", common::dump_json(body), deadline);
      if (!r.ok && r.code != "DeploymentAlreadyCompletedException")
        return aws::failed(what, "StopDeployment " + d.id, r);
      // Verify: the stopped deployment names its rollback deployment.
      DeploymentInfo after;
      for (;;) {
        if (!get(d.id, &after, &error, deadline)) return error;
        if (!after.rollback_id.empty()) break;
        if (after.status == "Succeeded")
          return ActResult::failure(what + ": deployment " + d.id +
                                        " completed (Succeeded) before it could be stopped; "
                                        "CodeDeploy started no rollback",
                                    false);
        if (clock_.mono() + poll_ >= deadline || !clock_.sleep_until(clock_.mono() + poll_))
          return ActResult::failure(what + ": deployment " + d.id + " is " + after.status +
                                        " but CodeDeploy has not started a rollback deployment by the deadline" +
                                        (after.rollback_message.empty() ? "" : ": " + after.rollback_message),
                                    true);
      }
      done.push_back(d.id + " (" + after.status + ") -> rollback deployment " + after.rollback_id +
                     (r.ok ? "" : " (already stopped by someone else)"));
    }
    return ActResult::changed(what + ": stopped " + join(done) + " (verified by GetDeployment rollbackInfo)");
  }

  ActResult probe(Deadline deadline) override {
    std::vector<std::string> ids;
    ActResult error;
    if (!list_in_progress(&ids, &error, deadline)) return error;
    return ActResult::noop(describe() + ": reachable; " + std::to_string(ids.size()) + " deployment(s) in progress");
  }

 private:
  static std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }
  static bool is_rollback(const DeploymentInfo& d) { return d.creator == "autoRollback" || !d.triggering_id.empty(); }

  bool list_in_progress(std::vector<std::string>* ids, ActResult* error, Deadline deadline) {
    std::string token;
    for (int page = 0; page < 50; ++page) {
      json body = {{"applicationName", application_},
                   {"deploymentGroupName", group_},
                   {"includeOnlyStatuses", {"Created", "Queued", "InProgress", "Ready"}}};
      if (!token.empty()) body["nextToken"] = token;
      auto r = client_->json_call(std::string(kPrefix) + "ListDeployments", common::dump_json(body), deadline);
      if (!r.ok) {
        *error = aws::failed(describe(), "ListDeployments", r);
        return false;
      }
      auto j = json::parse(r.body, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        *error = ActResult::failure(describe() + ": ListDeployments: reply is not a JSON object", true);
        return false;
      }
      if (j.contains("deployments") && j["deployments"].is_array())
        for (const auto& id : j["deployments"])
          if (id.is_string()) ids->push_back(id.get<std::string>());
      token = j.contains("nextToken") && j["nextToken"].is_string() ? j["nextToken"].get<std::string>() : "";
      if (token.empty()) return true;
    }
    return true;
  }

  bool get(const std::string& id, DeploymentInfo* info, ActResult* error, Deadline deadline) {
    auto r = client_->json_call(std::string(kPrefix) + "GetDeployment", common::dump_json(json({{"deploymentId", id}})),
                                deadline);
    if (!r.ok) {
      *error = aws::failed(describe(), "GetDeployment " + id, r);
      return false;
    }
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.contains("deploymentInfo") || !j["deploymentInfo"].is_object()) {
      *error = ActResult::failure(describe() + ": GetDeployment " + id + ": reply has no deploymentInfo", true);
      return false;
    }
    const json& d = j["deploymentInfo"];
    auto str = [](const json& o, const char* k) {
      return o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : "";
    };
    *info = DeploymentInfo{};
    info->id = id;
    info->status = str(d, "status");
    info->creator = str(d, "creator");
    if (d.contains("rollbackInfo") && d["rollbackInfo"].is_object()) {
      info->rollback_id = str(d["rollbackInfo"], "rollbackDeploymentId");
      info->rollback_message = str(d["rollbackInfo"], "rollbackMessage");
      info->triggering_id = str(d["rollbackInfo"], "rollbackTriggeringDeploymentId");
    }
    return true;
  }

  std::shared_ptr<rs::aws::AwsClient> client_;
  Clock& clock_;
  std::string application_, group_;
  std::chrono::milliseconds poll_;
};

}  // namespace

std::unique_ptr<Actuator> make_aws_codedeploy_actuator(Settings& settings, const Environment& env,
                                                       aws::AwsSeams seams) {
  std::string application = settings.string("application");
  std::string group = settings.string("deployment_group");
  auto poll = settings.duration("poll_interval", std::chrono::milliseconds(1000));
  if (poll.count() <= 0) settings.error("poll_interval", "must be greater than 0");
  auto client = aws::make_client(settings, "codedeploy", "codedeploy", env, seams);
  Clock& clock = env.env->clock ? *env.env->clock : *system_env().clock;  // an Env without a clock: the system's
  return std::make_unique<CodeDeployActuator>(std::move(client), clock, application, group, poll);
}

}  // namespace rs::actuators
