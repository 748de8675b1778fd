// The `aws-alb` actuator: sets the forward weights of an Application Load Balancer listener's
// default actions (or of one listener rule's actions) so the canary target group gets 0.
//
// Settings keys:
//   listener_arn | rule_arn   exactly one (required)
//   stable_target_group       target group ARN that must carry the traffic (required)
//   canary_target_group       target group ARN that must get weight 0 (required)
//   region (required), endpoint, profile, timeout: as for every AWS actuator
//
// rollback(): DescribeListeners / DescribeRules; noop when every forward action that names one of
// the two groups gives the canary weight 0 (or leaves it out) and the stable group weight > 0.
// Otherwise ModifyListener (DefaultActions) / ModifyRule (Actions) with the whole action list as
// read (every action, order, authentication/fixed-response/redirect configs, target group
// stickiness) except those forward weights: canary 0, stable 100; other target groups in the same
// forward config keep their weights. Verified by reading back. set_canary_weight(p): canary p,
// stable 100-p. ELBv2 has no optimistic locking: two sidecars write the same weights.
#pragma once

#include <memory>

#include "actuators/actuator.h"
#include "actuators/aws/aws_settings.h"

namespace rs::actuators {

std::unique_ptr<Actuator> make_aws_alb_actuator(Settings& settings, const Environment& env, aws::AwsSeams seams = {});

}  // namespace rs::actuators
