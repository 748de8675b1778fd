// `rollback-sidecar gate`: one deployment judged for a bake time (see gate.h for the contract).
//
// How it is built: through the composition root (Sidecar::create), started with
// serve_http = false. The gate therefore runs the very engine, state file, audit log, incident
// reports and notifications a running sidecar would (a rollback it carries out is recorded and
// announced the same way), but binds no port: a sidecar for the same deployment may be running
// beside it, and a pipeline step must never collide with it. The gate owns the schedule instead of
// the Scheduler, calling Sidecar::evaluate_once() itself, because it must look at the result of
// every evaluation (print it, stop at the first decision, stop at the deadline). It reads the
// engine only through its public view (status() JSON, state(), last_decision()).
#include "sidecar/app/gate.h"

#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/duration.h"
#include "common/enum_names.h"
#include "common/json_text.h"
#include "common/utf8.h"
#include "sidecar/app/backtest_command.h"
#include "sidecar/app/logging.h"
#include "sidecar/app/sidecar.h"
#include "sidecar/app/version.h"

namespace po = boost::program_options;

namespace rs::sidecar {
namespace {

enum Verdict { kPass = 0, kFail = 1, kInconclusive = 2, kCannotJudge = 3 };

const char* verdict_name(Verdict v) {
  switch (v) {
    case kPass: return "pass";
    case kFail: return "fail";
    case kInconclusive: return "inconclusive";
    case kCannotJudge: return "error";
  }
  return "error";
}

const char* verdict_title(Verdict v) {
  switch (v) {
    case kPass: return "PASS";
    case kFail: return "FAIL";
    case kInconclusive: return "INCONCLUSIVE";
    case kCannotJudge: return "ERROR (could not judge)";
  }
  return "ERROR";
}

constexpr const char* kUsage =
    "Usage: rollback-sidecar gate --config FILE --bake DURATION [--junit FILE] [--json FILE] [--no-rollback]\n"
    "       rollback-sidecar gate --config FILE --start T --end T [--junit FILE] [--json FILE] [--no-rollback]\n\n"
    "Judges the deployment in FILE for DURATION as a pipeline step, with the config's rules,\n"
    "evaluation_interval and actuators; or, with --start/--end (RFC 3339 or unix seconds), judges a\n"
    "past window from Prometheus history (the backtest's replay) and rolls back now if a rule\n"
    "fired in it. Exit codes:\n"
    "  0 pass          no rule fired by the deadline and the rules had data\n"
    "  1 fail          a rule fired; rolled back through the actuators (not with --no-rollback)\n"
    "  2 inconclusive  not enough data by the deadline\n"
    "  3 could not judge: usage or config error, every query failed throughout, SIGINT/SIGTERM\n"
    "With GITHUB_STEP_SUMMARY set, a Markdown summary is appended to that file.\n\n"
    "Options";

// ---- what the engine's status says about one rule ----------------------------------------

// "0.0312", "+Inf", or "-" without a value.
std::string value_text(const RuleView& rule) { return rule.status.value ? format_value(*rule.status.value) : "-"; }

// "above 0.05"
std::string compared_text(const RuleView& rule) {
  return std::string(comparison_name(rule.rule->comparison)) + " " + format_value(rule.rule->threshold);
}

bool has_data(RuleState state) { return state != RuleState::kNoData && state != RuleState::kInsufficient; }

// Since the first breach of the episode (what the verdict line and the decision call first_breach).
std::optional<WallTime> breach_since(const RuleView& rule) {
  return rule.status.pending_since ? rule.status.pending_since : rule.status.firing_since;
}

// Evidence: value against threshold and since when.
std::string evidence_line(const RuleView& rule) {
  std::string out = "value " + value_text(rule) + " (" + compared_text(rule) + ")";
  if (const auto since = breach_since(rule)) out += " since " + to_rfc3339(*since);
  return out;
}

// ---- the run -------------------------------------------------------------------------------

struct RuleTally {
  int with_data = 0;     // evaluations in which the rule had a value (or no data counted as ok/breach)
  int query_errors = 0;  // evaluations in which its query failed
};

struct Outcome {
  Verdict verdict = kCannotJudge;
  std::string reason;
  StatusView status;                 // the engine's status after the last evaluation
  std::optional<Decision> decision;  // a decision taken during this run
  std::vector<RuleTally> tallies;
  int evaluations = 0;
  int evaluations_with_data = 0;  // evaluations in which at least one rule had data
  int needed = 1;                 // evaluations the longest `for` (or `breaches` window) needs
  double elapsed_seconds = 0;
  WallTime started_at;
};

// One rule's result in the reports, and why.
enum class RuleOutcome { kPassed, kFailed, kSkipped, kError };
constexpr common::EnumName<RuleOutcome> kRuleOutcomes[] = {{RuleOutcome::kPassed, "passed"},
                                                           {RuleOutcome::kFailed, "failed"},
                                                           {RuleOutcome::kSkipped, "skipped"},
                                                           {RuleOutcome::kError, "error"}};
const char* rule_outcome_name(RuleOutcome r) { return common::enum_name(kRuleOutcomes, r); }

struct RuleResult {
  RuleOutcome result = RuleOutcome::kError;
  std::string message;
};

// The status holds every configured rule, in config order, once the engine has evaluated.
std::vector<RuleResult> rule_results(const Outcome& o, const Config& config) {
  std::vector<RuleResult> out;
  for (std::size_t i = 0; i < config.rules.size(); ++i) {
    const int with_data = i < o.tallies.size() ? o.tallies[i].with_data : 0;
    const RuleView* rule = i < o.status.rules.size() ? &o.status.rules[i] : nullptr;
    RuleResult r;
    if (o.verdict == kCannotJudge || !rule) {
      r = {RuleOutcome::kError, o.reason};
    } else if (o.verdict == kFail &&
               ((o.decision && o.decision->rule == config.rules[i].name) || rule->status.state == RuleState::kFiring)) {
      r = {RuleOutcome::kFailed, config.rules[i].name + " fired: " + evidence_line(*rule)};
    } else if (with_data == 0) {
      const std::string& problem = rule->status.last_problem;
      r = {RuleOutcome::kSkipped, "no data during the bake" + (problem.empty() ? "" : ": " + problem)};
    } else if (o.verdict == kInconclusive) {
      r = {RuleOutcome::kSkipped, o.reason};
    } else {
      r = {RuleOutcome::kPassed, evidence_line(*rule) + " (" + rule_state_name(rule->status.state) + ")"};
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::string decision_evidence(const Decision& d) {
  std::ostringstream s;
  s << "decision #" << d.id << " " << decision_kind_name(d.kind) << " (trigger " << trigger_name(d.trigger) << ")\n"
    << "rule: " << d.rule << " (severity " << d.severity << ")\n"
    << "query: " << d.query << "\n"
    << "value: " << (d.value ? format_value(*d.value) : "-") << " " << d.comparison << " threshold "
    << format_value(d.threshold) << "\n"
    << "for: " << common::format_duration(d.for_duration) << ", delay " << common::format_duration(d.delay) << "\n";
  if (d.first_breach) s << "first breach: " << to_rfc3339(*d.first_breach) << "\n";
  if (d.firing_since) s << "firing since: " << to_rfc3339(*d.firing_since) << "\n";
  s << "decided at: " << to_rfc3339(d.decided_at) << "\n";
  if (d.result != RollbackResult::kRunning) s << "rollback result: " << rollback_result_name(d.result) << "\n";
  for (const auto& a : d.actuators) {
    s << "actuator " << a.actuator << ": " << step_result_name(a.result) << " " << a.detail << "\n";
  }
  if (!d.reason.empty()) s << "reason: " << d.reason << "\n";
  return s.str();
}

// ---- reports -------------------------------------------------------------------------------

// Text for XML 1.0 content and attributes: valid UTF-8, markup escaped, and the control
// characters XML cannot carry at all (not even as references) replaced.
std::string xml_escape(const std::string& raw) {
  const std::string text = common::valid_utf8(raw);
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\n': out += "&#10;"; break;
      case '\r': out += "&#13;"; break;
      case '\t': out += "&#9;"; break;
      default: out += c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c);
    }
  }
  return out;
}

// Element text keeps its newlines readable.
std::string xml_text(const std::string& raw) {
  std::string out = xml_escape(raw), plain;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out.compare(i, 5, "&#10;") == 0) {
      plain += '\n';
      i += 4;
    } else {
      plain += out[i];
    }
  }
  return plain;
}

std::string junit_xml(const Outcome& o, const Config& config, const std::vector<RuleResult>& results) {
  int failures = 0, errors = 0, skipped = 0;
  for (const auto& r : results) {
    failures += r.result == RuleOutcome::kFailed;
    errors += r.result == RuleOutcome::kError;
    skipped += r.result == RuleOutcome::kSkipped;
  }
  // A failure that no rule carries (a deployment already latched rolled back) gets its own case.
  const bool deployment_case = o.verdict == kFail && failures == 0;
  const int tests = static_cast<int>(results.size()) + (deployment_case ? 1 : 0);
  if (deployment_case) ++failures;
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.3f", o.elapsed_seconds);
  const std::string suite = "gate " + config.deployment.name + " (" + config.deployment.stage + ")";
  std::ostringstream x;
  x << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<testsuites name=\"rollback-sidecar gate\" tests=\"" << tests << "\" failures=\"" << failures << "\" errors=\""
    << errors << "\" skipped=\"" << skipped << "\" time=\"" << seconds << "\">\n"
    << "  <testsuite name=\"" << xml_escape(suite) << "\" tests=\"" << tests << "\" failures=\"" << failures
    << "\" errors=\"" << errors << "\" skipped=\"" << skipped << "\" time=\"" << seconds << "\" timestamp=\""
    << to_rfc3339(o.started_at) << "\">\n"
    << "    <properties>\n"
    << "      <property name=\"verdict\" value=\"" << verdict_name(o.verdict) << "\"/>\n"
    << "      <property name=\"exit_code\" value=\"" << static_cast<int>(o.verdict) << "\"/>\n"
    << "      <property name=\"deployment\" value=\"" << xml_escape(config.deployment.name) << "\"/>\n"
    << "      <property name=\"stage\" value=\"" << xml_escape(config.deployment.stage) << "\"/>\n"
    << "      <property name=\"evaluations\" value=\"" << o.evaluations << "\"/>\n"
    << "      <property name=\"dry_run\" value=\"" << (config.dry_run ? "true" : "false") << "\"/>\n"
    << "    </properties>\n";
  const std::string classname = "rollback-sidecar.gate." + config.deployment.name;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const RuleConfig& rule = config.rules[i];
    x << "    <testcase classname=\"" << xml_escape(classname) << "\" name=\"" << xml_escape(rule.name) << "\" time=\""
      << seconds << "\">\n";
    if (r.result == RuleOutcome::kFailed) {
      std::string body = "query: " + queries_text(rule) + "\n";
      if (i < o.status.rules.size()) body += evidence_line(o.status.rules[i]) + "\n";
      if (o.decision && o.decision->rule == rule.name) body += decision_evidence(*o.decision);
      x << "      <failure type=\"rule-fired\" message=\"" << xml_escape(r.message) << "\">" << xml_text(body)
        << "</failure>\n";
    } else if (r.result == RuleOutcome::kError) {
      x << "      <error type=\"could-not-judge\" message=\"" << xml_escape(r.message) << "\"/>\n";
    } else if (r.result == RuleOutcome::kSkipped) {
      x << "      <skipped message=\"" << xml_escape(r.message) << "\"/>\n";
    } else {
      x << "      <system-out>" << xml_text(r.message) << "</system-out>\n";
    }
    x << "    </testcase>\n";
  }
  if (deployment_case) {
    x << "    <testcase classname=\"" << xml_escape(classname) << "\" name=\"deployment\" time=\"" << seconds << "\">\n"
      << "      <failure type=\"rolled-back\" message=\"" << xml_escape(o.reason) << "\">"
      << xml_text(o.decision ? decision_evidence(*o.decision) : o.reason) << "</failure>\n"
      << "    </testcase>\n";
  }
  x << "    <system-out>" << xml_text("gate: " + std::string(verdict_title(o.verdict)) + ": " + o.reason)
    << "</system-out>\n"
    << "  </testsuite>\n"
    << "</testsuites>\n";
  return x.str();
}

nlohmann::json json_report(const Outcome& o, const Config& config, const std::vector<RuleResult>& results,
                           Duration bake, const std::optional<promql::StepGrid>& window) {
  nlohmann::json rules = nlohmann::json::array();
  for (std::size_t i = 0; i < results.size(); ++i) {
    const nlohmann::json s = i < o.status.rules.size() ? to_json(o.status.rules[i]) : nlohmann::json::object();
    rules.push_back({{"name", config.rules[i].name},
                     {"result", rule_outcome_name(results[i].result)},
                     {"message", results[i].message},
                     {"state", s.value("state", nlohmann::json(nullptr))},
                     {"value", s.value("value", nlohmann::json(nullptr))},
                     {"threshold", s.value("threshold", nlohmann::json(nullptr))},
                     {"comparison", s.value("comparison", nlohmann::json(nullptr))},
                     {"for", s.value("for", nlohmann::json(nullptr))},
                     {"pending_since", s.value("pending_since", nlohmann::json(nullptr))},
                     {"firing_since", s.value("firing_since", nlohmann::json(nullptr))},
                     {"problem", s.value("problem", nlohmann::json(nullptr))},
                     {"evaluations_with_data", i < o.tallies.size() ? o.tallies[i].with_data : 0},
                     {"query_errors", i < o.tallies.size() ? o.tallies[i].query_errors : 0}});
  }
  nlohmann::json j = {{"verdict", verdict_name(o.verdict)},
                      {"exit_code", static_cast<int>(o.verdict)},
                      {"reason", o.reason},
                      {"deployment", {{"name", config.deployment.name}, {"stage", config.deployment.stage}}},
                      {"bake", common::format_duration(bake)},
                      {"dry_run", config.dry_run},
                      {"started_at", to_rfc3339(o.started_at)},
                      {"elapsed_seconds", o.elapsed_seconds},
                      {"evaluations", o.evaluations},
                      {"evaluations_with_data", o.evaluations_with_data},
                      {"evaluations_needed", o.needed},
                      {"state", deployment_state_name(o.status.state)},
                      {"rules", rules}};
  if (window) {  // --start/--end: the past window judged
    j["window"] = {{"start", to_rfc3339(wall_time_of_ms(window->start_ms))},
                   {"end", to_rfc3339(wall_time_of_ms(window->last_ms()))},
                   {"step", common::format_duration(Duration(window->step_ms))}};
  }
  if (o.decision) j["decision"] = to_json(*o.decision);
  return j;
}

std::string markdown_cell(const std::string& raw) {
  std::string out;
  for (char c : common::valid_utf8(raw)) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string markdown_summary(const Outcome& o, const Config& config, const std::vector<RuleResult>& results) {
  static const char* icon[] = {"✅", "❌", "⚠️", "⛔"};
  std::ostringstream m;
  m << "### " << icon[o.verdict] << " rollback-sidecar gate: " << verdict_title(o.verdict) << " — "
    << markdown_cell(config.deployment.name) << " (" << markdown_cell(config.deployment.stage) << ")\n\n"
    << markdown_cell(o.reason) << "\n\n"
    << "| rule | result | state | value | threshold | since |\n"
    << "|---|---|---|---|---|---|\n";
  for (std::size_t i = 0; i < results.size(); ++i) {
    m << "| " << markdown_cell(config.rules[i].name) << " | " << rule_outcome_name(results[i].result) << " | ";
    if (i < o.status.rules.size()) {
      const RuleView& s = o.status.rules[i];
      const auto since = s.status.firing_since ? s.status.firing_since : s.status.pending_since;
      m << rule_state_name(s.status.state) << " | " << markdown_cell(value_text(s)) << " | "
        << markdown_cell(compared_text(s)) << " | " << (since ? to_rfc3339(*since) : "") << " |\n";
    } else {
      m << " | | | |\n";
    }
  }
  if (o.decision) {
    const Decision& d = *o.decision;
    m << "\nDecision #" << d.id << ": " << decision_kind_name(d.kind)
      << (d.result == RollbackResult::kRunning ? "" : std::string(" (") + rollback_result_name(d.result) + ")") << " — "
      << markdown_cell(d.reason) << "\n";
  }
  m << "\n";
  return m.str();
}

// ---- the live line -------------------------------------------------------------------------

std::string compact_duration(Duration d) {
  if (d < Duration::zero()) d = Duration::zero();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  char buf[32];
  if (ms < 60000)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>((ms + 999) / 1000));
  else
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60000),
                  static_cast<long long>((ms % 60000 + 999) / 1000));
  return buf;
}

std::string rule_summary(const RuleView& rule, WallTime now) {
  const RuleConfig& config = *rule.rule;
  const RuleStatus& s = rule.status;
  std::string out = config.name + " " + value_text(rule) + " (" + compared_text(rule) + ") " + rule_state_name(s.state);
  if (s.state == RuleState::kPending && s.pending_since && !config.breaches) {
    out += " " + compact_duration(std::chrono::duration_cast<Duration>(now - *s.pending_since)) + "/" +
           compact_duration(config.for_duration);
  }
  return out;
}

int terminal_width() {
  winsize w{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 20) return w.ws_col;
  return 160;
}

// ---- signals -------------------------------------------------------------------------------

// SIGINT/SIGTERM are taken by one thread with sigwait; it only raises a flag and wakes the
// gate's own wait. The env clock is deliberately NOT interrupted: a rollback in flight sleeps
// on it between retries, and must finish rather than be cut short.
class Interruption {
 public:
  Interruption() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    thread_ = std::thread([this] {
      int sig = 0;
      sigwait(&signals_, &sig);
      std::lock_guard<std::mutex> lock(mu_);
      if (done_) return;
      signal_ = sig == SIGINT ? "SIGINT" : "SIGTERM";
      cv_.notify_all();
    });
  }
  ~Interruption() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    pthread_kill(thread_.native_handle(), SIGTERM);  // wakes sigwait (still blocked here)
    thread_.join();
  }
  // Waits until `t`; false when a signal came first (or had come).
  bool wait_until(std::chrono::steady_clock::time_point t) {
    std::unique_lock<std::mutex> lock(mu_);
    return !cv_.wait_until(lock, t, [this] { return !signal_.empty(); });
  }
  std::string signal() {
    std::lock_guard<std::mutex> lock(mu_);
    return signal_;
  }

 private:
  sigset_t signals_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string signal_;
  bool done_ = false;
  std::thread thread_;
};

// ---- judging -------------------------------------------------------------------------------

struct GateOptions {
  Duration bake{0};  // live: how long to judge; past window: the window's length
  std::string junit, json;
  bool no_rollback = false;
  std::optional<promql::StepGrid> window;  // --start/--end: judge this past window instead of live
};

// Evaluations the longest `for` (or `breaches` window) needs to fire at `interval`.
int evaluations_needed(const Config& config) {
  int needed = 1;
  const Duration interval = config.evaluation_interval;
  for (const auto& r : config.rules) {
    const int n = r.breaches ? r.breaches->n
                             : static_cast<int>((r.for_duration.count() + interval.count() - 1) / interval.count()) + 1;
    needed = std::max(needed, n);
  }
  return needed;
}

// Pass or inconclusive when nothing fired, from the data the rules had (`span`: "in 10m").
void judge_data(Outcome& o, const Config& config, const std::string& span) {
  const std::vector<RuleView>& rules = o.status.rules;
  bool last_has_data = false;
  for (const auto& r : rules) last_has_data |= has_data(r.status.state);
  if (!last_has_data) {
    o.verdict = kInconclusive;
    std::string problems;
    for (const auto& r : rules) {
      problems += (problems.empty() ? "" : "; ") + r.rule->name + " " + rule_state_name(r.status.state);
      if (!r.status.last_problem.empty()) problems += " (" + r.status.last_problem + ")";
    }
    o.reason = "no rule had data at the deadline: " + problems;
  } else if (o.evaluations_with_data < o.needed) {
    o.verdict = kInconclusive;
    o.reason = std::to_string(o.evaluations_with_data) + " evaluation(s) with data " + span +
               "; the longest `for` needs " + std::to_string(o.needed) + " at evaluation_interval " +
               common::format_duration(config.evaluation_interval) + " (bake longer, or send traffic)";
  } else {
    o.verdict = kPass;
    int judged = 0;
    for (const auto& t : o.tallies) judged += t.with_data > 0;
    o.reason = "no rule fired " + span + "; " + std::to_string(judged) + " of " + std::to_string(config.rules.size()) +
               " rule(s) had data, " + std::to_string(o.evaluations_with_data) + " of " +
               std::to_string(o.evaluations) + " evaluation(s) with data (" + std::to_string(o.needed) + " needed)";
  }
}

// "rule error-rate fired: value 0.2 above 0.05 since T"
std::string fired_text(const Decision& d) {
  std::string out = "rule " + d.rule + " fired: value " + (d.value ? format_value(*d.value) : "-") + " " +
                    d.comparison + " " + format_value(d.threshold);
  if (d.first_breach) out += " since " + to_rfc3339(*d.first_breach);
  return out;
}

// --start/--end: the policy replayed over the window through the backtest (the live judging code),
// then, when a rule's rollback fired in it, the rollback carried out now through the actuators.
// The window's decision that fails the gate is its first rollback (hold in dry run), else its
// first decision (a notify).
Outcome judge_window(LoadedConfig& loaded, Env& env, const GateOptions& options) {
  const Config& config = loaded.config;
  const promql::StepGrid& grid = *options.window;
  Outcome o;
  o.started_at = env.clock->wall();
  o.needed = evaluations_needed(config);
  o.tallies.resize(config.rules.size());
  const auto begun = std::chrono::steady_clock::now();
  promql::Client client(config.prometheus, env.make_http());
  const BacktestRun run = replay_history(config, grid, client, *env.clock);
  if (run.exit_code != kBacktestRan || !run.report) {
    o.reason = "could not replay the window " + describe_grid(grid) + ": " + run.error;
    return o;
  }
  const BacktestReport& report = *run.report;
  o.evaluations = static_cast<int>(grid.steps);
  o.status.config = &config;
  o.status.state = report.final_state;
  o.status.evaluations = static_cast<std::uint64_t>(grid.steps);
  o.status.last_evaluation = wall_time_of_ms(grid.last_ms());
  for (std::size_t i = 0; i < config.rules.size(); ++i) {
    const RuleTimeline& t = report.rules[i];
    const auto in = [&](RuleState s) { return t.evaluations_in[static_cast<std::size_t>(s)]; };
    o.tallies[i].with_data = static_cast<int>(in(RuleState::kOk) + in(RuleState::kPending) + in(RuleState::kFiring));
    // The replay counts per rule; the evaluations with any rule's data are at least the most any one had.
    o.evaluations_with_data = std::max(o.evaluations_with_data, o.tallies[i].with_data);
    o.status.rules.push_back(
        {&config.rules[i], i < report.final_status.size() ? report.final_status[i] : RuleStatus{}, {}});
  }
  // A rollback (or, in dry run, the hold that stands for one) over an earlier notify.
  const auto would_roll_back = [](const Decision& d) {
    return d.kind == DecisionKind::kRollback || d.kind == DecisionKind::kHold;
  };
  std::optional<Decision> fired;
  for (const Decision& d : report.decisions) {
    if (!fired || (would_roll_back(d) && !would_roll_back(*fired))) fired = d;
    if (would_roll_back(*fired)) break;
  }
  const std::string span = "in the window " + describe_grid(grid);
  if (!fired) {
    judge_data(o, config, span);
  } else {
    o.verdict = kFail;
    o.decision = fired;
    o.reason = fired_text(*fired) + " " + span;
    if (fired->kind == DecisionKind::kRollback) {
      // Carried out now, through the live engine: persisted, latched, audited and notified as any
      // rollback (trigger manual, actor gate, with the window's decision as its evidence).
      std::unique_ptr<Sidecar> sidecar = Sidecar::create(loaded, env);
      std::string error;
      if (!sidecar->start(&error, Sidecar::StartOptions{/*serve_http=*/false})) {
        o.reason += "; the rollback could not start: " + error;
        return o;
      }
      RollbackRequest request;
      request.trigger = Trigger::kManual;
      request.name = "gate";
      request.reason = "gate --start/--end: " + fired_text(*fired) + " " + span;
      request.started_at = fired->first_breach;
      request.details = {{"actor", "gate"}, {"window", describe_grid(grid)}, {"decision", to_json(*fired)}};
      const RollbackRequestResult accepted = sidecar->engine().request_rollback(request);
      sidecar->engine().shutdown();  // the rollback runs on the engine's thread: wait for it
      const std::optional<Decision> done = sidecar->engine().last_decision();
      if (!accepted.accepted) {
        o.reason += "; not rolled back: " + accepted.message;
      } else if (done && done->result == RollbackResult::kFailure) {
        o.reason += "; ROLLBACK FAILED, the router needs a person (see the incident report)";
      } else if (done) {
        o.reason += std::string("; rolled back now (") + rollback_result_name(done->result) + ")";
      }
      o.status.state = sidecar->engine().state();
    } else if (fired->kind == DecisionKind::kHold) {
      o.reason += "; dry run (--no-rollback or dry_run): nothing was changed";
    } else {
      o.reason += "; the rule only notifies: nothing was rolled back";
    }
  }
  o.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begun).count();
  return o;
}

class Gate {
 public:
  Gate(LoadedConfig& loaded, Env& env, const GateOptions& options, Interruption& interruption)
      : loaded_(loaded), config_(loaded.config), env_(env), options_(options), interruption_(interruption) {}

  Outcome run() {
    Outcome o;
    o.started_at = env_.clock->wall();
    o.tallies.resize(config_.rules.size());
    const Duration interval = config_.evaluation_interval;
    Duration longest_window{0}, longest_delay{0};
    for (const auto& r : config_.rules) {
      const Duration window = r.breaches ? interval * (r.breaches->n - 1) : r.for_duration;
      longest_window = std::max(longest_window, window);
      longest_delay = std::max(longest_delay, r.delay);
    }
    o.needed = evaluations_needed(config_);

    std::unique_ptr<Sidecar> sidecar = Sidecar::create(loaded_, env_);
    std::string error;
    if (!sidecar->start(&error, Sidecar::StartOptions{/*serve_http=*/false})) {
      o.reason = "could not start: " + error;
      return o;
    }
    Engine& engine = sidecar->engine();
    const std::optional<Decision> before = engine.last_decision();
    const auto is_new = [&](const std::optional<Decision>& d) { return d && (!before || d->id != before->id); };

    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    const auto start = std::chrono::steady_clock::now();
    const auto deadline = start + options_.bake;
    // A rule still pending (or firing, its `delay` running) at the deadline is followed to its end.
    const auto grace_end = deadline + longest_window + longest_delay + 2 * interval;
    auto next = start;
    bool all_errors_throughout = true;
    std::string last_error;
    for (;;) {
      sidecar->evaluate_once();
      ++o.evaluations;
      o.status = engine.status_view();
      const auto now = std::chrono::steady_clock::now();
      const WallTime wall_now = env_.clock->wall();
      const std::vector<RuleView>& rules = o.status.rules;
      bool any_data = false, all_error = !rules.empty(), unresolved = false;
      std::string line;
      for (std::size_t i = 0; i < rules.size() && i < o.tallies.size(); ++i) {
        const RuleStatus& s = rules[i].status;
        if (has_data(s.state)) {
          ++o.tallies[i].with_data;
          any_data = true;
        }
        if (!has_data(s.state) && !s.error_reason.empty()) {
          ++o.tallies[i].query_errors;
          last_error = rules[i].rule->name + ": " + s.last_problem;
        } else {
          all_error = false;
        }
        unresolved |= s.state == RuleState::kPending || s.state == RuleState::kFiring;
        line += (line.empty() ? "" : " | ") + rule_summary(rules[i], wall_now);
      }
      if (any_data) ++o.evaluations_with_data;
      all_errors_throughout &= all_error;
      const auto left = std::chrono::duration_cast<Duration>(deadline - now);
      std::string head = "gate " + config_.deployment.name + " #" + std::to_string(o.evaluations) + " " +
                         (left > Duration::zero() ? compact_duration(left) + " left" : "deadline passed") + ": ";
      print_live(tty, head + line);

      const std::optional<Decision> decision = engine.last_decision();
      const DeploymentState state = engine.state();
      if (is_new(decision) || is_latched(state) || state == DeploymentState::kRollingBack) {
        o.decision = decision;  // new, or the latch's (from the state file)
        o.verdict = kFail;
        o.reason = fail_reason(o, state, is_new(decision));
        break;
      }
      if (!interruption_.signal().empty()) break;
      next += interval;
      const auto after = std::chrono::steady_clock::now();
      while (next < after) next += interval;  // an evaluation overran: skip ticks, stay on the grid
      if (next > deadline && !(unresolved && next <= grace_end)) break;
      if (!interruption_.wait_until(next)) break;
    }
    o.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (tty) std::cout << "\n";
    std::cout.flush();
    const std::string signal = interruption_.signal();
    if (o.verdict == kFail) {
      // A signal during the last evaluation: its rollback finished; the verdict says so.
    } else if (!signal.empty()) {
      o.verdict = kCannotJudge;
      o.reason =
          "interrupted by " + signal + " after " +
          compact_duration(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(o.elapsed_seconds))) +
          " (" + std::to_string(o.evaluations) + " evaluation(s)); nothing was changed";
    } else if (all_errors_throughout) {
      o.verdict = kCannotJudge;
      o.reason = "Prometheus could not be queried at any of " + std::to_string(o.evaluations) + " evaluation(s) (" +
                 config_.prometheus.url + "): " + last_error;
    } else {
      judge_data(o, config_, "in " + common::format_duration(options_.bake));
    }
    return o;  // the Sidecar's teardown (records, notifications) runs here
  }

 private:
  void print_live(bool tty, std::string line) {
    if (tty) {
      const std::size_t width = static_cast<std::size_t>(terminal_width()) - 1;
      if (line.size() > width) line = common::cut_utf8_prefix(line, width - 3) + "...";
      std::cout << "\r\033[K" << line << std::flush;
    } else {
      std::cout << line << std::endl;
    }
  }

  std::string fail_reason(const Outcome& o, DeploymentState state, bool new_decision) {
    if (!new_decision) {
      return "deployment " + config_.deployment.name + " is " + deployment_state_name(state) +
             " (latched in the state file " + config_.state_file +
             "); it stays rolled back until a new deployment is configured";
    }
    const Decision& d = *o.decision;
    std::string out = fired_text(d);
    if (d.kind == DecisionKind::kHold)
      out += "; dry run (--no-rollback or dry_run): nothing was changed";
    else if (d.kind == DecisionKind::kNotify)
      out += "; the rule only notifies: nothing was rolled back";
    else if (d.result == RollbackResult::kFailure)
      out += "; ROLLBACK FAILED, the router needs a person (see the incident report)";
    else if (d.result == RollbackResult::kRunning)
      out += "; rolled back (running)";
    else
      out += std::string("; rolled back (") + rollback_result_name(d.result) + ")";
    return out;
  }

  LoadedConfig& loaded_;
  Config& config_;
  Env& env_;
  const GateOptions& options_;
  Interruption& interruption_;
};

bool write_text(const std::string& path, const std::string& text, bool append, std::string* error) {
  std::ofstream out(path, append ? std::ios::binary | std::ios::app : std::ios::binary | std::ios::trunc);
  if (out) out << text;
  if (out) out.flush();
  if (!out) *error = "cannot write " + path + ": " + std::strerror(errno);
  return static_cast<bool>(out);
}

int cannot_judge(const std::string& message) {
  std::cerr << "rollback-sidecar gate: " << message << "\n";
  std::cout << "gate: " << verdict_title(kCannotJudge) << ": " << message << "\n";
  return kCannotJudge;
}

}  // namespace

int run_gate(int argc, char** argv) {
  po::options_description options(kUsage);
  options.add_options()("help,h", "show this help")("config,c", po::value<std::string>(), "config file (YAML)")(
      "bake", po::value<std::string>(), "how long to judge, e.g. 10m (Prometheus duration)")(
      "junit", po::value<std::string>(), "write a JUnit XML report (one testcase per rule)")(
      "json", po::value<std::string>(), "write a JSON report {verdict, exit_code, rules, decision}")(
      "no-rollback", "judge in dry run: a failing deployment is reported, nothing is changed")(
      "start", po::value<std::string>(), "judge the past window from T (RFC 3339 or unix seconds), not live")(
      "end", po::value<std::string>(), "... to T (with --start; instead of --bake)")(
      "log-level", po::value<std::string>()->default_value("warn"), "trace|debug|info|warn|error")(
      "log-format", po::value<std::string>()->default_value("text"), "text|json");
  po::variables_map vm;
  try {
    // argv[1] is "gate"; parsing from there makes it the program name, so nothing positional is left.
    po::store(po::command_line_parser(argc - 1, argv + 1).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return cannot_judge(std::string(e.what()) + " (see rollback-sidecar gate --help)");
  }
  if (vm.count("help")) {
    std::cout << options << "\n";
    return 0;
  }
  if (!vm.count("config")) return cannot_judge("--config FILE is required");
  const bool past = vm.count("start") || vm.count("end");
  GateOptions gate_options;
  std::string error;
  std::optional<std::int64_t> start_ms, end_ms;
  if (past) {
    if (!vm.count("start") || !vm.count("end")) return cannot_judge("--start and --end go together (a past window)");
    if (vm.count("bake")) {
      return cannot_judge("--bake judges live, --start/--end judge a past window: give one of them");
    }
    start_ms = parse_backtest_time(vm["start"].as<std::string>(), &error);
    if (!start_ms) return cannot_judge("--start " + vm["start"].as<std::string>() + ": " + error);
    end_ms = parse_backtest_time(vm["end"].as<std::string>(), &error);
    if (!end_ms) return cannot_judge("--end " + vm["end"].as<std::string>() + ": " + error);
    if (*end_ms <= *start_ms) return cannot_judge("--end must be after --start");
    gate_options.bake = Duration(*end_ms - *start_ms);
  } else {
    if (!vm.count("bake")) return cannot_judge("--bake DURATION is required (e.g. --bake 10m), or --start/--end");
    auto bake = common::parse_duration(vm["bake"].as<std::string>(), &error);
    if (!bake || *bake <= Duration::zero()) {
      return cannot_judge("--bake " + vm["bake"].as<std::string>() + ": " +
                          (error.empty() ? "must be longer than 0s" : error));
    }
    gate_options.bake = *bake;
  }
  gate_options.no_rollback = vm.count("no-rollback") > 0;
  if (vm.count("junit")) gate_options.junit = vm["junit"].as<std::string>();
  if (vm.count("json")) gate_options.json = vm["json"].as<std::string>();
  if (!configure_logging(vm["log-level"].as<std::string>(), vm["log-format"].as<std::string>(), &error)) {
    return cannot_judge(error);
  }
  // The report files are opened before judging: a gate that cannot report must not roll back.
  for (const std::string* path : {&gate_options.junit, &gate_options.json}) {
    if (!path->empty() && !write_text(*path, "", false, &error)) return cannot_judge(error);
  }

  Interruption interruption;  // before any thread exists, so every thread inherits the mask
  SystemEnv env;
  const std::string config_path = vm["config"].as<std::string>();
  notifiers::Environment notifier_env;
  notifier_env.make_transport = env.make_http;
  LoadResult result =
      load_config_file(config_path, actuators::Registry::builtin(), notifiers::Registry::builtin(), notifier_env, env);
  for (const auto& e : result.errors) std::cerr << e.to_string(config_path) << "\n";
  if (!result.loaded) {
    return cannot_judge(config_path + ": " + std::to_string(result.errors.size()) +
                        " config error(s) (listed above); nothing was judged");
  }
  LoadedConfig& loaded = *result.loaded;
  if (loaded.config.rules.empty()) return cannot_judge(config_path + ": no rules to judge");
  if (gate_options.no_rollback) loaded.config.dry_run = true;
  // The pipeline moves the canary between gates; a gate never promotes on its own.
  loaded.config.promotion.enabled = false;

  const Config& c = loaded.config;
  if (past) {
    promql::StepGrid grid;
    if (!promql::make_grid(*start_ms, *end_ms, c.evaluation_interval.count(), &grid, &error, kMaxBacktestEvaluations)) {
      return cannot_judge("--start/--end: " + error);
    }
    gate_options.window = grid;
  }
  std::cout << "gate: judging deployment " << c.deployment.name << " (stage " << c.deployment.stage << ") "
            << (past ? "over the past window " + describe_grid(*gate_options.window)
                     : "for " + common::format_duration(gate_options.bake))
            << ": " << c.rules.size() << " rule(s) every " << common::format_duration(c.evaluation_interval)
            << " against " << c.prometheus.url
            << (c.dry_run ? "; dry run, nothing will be changed" : "; a firing rule rolls back") << std::endl;

  Outcome outcome;
  if (past) {
    outcome = judge_window(loaded, env, gate_options);
  } else {
    Gate gate(loaded, env, gate_options, interruption);
    outcome = gate.run();
  }
  const auto results = rule_results(outcome, c);
  std::cout << "gate: " << verdict_title(outcome.verdict) << ": " << outcome.reason << std::endl;

  bool reports_ok = true;
  if (!gate_options.junit.empty())
    reports_ok &= write_text(gate_options.junit, junit_xml(outcome, c, results), false, &error);
  if (!reports_ok) std::cerr << "rollback-sidecar gate: " << error << "\n";
  if (!gate_options.json.empty() &&
      !write_text(gate_options.json,
                  common::dump_json(json_report(outcome, c, results, gate_options.bake, gate_options.window), 2) + "\n",
                  false, &error)) {
    std::cerr << "rollback-sidecar gate: " << error << "\n";
  }
  if (const char* summary = std::getenv("GITHUB_STEP_SUMMARY"); summary && *summary) {
    if (!write_text(summary, markdown_summary(outcome, c, results), true, &error))
      std::cerr << "rollback-sidecar gate: " << error << "\n";
  }
  return outcome.verdict;
}

}  // namespace rs::sidecar
