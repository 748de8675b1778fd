// The `aws-ecs` actuator: points an ECS service back at its previous (stable) task definition.
//
// Settings keys:
//   cluster                 cluster name or ARN (required)
//   service                 service name or ARN (required)
//   mode                    previous-task-definition (default; the only mode implemented so far)
//   stable_task_definition  optional "family:revision" or ARN to roll back to. Without it, the
//                           target is the task definition of the service's ACTIVE (still draining)
//                           deployment of the same family with the highest revision below the
//                           PRIMARY's; when the PRIMARY already runs an older revision than an
//                           ACTIVE deployment, the service is taken as rolled back (noop).
//   region (required), endpoint, profile, timeout: as for every AWS actuator
//
// rollback(): DescribeServices; noop when the PRIMARY deployment runs the target; otherwise
// UpdateService {taskDefinition: target}, verified by DescribeServices (the PRIMARY deployment's
// taskDefinition). Needs the ECS deployment controller: a CODE_DEPLOY service is rolled back by
// aws-codedeploy, an EXTERNAL one by its own tooling; both are refused with that advice.
#pragma once

#include <memory>

#include "actuators/actuator.h"
#include "actuators/aws/aws_settings.h"

namespace rs::actuators {

std::unique_ptr<Actuator> make_aws_ecs_actuator(Settings& settings, const Environment& env, aws::AwsSeams seams = {});

}  // namespace rs::actuators
