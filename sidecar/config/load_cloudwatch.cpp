#include "sidecar/config/load_cloudwatch.h"
#include "sidecar/config/loaders.h"

#include <re2/re2.h>

#include "common/template.h"
#include "sidecar/config/config.h"

namespace rs::sidecar {
namespace {

bool is_region(const std::string& s) {
  static const re2::RE2 kRegion("[a-z]{2}(-[a-z]+)+-[0-9]+");
  return re2::RE2::FullMatch(s, kRegion);
}

}  // namespace

void load_cloudwatch(common::PluginSettings& r, const std::map<std::string, std::string>& vars, CloudWatchConfig& out) {
  if (!r.has("match")) r.error("match", "is required: {alarm: REGEX} names the alarms that roll back");
  const auto match = r.string_map("match");
  if (r.has("match") && !match.count("alarm")) r.error("match", "needs `alarm` (a regex for the alarm name)");
  for (const auto& [key, pattern] : match) {
    if (key != "alarm" && key != "account" && key != "region") {
      r.error("match", "unknown key '" + key + "' (known: alarm, account, region)");
      continue;
    }
    std::string why;
    auto rendered = common::render_template(pattern, vars, &why);
    if (!rendered) {
      r.error("match", key + ": " + why);
      continue;
    }
    auto compiled = compile_alert_matcher(*rendered, &why);
    if (!compiled) {
      r.error("match", key + ": '" + rendered->substr(0, 80) + "' is not a valid RE2 regex (" + why + ")");
      continue;
    }
    out.match[key] = *rendered;
    out.compiled[key] = std::move(compiled);
  }
  out.api_key_file = r.string("api_key_file", "");
  out.api_key_header = r.string("api_key_header", "X-Api-Key");
  static const re2::RE2 kToken("[A-Za-z0-9!#$%&'*+.^_`|~-]+");
  if (!re2::RE2::FullMatch(out.api_key_header, kToken)) r.error("api_key_header", "must be an HTTP header name");
  if (out.api_key_header == "Authorization" || out.api_key_header == "authorization") {
    r.error("api_key_header", "Authorization is the bearer token (api.bearer_token_file); pick another header");
  }
  static const re2::RE2 kTopicArn("arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}");
  for (const auto& arn : r.string_list("sns_topics", std::vector<std::string>{})) {
    if (!re2::RE2::FullMatch(arn, kTopicArn)) {
      r.error("sns_topics", "'" + arn.substr(0, 120) + "' is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)");
    }
    out.sns_topics.push_back(arn);
  }
  out.sns_confirm_subscriptions = r.boolean("sns_confirm_subscriptions", true);
  out.sns_certificate_file = r.string("sns_certificate_file", "");
  out.sns_max_age = r.duration("sns_max_age", std::chrono::milliseconds{3600000});
  if (out.sns_max_age < std::chrono::milliseconds{60000}) r.error("sns_max_age", "must be at least 1m");
  out.sns_timeout = r.duration("sns_timeout", std::chrono::milliseconds{5000});
  if (out.sns_timeout.count() <= 0) r.error("sns_timeout", "must be greater than 0");
  out.enabled = true;
}

void load_prometheus_sigv4(common::PluginSettings& prometheus, common::PluginSettings& sigv4,
                           promql::ClientOptions& out) {
  promql::ClientOptions::SigV4 s;
  s.region = sigv4.string("region");
  if (!s.region.empty() && !is_region(s.region))
    sigv4.error("region", "'" + s.region + "' is not an AWS region (e.g. eu-west-1)");
  s.service = sigv4.string("service", "aps");
  if (s.service.empty() || s.service.find_first_of(" :/") != std::string::npos)
    sigv4.error("service", "must be a signing name like aps");
  s.profile = sigv4.string("profile", "");
  if (!out.bearer_token_file.empty() || !out.basic_auth_username.empty()) {
    prometheus.error("sigv4", "cannot go with bearer_token_file or basic_auth (SigV4 is the Authorization header)");
  }
  out.sigv4 = std::move(s);
}

}  // namespace rs::sidecar

namespace rs::sidecar::config_internal {

void load_cloudwatch_key(LoadContext& c) {
  if (!c.top.has("cloudwatch")) return;
  MapReader cw = c.top.child("cloudwatch");
  load_cloudwatch(cw, c.vars, c.config.cloudwatch);
  cw.finish();
}

}  // namespace rs::sidecar::config_internal
