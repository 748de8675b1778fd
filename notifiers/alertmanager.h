// The `alertmanager` notifier: posts each message as an alert to Alertmanager's
// /api/v2/alerts, so the team's existing routes, silences and receivers page the on-call.
//
// Settings keys:
//   url                Alertmanager's base URL, http(s)://host:port[/prefix] (required)
//   labels             map of extra labels on every alert (e.g. team: payments); names must be
//                      valid Prometheus label names
//   bearer_token_file  optional; sent as Authorization: Bearer (never logged)
//   timeout            per delivery attempt, default 5s
//
// Each alert: labels alertname (= the message: RollbackStarted, RollbackSucceeded,
// RollbackFailed, RollbackDryRun, RuleNotify), deployment, stage, trigger, rule, severity
// (critical for RollbackFailed, warning otherwise; a `severity` in `labels` wins),
// source="rollback-sidecar", plus `labels`; annotations summary (the title), description (the
// full text with the timeline), query, value, threshold, reason, status, decision_id,
// duration_seconds, timeline; startsAt = when the event happened. endsAt is left to
// Alertmanager's resolve_timeout, so the alert stays visible for a while after the event;
// RollbackSucceeded and RollbackFailed also resolve the decision's RollbackStarted alert (same
// labels, endsAt = completion) in the same request.
// Empty values are left out (Alertmanager treats an empty label as absent anyway).
// probe() (check --online) asks GET /-/ready.
#pragma once

#include <memory>

#include "notifiers/notifier.h"

namespace rs::notifiers {

std::unique_ptr<Notifier> make_alertmanager_notifier(common::PluginSettings& settings, const Environment& env);

// The /api/v2/alerts request body for one notification (exposed for tests).
nlohmann::json alertmanager_alerts(const Notification& n, const std::map<std::string, std::string>& extra_labels);

}  // namespace rs::notifiers
