// The incident report: a Markdown page per rollback, filled from the decision and its evidence,
// for the post-incident review; written to `incidents_dir` and served at
// GET /api/v1/incidents/latest (from <incidents_dir>/latest.md).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "sidecar/config/config.h"
#include "sidecar/policy/decision.h"
#include "sidecar/policy/rule_tracker.h"

namespace rs::sidecar {

// One rule as it stood when the decision was taken.
struct RuleSnapshot {
  std::string name;
  std::optional<double> value;  // none: no data / query error
  double threshold = 0;
  Comparison comparison = Comparison::kAbove;
  RuleState state = RuleState::kOk;
};

struct TimelineEntry {
  WallTime at;
  std::string text;  // one line for humans (newlines are flattened when rendered)
};

struct IncidentFacts {
  DeploymentConfig deployment;  // name, stage, strategy, vars
  Decision decision;            // the rollback with its evidence, actuators and completion
  std::vector<RuleSnapshot> rules;
  // Rendered sorted by time (stable). When empty, decision_timeline(decision) is used.
  std::vector<TimelineEntry> timeline;
};

// The decision's own milestones: first breach, firing, decided, each actuator's outcome (at
// completion), completed. Callers may merge these with their own events (verification,
// notifications) to build IncidentFacts::timeline.
std::vector<TimelineEntry> decision_timeline(const Decision& decision);

// The report as Markdown: title (deployment, decision id); summary table (deployment, stage,
// strategy, version vars, trigger, rule/alert, severity, incident start = first breach,
// rollback initiated = decided_at, rollback completed = completed_at, total duration first
// breach -> completed, rollback duration, result); "Impact" (value vs threshold, the query as
// sent, every rule's value vs threshold); "Timeline"; "Actuators"; "Root cause" and "Action
// items" with a placeholder for the incident owner. Times are RFC 3339 UTC with milliseconds;
// table cells escape '|' and newlines. Deterministic: the same facts give the same text.
std::string render_incident_report(const IncidentFacts& facts);

// "<UTC yyyymmddThhmmssZ of decided_at>-<deployment>-<decision id>.md"; characters outside
// [A-Za-z0-9._-] in the deployment name become '_'. The same decision always gets the same
// name, so re-writing a report (after a restart re-verified the rollback) replaces it.
std::string incident_report_file_name(const IncidentFacts& facts);

// Writes the report to <dir>/<incident_report_file_name> and copies it to <dir>/latest.md,
// each atomically (temp file in `dir`, fsync, rename, fsync of the directory). latest.md is
// only replaced when no report in `dir` sorts after this one (an older report re-written later
// never hides a newer one). `dir` is created (with parents) when missing. False with the reason
// (naming the path) in *error; *written_path gets the report's path on success. Never throws.
bool write_incident_report(const std::string& dir, const IncidentFacts& facts, std::string* written_path,
                           std::string* error);

}  // namespace rs::sidecar
