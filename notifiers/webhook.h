// The `webhook` notifier: posts each message as JSON to any HTTP endpoint (a chat bridge, an
// incident tool, a pipeline's API).
//
// Settings keys:
//   url                http(s) URL (required)
//   headers            map of extra headers; Authorization is refused here (use
//                      bearer_token_file, so the secret stays in a file)
//   bearer_token_file  optional; sent as Authorization: Bearer, re-read on every attempt
//   timeout            per delivery attempt, default 5s
//
// Body: Notification::to_json(): id (stable across retries: deduplicate on it), message,
// title, deployment, stage, strategy, decision_id, trigger, rule, severity, query, comparison,
// value, threshold, reason, state, result, verification, started_at, decided_at, completed_at,
// duration_seconds, timeline [{time, event}]. Success is any 2xx.
#pragma once

#include <memory>

#include "notifiers/notifier.h"

namespace rs::notifiers {

std::unique_ptr<Notifier> make_webhook_notifier(common::PluginSettings& settings, const Environment& env);

}  // namespace rs::notifiers
