// Loaders for the AWS-native keys, called by the config orchestrator (config.cpp):
// `cloudwatch:` and `prometheus.sigv4:`. Both read through common::PluginSettings (the loader's
// strict map reader), so errors carry the key's path and line and unknown keys are reported by
// the caller's finish().
#pragma once

#include <map>
#include <string>

#include "common/plugin/plugin_settings.h"
#include "promql/client.h"
#include "sidecar/config/cloudwatch_config.h"

namespace rs::sidecar {

// `cloudwatch: {match: {alarm: REGEX, account: REGEX, region: REGEX}, api_key_file, api_key_header,
//  sns_topics: [ARN], sns_confirm_subscriptions, sns_certificate_file, sns_max_age, sns_timeout}`.
// `vars` templates the match patterns ({{deployment}}, ...).
void load_cloudwatch(common::PluginSettings& r, const std::map<std::string, std::string>& vars, CloudWatchConfig& out);

// `prometheus.sigv4: {region: R, service: aps, profile: P}`; `prometheus` is the parent map
// (sigv4 cannot go with bearer_token_file or basic_auth: one Authorization header).
void load_prometheus_sigv4(common::PluginSettings& prometheus, common::PluginSettings& sigv4,
                           promql::ClientOptions& out);

}  // namespace rs::sidecar
