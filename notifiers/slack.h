// The `slack` notifier: posts each message to a Slack incoming webhook.
//
// Settings keys:
//   url_file   file holding the incoming-webhook URL (required; the URL is a secret, so it is
//              read from a file, re-read on every attempt, and never logged)
//   channel    optional channel override (e.g. "#deploys"), for webhooks that allow it
//   username   optional sender name
//   timeout    per delivery attempt, default 5s
//
// Body: {"text": "<emoji> *<title>*\n```<full text with the timeline>```", "channel", "username"}.
// Slack answers 200 "ok"; 4xx (invalid_token, channel_not_found, ...) is not retried.
#pragma once

#include <memory>

#include "notifiers/notifier.h"

namespace rs::notifiers {

std::unique_ptr<Notifier> make_slack_notifier(common::PluginSettings& settings, const Environment& env);

// The webhook body for one notification (exposed for tests).
nlohmann::json slack_message(const Notification& n, const std::string& channel, const std::string& username);

}  // namespace rs::notifiers
