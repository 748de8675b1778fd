#include "sidecar/records/incident_report.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>

#include "common/duration.h"
#include "common/atomic_file.h"

namespace rs::sidecar {
namespace {

constexpr const char* kPlaceholder = "_to be filled in by the incident owner_";
constexpr const char* kLatest = "latest.md";

// A Markdown table cell: '|' escaped, line breaks as <br>, never empty.
std::string cell(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '|') {
      out += "\\|";
    } else if (c == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "<br>";
    } else if (c == '\n') {
      out += "<br>";
    } else {
      out += c;
    }
  }
  return out.empty() ? "—" : out;
}

// One line of list text: line breaks flattened to spaces.
std::string one_line(const std::string& text) {
  std::string out = text;
  for (auto& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

// A fenced code block that survives backticks inside `text`.
std::string code_block(const std::string& text, const std::string& lang) {
  std::size_t longest = 0, run = 0;
  for (char c : text) {
    run = c == '`' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  const std::string fence(std::max<std::size_t>(3, longest + 1), '`');
  std::string out = fence + lang + "\n" + text;
  if (out.back() != '\n') out += "\n";
  return out + fence + "\n";
}

std::string time_or_dash(const std::optional<WallTime>& t) { return t ? to_rfc3339(*t) : std::string("—"); }

// 432.345 seconds as "7m 12.345s (432.345 s)"; under a minute just "12.345s".
std::string format_span(double seconds) {
  if (!std::isfinite(seconds)) return "—";
  const std::string sign = seconds < 0 ? "-" : "";
  const long long ms = std::llround(std::fabs(seconds) * 1000.0);
  char total[48];
  std::snprintf(total, sizeof total, "%lld.%03lld", ms / 1000, ms % 1000);
  if (ms < 60000) return sign + total + "s";
  const long long h = ms / 3600000, m = (ms / 60000) % 60, s = (ms / 1000) % 60, rest = ms % 1000;
  char human[64];
  if (h > 0) {
    std::snprintf(human, sizeof human, "%lldh %lldm %lld.%03llds", h, m, s, rest);
  } else {
    std::snprintf(human, sizeof human, "%lldm %lld.%03llds", m, s, rest);
  }
  return sign + human + " (" + sign + total + " s)";
}

double seconds_between(WallTime from, WallTime to) { return std::chrono::duration<double>(to - from).count(); }

std::string value_text(const std::optional<double>& v) { return v ? format_value(*v) : std::string("no data"); }

std::string result_text(const Decision& d) {
  if (d.kind == DecisionKind::kHold || d.dry_run) return "dry run: would roll back, nothing changed";
  switch (d.result) {
    case RollbackResult::kRunning: return "in progress";
    case RollbackResult::kNoop: return "noop (the router was already rolled back)";
    case RollbackResult::kSuccess:
    case RollbackResult::kFailure: break;
  }
  return rollback_result_name(d.result);
}

std::string vars_text(const std::map<std::string, std::string>& vars) {
  std::string out;
  for (const auto& [k, v] : vars) out += (out.empty() ? "" : ", ") + k + "=" + v;
  return out;
}

std::string compact_utc(WallTime t) {
  const std::time_t secs =
      static_cast<std::time_t>(std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count());
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string safe_name(const std::string& name) {
  std::string out = name;
  for (auto& c : out) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  if (out.empty() || out[0] == '.') out = "_" + out;  // never hidden, never "." or ".."
  return out;
}

bool make_dirs(const std::string& dir, std::string* error) {
  std::string partial;
  std::size_t pos = 0;
  while (pos <= dir.size()) {
    std::size_t slash = dir.find('/', pos);
    if (slash == std::string::npos) slash = dir.size();
    partial = dir.substr(0, slash);
    pos = slash + 1;
    if (partial.empty()) continue;  // leading '/'
    if (::mkdir(partial.c_str(), 0750) != 0 && errno != EEXIST) {
      *error = "incidents dir " + dir + ": cannot create " + partial + ": " + std::strerror(errno);
      return false;
    }
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    *error = "incidents dir " + dir + ": not a directory";
    return false;
  }
  return true;
}

bool write_atomically(const std::string& dir, const std::string& name, const std::string& data, std::string* error) {
  std::string why;
  if (common::write_file_atomically(dir + "/" + name, data, 0640, &why)) return true;
  *error = "incident report " + why;
  return false;
}

bool is_report_name(const std::string& name) {
  return name.size() > 3 && name.compare(name.size() - 3, 3, ".md") == 0 && name != kLatest && name[0] != '.';
}

// Whether `dir` holds a report whose name sorts after `name` (a newer incident).
bool newer_report_exists(const std::string& dir, const std::string& name) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return false;
  bool newer = false;
  while (struct dirent* e = ::readdir(d)) {
    std::string entry = e->d_name;
    if (is_report_name(entry) && entry > name) {
      newer = true;
      break;
    }
  }
  ::closedir(d);
  return newer;
}

}  // namespace

std::vector<TimelineEntry> decision_timeline(const Decision& d) {
  std::vector<TimelineEntry> out;
  const std::string what = d.trigger == Trigger::kAlert    ? "alert " + d.rule
                           : d.trigger == Trigger::kManual ? std::string("manual request")
                                                           : "rule " + d.rule;
  if (d.first_breach) {
    out.push_back({*d.first_breach, d.trigger == Trigger::kAlert ? what + " started firing (startsAt)"
                                                                 : what + " first breached its threshold"});
  }
  if (d.firing_since)
    out.push_back({*d.firing_since, what + " firing (held for " + common::format_duration(d.for_duration) + ")"});
  out.push_back({d.decided_at, "decision #" + std::to_string(d.id) + " (" + decision_kind_name(d.kind) + ", trigger " +
                                   trigger_name(d.trigger) + "): " + (d.reason.empty() ? what : d.reason)});
  if (d.completed_at) {
    for (const auto& a : d.actuators) {
      out.push_back({*d.completed_at, "actuator " + a.actuator + ": " + step_result_name(a.result) + " after " +
                                          std::to_string(a.attempts) + " attempt(s)" +
                                          (a.detail.empty() ? "" : " — " + a.detail)});
    }
    out.push_back({*d.completed_at, "rollback completed: " + result_text(d)});
  }
  return out;
}

std::string render_incident_report(const IncidentFacts& facts) {
  const Decision& d = facts.decision;
  const DeploymentConfig& dep = facts.deployment;
  std::ostringstream md;

  md << "# Incident: rollback of " << dep.name << " (decision #" << d.id << ")\n\n";
  if (!d.reason.empty()) md << "> " << one_line(d.reason) << "\n\n";

  md << "## Summary\n\n";
  md << "| Field | Value |\n|---|---|\n";
  auto row = [&](const std::string& k, const std::string& v) { md << "| " << k << " | " << cell(v) << " |\n"; };
  row("Deployment", dep.name);
  row("Stage", dep.stage);
  row("Strategy", dep.strategy);
  row("Version (vars)", vars_text(dep.vars));
  row("Trigger", trigger_name(d.trigger));
  row(d.trigger == Trigger::kAlert ? "Alert" : "Rule", d.rule);
  row("Severity", d.severity);
  row("Incident start (first breach)", time_or_dash(d.first_breach));
  row("Rollback initiated", to_rfc3339(d.decided_at));
  row("Rollback completed", time_or_dash(d.completed_at));
  row("Total duration (first breach → completed)",
      d.first_breach && d.completed_at ? format_span(seconds_between(*d.first_breach, *d.completed_at)) : "—");
  std::string rollback_duration = "—";
  if (d.duration_seconds) {
    rollback_duration = format_span(*d.duration_seconds);
  } else if (d.completed_at) {
    rollback_duration = format_span(seconds_between(d.decided_at, *d.completed_at));
  }
  row("Rollback duration (initiated → verified)", rollback_duration);
  row("Result", result_text(d));
  if (d.verification != Verification::kNone) {
    row("Verification",
        verification_name(d.verification) + (d.verification_detail.empty() ? "" : ": " + d.verification_detail));
  }
  if (d.dry_run) row("Dry run", "yes");
  md << "\n";

  md << "## Impact\n\n";
  if (d.trigger == Trigger::kRule || d.value || !d.query.empty()) {
    md << "**" << d.rule << "** was `" << value_text(d.value) << "` at decision time";
    if (!d.comparison.empty()) md << "; it breaches when " << d.comparison << " `" << format_value(d.threshold) << "`";
    if (d.for_duration.count() > 0 || d.delay.count() > 0) {
      md << " (`for` " << common::format_duration(d.for_duration) << ", `delay` " << common::format_duration(d.delay)
         << ")";
    }
    md << ".\n\n";
  }
  if (d.trigger == Trigger::kAlert) {
    md << "Alertmanager alert **" << d.rule << "**" << (d.severity.empty() ? "" : " (severity " + d.severity + ")")
       << " fired" << (d.first_breach ? " at " + to_rfc3339(*d.first_breach) : std::string()) << ".\n\n";
  } else if (d.trigger == Trigger::kManual) {
    std::string actor = d.details.is_object() && d.details.contains("actor") && d.details["actor"].is_string()
                            ? d.details["actor"].get<std::string>()
                            : std::string();
    md << "Manual rollback" << (actor.empty() ? "" : " requested by **" + one_line(actor) + "**") << ".\n\n";
  }
  if (!d.query.empty()) md << "Query as sent to Prometheus:\n\n" << code_block(d.query, "promql") << "\n";
  if (!d.also_firing.empty()) {
    std::string list;
    for (const auto& r : d.also_firing) list += (list.empty() ? "" : ", ") + r;
    md << "Also firing at the same time: " << list << ".\n\n";
  }
  if (!d.details.is_null() && !(d.details.is_object() && d.details.empty())) {
    md << "Trigger evidence:\n\n"
       << code_block(d.details.dump(2, ' ', false, nlohmann::json::error_handler_t::replace), "json") << "\n";
  }
  md << "Rules at decision time:\n\n";
  if (facts.rules.empty()) {
    md << "_no rule values were recorded_\n\n";
  } else {
    md << "| Rule | Value | Comparison | Threshold | State |\n|---|---|---|---|---|\n";
    for (const auto& r : facts.rules) {
      md << "| " << cell(r.name) << " | " << cell(value_text(r.value)) << " | " << cell(comparison_name(r.comparison))
         << " | " << cell(format_value(r.threshold)) << " | " << cell(rule_state_name(r.state)) << " |\n";
    }
    md << "\n";
  }

  md << "## Timeline\n\n";
  std::vector<TimelineEntry> timeline = facts.timeline.empty() ? decision_timeline(d) : facts.timeline;
  std::stable_sort(timeline.begin(), timeline.end(),
                   [](const TimelineEntry& a, const TimelineEntry& b) { return a.at < b.at; });
  for (const auto& e : timeline) md << "- `" << to_rfc3339(e.at) << "` " << one_line(e.text) << "\n";
  md << "\n";

  md << "## Actuators\n\n";
  if (d.actuators.empty()) {
    md << "_no actuator ran_\n\n";
  } else {
    md << "| Actuator | Result | Attempts | Detail |\n|---|---|---|---|\n";
    for (const auto& a : d.actuators) {
      md << "| " << cell(a.actuator) << " | " << cell(step_result_name(a.result)) << " | " << a.attempts << " | "
         << cell(a.detail) << " |\n";
    }
    md << "\n";
  }

  md << "## Root cause\n\n" << kPlaceholder << "\n\n";
  md << "## Action items\n\n" << kPlaceholder << "\n";
  return md.str();
}

std::string incident_report_file_name(const IncidentFacts& facts) {
  return compact_utc(facts.decision.decided_at) + "-" + safe_name(facts.deployment.name) + "-" +
         std::to_string(facts.decision.id) + ".md";
}

bool write_incident_report(const std::string& dir, const IncidentFacts& facts, std::string* written_path,
                           std::string* error) {
  try {
    if (dir.empty()) {
      *error = "incident report: no incidents_dir configured";
      return false;
    }
    if (!make_dirs(dir, error)) return false;
    const std::string text = render_incident_report(facts);
    const std::string name = incident_report_file_name(facts);
    if (!write_atomically(dir, name, text, error)) return false;
    if (!newer_report_exists(dir, name) && !write_atomically(dir, kLatest, text, error)) return false;
    if (written_path) *written_path = dir + "/" + name;
    return true;
  } catch (const std::exception& e) {
    *error = "incident report in " + dir + ": " + e.what();
    return false;
  }
}

}  // namespace rs::sidecar
