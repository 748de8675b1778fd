// The `aws-lambda-alias` actuator: sends all of a Lambda alias's traffic to the stable version.
//
// Settings keys:
//   function        function name (required; letters, digits, - and _)
//   alias           alias name (required)
//   region          AWS region (required); endpoint (optional URL); profile (optional); timeout (10s)
//   stable_version  optional: the version the alias must point at after a rollback (blue/green:
//                   required with deployment.strategy blue-green). Without it the alias keeps its
//                   FunctionVersion and only loses its additional version weights.
//   canary_version  optional: enables set_canary_weight() (promotion): weight p goes to this
//                   version through RoutingConfig; 100 points the alias at it (needs stable_version)
//
// rollback(): GetAlias; noop when no additional version has weight > 0 (and FunctionVersion is
// stable_version, when set); else UpdateAlias with FunctionVersion, RoutingConfig
// {AdditionalVersionWeights: {}} and the RevisionId read, so a concurrent writer makes Lambda
// answer PreconditionFailedException: the alias is then read again and re-checked (up to 4 times).
// Verified by GetAlias. AWS's error code and message are reported verbatim; throttling and 5xx are
// retried, AccessDeniedException / ResourceNotFoundException / validation errors are not.
#pragma once

#include <memory>
#include <string>

#include "actuators/actuator.h"
#include "actuators/aws/aws_settings.h"

namespace rs::actuators {

std::unique_ptr<Actuator> make_aws_lambda_alias_actuator(Settings& settings, const Environment& env,
                                                         aws::AwsSeams seams = {});

}  // namespace rs::actuators
