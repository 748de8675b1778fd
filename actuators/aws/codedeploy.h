// The `aws-codedeploy` actuator: stops the deployment group's deployment in progress with
// automatic rollback, and waits until CodeDeploy has started the rollback deployment.
//
// Settings keys:
//   application       CodeDeploy application name (required)
//   deployment_group  deployment group name (required)
//   region (required), endpoint, profile, timeout: as for every AWS actuator
//   poll_interval     between GetDeployment polls while waiting for the rollback (default 1s)
//
// rollback(): ListDeployments (includeOnlyStatuses Created, Queued, InProgress, Ready), then
// GetDeployment of each: deployments created by CodeDeploy's automatic rollback (creator
// autoRollback) are the rolled-back state and left alone. noop when nothing else is in progress.
// Otherwise StopDeployment {autoRollbackEnabled: true} (DeploymentAlreadyCompletedException: a
// concurrent stop; re-checked), then GetDeployment until rollbackInfo.rollbackDeploymentId
// appears (bounded by the deadline): that is the verification. Needs the deployment group to keep
// a previous revision (CodeDeploy says why not in rollbackInfo.rollbackMessage, reported as is).
#pragma once

#include <memory>

#include "actuators/actuator.h"
#include "actuators/aws/aws_settings.h"

namespace rs::actuators {

std::unique_ptr<Actuator> make_aws_codedeploy_actuator(Settings& settings, const Environment& env,
                                                       aws::AwsSeams seams = {});

}  // namespace rs::actuators
