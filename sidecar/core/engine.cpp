#include "sidecar/core/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/duration.h"
#include "sidecar/policy/judges.h"
#include "sidecar/policy/worst_series.h"

namespace rs::sidecar {

nlohmann::json to_json(const RollbackRequestResult& r) {
  nlohmann::json j = {{"accepted", r.accepted}, {"state", r.state}, {"message", r.message}};
  if (r.accepted) {
    j["decision_id"] = r.decision_id;
    j["decision"] = decision_kind_name(r.kind);
  }
  return j;
}
namespace {

std::vector<std::string> with_verification(std::vector<std::string> queries, const std::string& verification) {
  queries.push_back(verification);
  return queries;
}

double seconds_between(WallTime from, WallTime to) { return std::chrono::duration<double>(to - from).count(); }

actuators::DecisionContext context_of(const Config& config, const Decision& d) {
  actuators::DecisionContext c;
  c.deployment = config.deployment.name;
  c.stage = config.deployment.stage;
  c.strategy = config.deployment.strategy;
  c.trigger = trigger_name(d.trigger);
  c.rule = d.rule;
  c.value = d.value ? format_value(*d.value) : "";
  c.threshold = format_value(d.threshold);
  c.reason = d.reason;
  return c;
}

std::vector<double> sample_values(const promql::QueryData& data) {
  std::vector<double> values;
  values.reserve(data.samples.size());
  for (const auto& sample : data.samples) values.push_back(sample.value);
  return values;
}

std::string also_firing_text(const Decision& d) {
  std::string text;
  for (const auto& rule : d.also_firing) text += (text.empty() ? "; also firing: " : ", ") + rule;
  return text;
}

// Runs one recording step (an observer, the state file, a status snapshot). Recording must never
// stop a rollback: a throw is logged at error and counted, and the caller goes on.
template <typename Step>
bool record_safely(SelfMetrics& metrics, const char* what, std::uint64_t decision_id, Step&& step) noexcept {
  try {
    step();
    return true;
  } catch (const std::exception& e) {
    spdlog::error("{} failed (decision #{}): {}; carrying on", what, decision_id, e.what());
  } catch (...) {
    spdlog::error("{} failed (decision #{}): unknown exception; carrying on", what, decision_id);
  }
  metrics.count_audit_write_error();
  return false;
}

}  // namespace

Engine::Engine(const Config& config, std::vector<actuators::Actuator*> actuators, promql::Client& client,
               const Env& env, SelfMetrics& metrics, const StateStore& store)
    : config_(config),
      client_(client),
      clock_(*env.clock),
      metrics_(metrics),
      store_(store),
      persist_health_(metrics),
      executor_(actuators, config.rollback, *env.clock, metrics.actuator_call_counter()),
      machine_(config.dry_run),
      promotion_(config.promotion.steps, config.promotion.step_duration),
      queries_(rule_queries_for(config)),
      queries_verifying_(with_verification(queries_.queries(), config.rollback.verify.condition.query)),
      last_warnings_(queries_.size()),
      last_errors_(queries_.size()),
      stable_check_(
          config.rollback.preflight.enabled
              ? std::make_unique<StableHealthCheck>(config.rollback.preflight, config.prometheus, env.make_http())
              : nullptr),
      rollback_run_(config.rollback, executor_, stable_check_.get(), *env.clock, actuation_mu_),
      verification_(config.rollback.verify) {
  trackers_.reserve(config.rules.size());
  judges_.reserve(config.rules.size());
  history_.resize(config.rules.size());
  last_judge_errors_.resize(config.rules.size());
  test_verdicts_.resize(config.rules.size(), SequentialVerdict::kInsufficient);
  for (const auto& rule : config.rules) {
    trackers_.emplace_back(rule);
    judges_.emplace_back(rule);
    metrics_.declare_rule(rule.name, rule.severity);
    metrics_.set_rule(rule.name, std::nan(""), rule.threshold, "ok");
  }
  for (const auto* actuator : actuators) metrics_.declare_actuator(actuator->type());
  metrics_.set_dry_run(config.dry_run);
  publish_state();
}

bool Engine::restore(std::string* error) {
  std::optional<PersistedState> saved;
  if (!store_.load(&saved, error)) return false;
  restore_from(saved);
  // A new deployment's start is on disk at once, so a restart before any decision keeps it.
  if (saved && saved->identity != config_.deployment.identity()) persist();
  publish_state();
  if (config_.promotion.enabled) {
    std::lock_guard<std::mutex> lock(mu_);
    metrics_.set_promotion(std::max(promotion_.progress().weight, 0), promotion_.progress().step + 1);
  }
  metrics_.set_freeze(saved && saved->freeze);
  return true;
}

void Engine::restore_from(const std::optional<PersistedState>& saved) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string identity = config_.deployment.identity();
  if (saved && saved->identity == identity && saved->promotion) {
    promotion_.restore(*saved->promotion);
    const PromotionProgress& p = promotion_.progress();
    if (p.state == PromotionState::kPromoting || p.state == PromotionState::kPaused) {
      spdlog::info("promotion resumes at step {} (canary {}%); the step's window restarts", p.step + 1, p.weight);
    }
  }
  if (saved) {
    for (const auto& key : saved->seen_alerts) {  // alert keys carry over: they name alerts, not deployments
      if (seen_alert_set_.insert(key).second) seen_alerts_.push_back(key);
    }
    while (seen_alerts_.size() > kMaxSeenAlerts) {
      seen_alert_set_.erase(seen_alerts_.front());
      seen_alerts_.pop_front();
    }
  }
  if (saved && saved->identity == identity) {
    deployment_since_ = saved->deployment_since;  // none in an older file: unknown, nothing is stale
    for (std::size_t i = 0; i < judges_.size(); ++i) {
      const std::string& name = config_.rules[i].name;
      auto it = saved->tests.find(name);
      if (!judges_[i].has_test() || it == saved->tests.end()) continue;
      std::string why;
      if (judges_[i].restore_test(it->second, &why)) {
        test_verdicts_[i] = judges_[i].test_verdict();
        spdlog::info("rule {}: sequential test continues from the state file ({})", name,
                     sequential_verdict_name(test_verdicts_[i]));
      } else {
        spdlog::warn("rule {}: sequential test state in {} not used ({}); the test starts afresh", name, store_.path(),
                     why);
      }
    }
  } else if (saved) {
    // The state of an earlier deployment: this one is first seen now, and began no earlier.
    deployment_since_ = clock_.wall();
  }
  // No state at all (first start, or no state_file): the sidecar was not watching when this
  // deployment began, so its start is unknown and no alert is judged stale.
  if (saved && saved->freeze) {
    freeze_ = saved->freeze;
    spdlog::warn("deployment {} is frozen since {} by {}: {}", config_.deployment.name, to_rfc3339(freeze_->since),
                 freeze_->actor, freeze_->reason);
  }
  if (!saved) {
    if (store_.path().empty()) spdlog::warn("no state_file configured: a restart forgets a latched rollback");
  } else if (saved->identity != identity) {
    spdlog::info("state file {} belongs to an earlier deployment ({}); this deployment starts healthy", store_.path(),
                 deployment_state_name(saved->state));
  } else if (saved->state == DeploymentState::kRollingBack) {
    spdlog::warn("state file {}: rollback #{} was interrupted; resuming it before evaluating", store_.path(),
                 saved->last_decision->id);
    machine_.restore(saved->state, saved->last_decision);
    resume_ = saved->last_decision;
  } else if (is_latched(saved->state)) {
    machine_.restore(saved->state, saved->last_decision);
    if (saved->last_decision && saved->last_decision->verification == Verification::kPending &&
        config_.rollback.verify.enabled) {
      verification_.start(clock_.wall());  // the window restarts: evidence from before the restart is gone
      spdlog::info("rollback #{}: verification restarts after the restart", saved->last_decision->id);
    }
    spdlog::warn("deployment {} is {} (latched by decision #{}); it stays so until a new deployment is configured",
                 config_.deployment.name, deployment_state_name(saved->state),
                 saved->last_decision ? saved->last_decision->id : 0);
  } else if (saved->last_decision) {
    machine_.restore(DeploymentState::kHealthy, saved->last_decision);  // rule progress restarts from scratch
  }
}

std::optional<Decision> Engine::last_decision() const {
  std::lock_guard<std::mutex> lock(mu_);
  return machine_.last_decision();
}

DeploymentState Engine::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return machine_.state();
}

bool Engine::timing_a_rule() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::any_of(trackers_.begin(), trackers_.end(), [](const RuleTracker& t) {
    return t.status().state == RuleState::kPending || t.status().state == RuleState::kFiring;
  });
}

Observation Engine::read_answer(std::size_t slot, const promql::QueryOutcome& outcome) {
  const RuleConfig& rule = config_.rules[queries_.rule_of(slot)];
  // "rule errors: query failed", "rule errors: baseline query failed", ...
  const std::string what = queries_.label_of(slot);
  if (const auto* error = std::get_if<promql::QueryError>(&outcome)) {
    const char* reason = promql::error_reason_name(error->reason);
    metrics_.count_query_error(rule.name, reason);
    // Every failure is counted; the log says it at warn once per distinct error, not per tick.
    std::string key = std::string(reason) + ": " + error->message;
    if (key != last_errors_[slot]) {
      spdlog::warn("rule {}: {} failed ({}): {}", rule.name, what, reason, error->message);
      last_errors_[slot] = std::move(key);
    } else {
      spdlog::debug("rule {}: {} failed again ({})", rule.name, what, reason);
    }
    return Observation::error(reason, error->message);
  }
  const auto& data = std::get<promql::QueryData>(outcome);
  std::string warnings;
  for (const auto& w : data.warnings) warnings += (warnings.empty() ? "" : "; ") + w;
  if (warnings != last_warnings_[slot]) {
    if (!warnings.empty()) spdlog::warn("rule {}: Prometheus warns about the {}: {}", rule.name, what, warnings);
    last_warnings_[slot] = warnings;
  }
  // Several series: the worst one for the rule's value, the sum for a sample count; a baseline
  // or a test counter must be one series (rule_judge.h).
  Observation o = queries_.observe(slot, sample_values(data), rule.comparison);
  if (o.kind == Observation::Kind::kError) {  // bad data: counted and logged like a query error
    metrics_.count_query_error(rule.name, o.error_reason);
    std::string key = o.error_reason + ": " + o.error_message;
    if (key != last_errors_[slot]) spdlog::warn("rule {}: {}", rule.name, o.error_message);
    last_errors_[slot] = std::move(key);
    return o;
  }
  if (!last_errors_[slot].empty()) {
    spdlog::info("rule {}: {} works again", rule.name, what);
    last_errors_[slot].clear();
  }
  return o;
}

Observation Engine::judge_rule(std::size_t index, const std::vector<promql::QueryOutcome>& outcomes) {
  const RuleAnswers answers =
      queries_.answers(index, [&](std::size_t slot) { return read_answer(slot, outcomes[slot]); });
  Observation judged = judges_[index].judge(answers);
  if (judged.kind == Observation::Kind::kError && !answers.any_error()) {
    // Data the judge refused (a negative value for a ratio, a test's inconsistent counters):
    // counted like a query error (the inputs' own errors were counted in read_answer), logged once.
    const RuleConfig& rule = config_.rules[index];
    metrics_.count_query_error(rule.name, judged.error_reason);
    if (judged.error_message != last_judge_errors_[index]) spdlog::warn("rule {}: {}", rule.name, judged.error_message);
    last_judge_errors_[index] = judged.error_message;
  } else {
    last_judge_errors_[index].clear();
  }
  return judged;
}

void Engine::log_rule_transition(const RuleTracker& tracker, RuleState before) {
  const RuleStatus& s = tracker.status();
  const RuleConfig& rule = tracker.rule();
  if (s.state == before) return;
  const std::string value = s.value ? format_value(*s.value) : "no value";
  const std::string compared = std::string(comparison_name(rule.comparison)) + " " + format_value(rule.threshold);
  // A judge's own words ("canary 0.3 vs baseline 0.1: ...") say more than value and threshold.
  const std::string judged = s.evidence.is_object() ? s.evidence.value("reason", "") : "";
  const std::string seen = judged.empty() ? value + " " + compared : judged;
  const std::string how_long = format_timing(rule);  // "for 5m" | "in 3 of 5 datapoints"
  switch (s.state) {
    case RuleState::kPending:
      spdlog::info("rule {}: {} -> pending: {} (fires {})", rule.name, rule_state_name(before), seen,
                   rule.breaches ? "at " + format_breaches(*rule.breaches) + " datapoints"
                                 : "after " + common::format_duration(rule.for_duration));
      break;
    case RuleState::kFiring:
      if (rule.delay.count() > 0 && !s.actionable) {
        spdlog::warn("rule {}: {} -> firing: {} {}; re-checking after delay {} before acting", rule.name,
                     rule_state_name(before), seen, how_long, common::format_duration(rule.delay));
      } else {
        spdlog::warn("rule {}: {} -> firing: {} {}", rule.name, rule_state_name(before), seen, how_long);
      }
      break;
    case RuleState::kOk:
      if (judged.empty())
        spdlog::info("rule {}: {} -> ok: {} (threshold {})", rule.name, rule_state_name(before), value, compared);
      else
        spdlog::info("rule {}: {} -> ok: {}", rule.name, rule_state_name(before), judged);
      break;
    case RuleState::kNoData:
      spdlog::warn("rule {}: {} -> nodata: {} (missing: {})", rule.name, rule_state_name(before), s.last_problem,
                   missing_name(rule.missing));
      break;
    case RuleState::kInsufficient:  // too few samples to judge: held, never a breach
      spdlog::info("rule {}: {} -> insufficient: {}", rule.name, rule_state_name(before), s.last_problem);
      break;
  }
}

namespace {

// Evaluation timestamps sit on the schedule's grid, as Prometheus's rule groups do: wake-up
// jitter must not make `for: 3s` at a 1s interval measure 2.998s and cost a whole extra
// interval before a rollback. Ticks skipped after a slow evaluation stay on the grid; a time
// more than a quarter interval off it (a manual call, a clock step) starts a new grid at `now`.
// One rule for both clocks: wall time for evidence and status, monotonic time for rule windows.
template <typename TimePoint>
TimePoint snap_to_grid(TimePoint now, Duration every, std::optional<TimePoint>& origin,
                       const std::optional<TimePoint>& last) {
  const auto interval = std::chrono::duration_cast<typename TimePoint::duration>(every);
  if (origin && interval.count() > 0) {
    const auto ticks = (now - *origin + interval / 2) / interval;
    const TimePoint snapped = *origin + ticks * interval;
    const auto off = now > snapped ? now - snapped : snapped - now;
    if (ticks > 0 && off <= interval / 4 && (!last || snapped > *last)) return snapped;
  }
  origin = now;
  return now;
}

}  // namespace

void Engine::restart_grid() { restart_grid_ = true; }

WallTime Engine::evaluation_time() {
  if (restart_grid_.exchange(false)) {
    grid_origin_.reset();
    mono_grid_origin_.reset();
  }
  return snap_to_grid(clock_.wall(), config_.evaluation_interval, grid_origin_, last_evaluation_);
}

// Rules measure `for` and `delay` on this, so a step of the wall clock (NTP, a resumed VM) neither
// fires a pending rule nor resets one.
MonoTime Engine::evaluation_mono() {
  last_mono_ = snap_to_grid(clock_.mono(), config_.evaluation_interval, mono_grid_origin_, last_mono_);
  return *last_mono_;
}

void Engine::evaluate_once() {
  try {
    std::optional<Decision> resume;
    {
      std::lock_guard<std::mutex> lock(mu_);
      resume.swap(resume_);
    }
    if (resume) execute_rollback(*resume, clock_.mono());
    if (persist_pending_.load()) persist();  // retried every tick until the disk takes it
    run_cleanup_if_due();

    bool verifying = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      verifying = verification_.verdict() == Verification::kPending;
    }
    // The rules' queries (slots), then the verification's while a rollback is being verified.
    const std::vector<std::string>& queries = verifying ? queries_verifying_ : queries_.queries();
    const WallTime now = evaluation_time();
    const MonoTime mono_now = evaluation_mono();
    std::vector<double> elapsed;
    std::vector<promql::QueryOutcome> outcomes = client_.query_all(queries, to_unix_seconds(now), &elapsed);
    for (auto& outcome : outcomes) outcome = promql::refuse_partial(std::move(outcome));

    std::vector<Decision> decisions;
    bool tests_to_persist = false;
    const bool debug = spdlog::should_log(spdlog::level::debug);
    std::string summary;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (std::size_t slot = 0; slot < queries_.size(); ++slot) {
        metrics_.observe_query_duration(config_.rules[queries_.rule_of(slot)].name, elapsed[slot]);
      }
      std::vector<const RuleTracker*> trackers;
      for (std::size_t i = 0; i < trackers_.size(); ++i) {
        RuleTracker& tracker = trackers_[i];
        const RuleConfig& rule = tracker.rule();
        const RuleState before = tracker.status().state;
        const RuleStatus& status = tracker.observe(judge_rule(i, outcomes), now, mono_now);
        history_[i].add(now, status);
        metrics_.set_rule(rule.name, status.value ? *status.value : std::nan(""), rule.threshold,
                          rule_state_name(status.state));
        log_rule_transition(tracker, before);
        if (debug) {  // a string per rule per tick is not free at a 1 s interval; only when it is read
          summary += " " + rule.name + "=" + (status.value ? format_value(*status.value) : "nodata") + "(" +
                     comparison_name(rule.comparison) + " " + format_value(rule.threshold) + "," +
                     rule_state_name(status.state) + ")";
        }
        trackers.push_back(&tracker);
      }
      if (verifying) observe_verification(outcomes.back(), now);
      tests_to_persist = tests_due(mono_now);
      const DeploymentState before = machine_.state();
      decisions = machine_.step(trackers, now);
      last_evaluation_ = now;
      ++evaluations_;
      if (machine_.state() != before) {
        spdlog::info("deployment {}: {} -> {}", config_.deployment.name, deployment_state_name(before),
                     deployment_state_name(machine_.state()));
      }
    }
    if (verification_changed_.exchange(false) || tests_to_persist) persist();
    record_verdict();
    if (debug) spdlog::debug("evaluation:{}", summary);
    metrics_.set_last_evaluation(to_unix_seconds(now));
    for (auto& decision : decisions) take_decision(std::move(decision));
    advance_promotion(now);
    publish_state();
    ready_ = true;
  } catch (const std::exception& e) {
    // Nothing here should throw; if something does, the sidecar keeps evaluating.
    spdlog::error("evaluation failed: {}", e.what());
  } catch (...) {
    spdlog::error("evaluation failed: unknown exception");
  }
}

void Engine::take_decision(Decision decision) {
  const MonoTime decided_mono = clock_.mono();
  for (auto* o : observers_) {
    record_safely(metrics_, "recording the decision", decision.id, [&] { o->on_decision(decision); });
  }
  // Wall times: a clock step between breach and decision must not record a negative detection.
  if (decision.first_breach) {
    metrics_.observe_detection(std::max(0.0, seconds_between(*decision.first_breach, decision.decided_at)));
  }
  if (decision.kind == DecisionKind::kRollback) {
    spdlog::warn("decision #{}: ROLL BACK {}: {} (first breach {:.1f}s ago){}", decision.id, config_.deployment.name,
                 decision.reason,
                 decision.first_breach ? seconds_between(*decision.first_breach, decision.decided_at) : 0.0,
                 also_firing_text(decision));
    execute_rollback(std::move(decision), decided_mono);
    return;
  }
  metrics_.count_decision(decision_kind_name(decision.kind), decision.rule, decision.severity);
  if (decision.kind == DecisionKind::kHold) {
    spdlog::warn("decision #{}: HOLD (dry run) {}", decision.id, decision.reason);
  } else {
    spdlog::warn("decision #{}: NOTIFY {} (rule action is notify; nothing is changed)", decision.id, decision.reason);
  }
  persist();
}

void Engine::execute_rollback(Decision decision, MonoTime decided_mono) {
  persist();  // rolling_back is on disk before any actuator runs: a crash resumes it
  RollbackRunReport run = rollback_run_.run(decision.id, context_of(config_, decision), decided_mono);
  if (run.interrupted) return;  // stays rolling_back on disk; the next start resumes the rollback
  decision.result = run.result;
  decision.actuators = std::move(run.steps);
  decision.completed_at = clock_.wall();
  decision.duration_seconds = run.duration_seconds;
  decision.verification = run.verification;
  decision.verification_detail = run.verification_detail;
  if (run.result == RollbackResult::kNoop) decision.kind = DecisionKind::kNoop;
  const char* trigger = trigger_name(decision.trigger);
  metrics_.count_decision(decision_kind_name(decision.kind), decision.rule, decision.severity);
  const double millis = run.duration_seconds * 1000;
  switch (run.result) {
    case RollbackResult::kSuccess:
      metrics_.observe_rollback_duration(run.duration_seconds);
      spdlog::warn("rollback #{} verified in {:.1f}ms: all traffic on stable; deployment {} is rolled_back (latched)",
                   decision.id, millis, config_.deployment.name);
      if (decision.verification == Verification::kNone) metrics_.count_rollback("success", trigger);
      if (decision.verification == Verification::kFailed) metrics_.count_rollback("unverified", trigger);
      if (decision.verification != Verification::kNone) metrics_.set_rollback_verified(false);
      if (decision.verification == Verification::kPending) {
        spdlog::info("rollback #{}: verifying for up to {}", decision.id,
                     common::format_duration(config_.rollback.verify.timeout));
      }
      break;
    case RollbackResult::kNoop:
      spdlog::warn("rollback #{}: router already sent all traffic to stable (noop); deployment {} is rolled_back",
                   decision.id, config_.deployment.name);
      break;
    case RollbackResult::kFailure:
    case RollbackResult::kRunning:  // not returned by a finished run
      metrics_.count_rollback("failure", trigger);
      spdlog::error("rollback #{} FAILED after {:.1f}ms: {}; deployment {} is rollback_failed", decision.id, millis,
                    decision.actuators.empty() ? "no actuator ran" : decision.actuators.back().detail,
                    config_.deployment.name);
      break;
  }
  StatusView snapshot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (run.result == RollbackResult::kSuccess && cleanup_executor_) {
      cleanup_due_ = clock_.mono() + config_.cleanup.delay;
      cleanup_for_ = decision;
      spdlog::info("rollback #{}: cleanup runs in {}", decision.id, common::format_duration(config_.cleanup.delay));
    }
    if (decision.verification == Verification::kPending) {
      verification_.start(clock_.wall());
      decision.verification_detail = verification_.detail();
    }
    machine_.finish_rollback(decision);
    snapshot = status_view_locked();
  }
  persist();
  publish_state();
  for (auto* o : observers_) {
    record_safely(metrics_, "recording the finished rollback", decision.id,
                  [&] { o->on_rollback_finished(decision, snapshot); });
  }
  if (decision.verification == Verification::kFailed) {  // stable unhealthy right after the switch: final at once
    for (auto* o : observers_) {
      record_safely(metrics_, "recording the verification verdict", decision.id,
                    [&] { o->on_verification_finished(decision, *decision.completed_at); });
    }
  }
}

// Called with mu_ held, once per evaluation while a verification is pending.
void Engine::observe_verification(const promql::QueryOutcome& outcome, WallTime now) {
  std::optional<double> value;
  std::string problem;
  if (const auto* error = std::get_if<promql::QueryError>(&outcome)) {
    problem = std::string(promql::error_reason_name(error->reason)) + ": " + error->message;
  } else {
    // The condition must hold, so its worst series is the one furthest the other way.
    const auto& data = std::get<promql::QueryData>(outcome);
    value = worst_series(sample_values(data), opposite(config_.rollback.verify.condition.comparison));
    if (!value) problem = "query returned no data";
  }
  auto verdict = verification_.observe(value, problem, now);
  if (verdict == Verification::kPending || !machine_.last_decision()) return;
  Decision d = *machine_.last_decision();
  d.verification = verdict;
  d.verification_detail = verification_.detail();
  machine_.update_last_decision(d);
  const bool verified = verdict == Verification::kVerified;
  metrics_.set_rollback_verified(verified);
  metrics_.count_rollback(verified ? "success" : "unverified", trigger_name(d.trigger));
  if (verified)
    spdlog::info("rollback #{} {}", d.id, d.verification_detail);
  else
    spdlog::error("rollback #{} {}", d.id, d.verification_detail);
  verification_changed_ = true;
  verdict_to_record_.emplace(std::move(d), now);
}

void Engine::record_verdict() {
  std::optional<std::pair<Decision, WallTime>> verdict;
  {
    std::lock_guard<std::mutex> lock(mu_);
    verdict.swap(verdict_to_record_);
  }
  if (!verdict) return;
  for (auto* o : observers_) {
    record_safely(metrics_, "recording the verification verdict", verdict->first.id,
                  [&] { o->on_verification_finished(verdict->first, verdict->second); });
  }
}

RollbackRequestResult Engine::request_rollback(const RollbackRequest& request) {
  Decision proposal;
  proposal.trigger = request.trigger;
  proposal.rule = request.name;
  proposal.severity = request.severity;
  proposal.reason = request.reason;
  proposal.first_breach = request.started_at;
  proposal.details = request.details;
  RollbackRequestResult result;
  std::optional<Decision> decision;
  {
    std::lock_guard<std::mutex> lock(mu_);
    decision = machine_.external(proposal, clock_.wall());
    result.state = deployment_state_name(machine_.state());
  }
  if (!decision) {
    result.message = "deployment " + config_.deployment.name + " is " + result.state + "; nothing to do";
    spdlog::info("{} rollback request ({}) ignored: {}", trigger_name(request.trigger), request.reason, result.message);
    return result;
  }
  result.accepted = true;
  result.decision_id = decision->id;
  result.kind = decision->kind;
  if (decision->kind == DecisionKind::kHold) {
    result.message = "dry run: would roll back; nothing was changed";
    take_decision(std::move(*decision));
    return result;
  }
  result.message = "rolling back; follow GET /api/v1/status";
  publish_state();
  std::lock_guard<std::mutex> lock(background_mu_);
  if (background_.joinable()) background_.join();  // the previous one is over: the machine let this one in
  background_ = std::thread([this, d = std::move(*decision)]() mutable {
    const std::uint64_t id = d.id;
    try {  // an exception escaping a thread would std::terminate the sidecar mid-rollback
      take_decision(std::move(d));
    } catch (const std::exception& e) {
      spdlog::critical("rollback #{} failed with an internal error: {}", id, e.what());
    } catch (...) {
      spdlog::critical("rollback #{} failed with an internal error (unknown exception)", id);
    }
  });
  return result;
}

AlertAdmission Engine::admit_alert(const std::string& key, std::optional<WallTime> started_at) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_at && deployment_since_ && *started_at < *deployment_since_) return AlertAdmission::kStale;
    if (!seen_alert_set_.insert(key).second) return AlertAdmission::kDuplicate;
    seen_alerts_.push_back(key);
    if (seen_alerts_.size() > kMaxSeenAlerts) {
      seen_alert_set_.erase(seen_alerts_.front());
      seen_alerts_.pop_front();
    }
  }
  persist();  // before acting: a restart right after must not act on it again
  return AlertAdmission::kNew;
}

std::optional<WallTime> Engine::deployment_since() const {
  std::lock_guard<std::mutex> lock(mu_);
  return deployment_since_;
}

void Engine::advance_promotion(WallTime now) {
  const PromotionConfig& cfg = config_.promotion;
  if (!cfg.enabled) return;
  std::lock_guard<std::mutex> actuating(actuation_mu_);
  std::optional<PromotionStep> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const PromotionState before = promotion_.state();
    const DeploymentState state = machine_.state();
    PromotionInputs in;
    in.rollback = is_latched(state) || state == DeploymentState::kRollingBack;
    in.dry_run = config_.dry_run;
    in.frozen = freeze_.has_value();
    in.all_rules_ok = std::all_of(trackers_.begin(), trackers_.end(),
                                  [](const RuleTracker& t) { return t.status().state == RuleState::kOk; });
    in.now = now;
    due = promotion_.step(in);
    const PromotionProgress& p = promotion_.progress();
    if (p.state != before) {
      spdlog::info("promotion: {} -> {} (step {}/{}, canary {}%)", promotion_state_name(before),
                   promotion_state_name(p.state), p.step + 1, cfg.steps.size(), std::max(p.weight, 0));
    }
    if (!due) return;
  }
  actuators::DecisionContext context;
  context.deployment = config_.deployment.name;
  context.stage = config_.deployment.stage;
  context.strategy = config_.deployment.strategy;
  context.trigger = "promotion";
  context.reason =
      "promotion step " + std::to_string(due->index + 1) + ": canary to " + std::to_string(due->percent) + "%";
  spdlog::info("promotion step {}/{}: canary to {}% (all rules ok)", due->index + 1, cfg.steps.size(), due->percent);
  ExecutionReport report = executor_.set_canary_weight(due->percent, context);
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool ok = report.result != RollbackResult::kFailure;
    promotion_.applied(*due, ok, report.interrupted, now);
    if (!ok) {
      spdlog::error("promotion step {} failed: {}; promotion stops (rules still guard the canary)", due->index + 1,
                    report.actuators.empty() ? "no actuator" : report.actuators.back().detail);
    } else if (promotion_.state() == PromotionState::kComplete) {
      spdlog::warn("promotion complete: deployment {} canary at {}%", config_.deployment.name, due->percent);
    }
    metrics_.set_promotion(std::max(promotion_.progress().weight, 0), promotion_.progress().step + 1);
  }
  persist();
}

void Engine::set_freeze(const std::string& reason, const std::string& actor) {
  const FreezeEvent event{true, reason, actor, clock_.wall()};
  {
    std::lock_guard<std::mutex> lock(mu_);
    freeze_ = Freeze{reason, actor, event.at};
  }
  spdlog::warn("deployment {} frozen by {}: {} (promotion stops; rollbacks still happen)", config_.deployment.name,
               actor, reason);
  metrics_.set_freeze(true);
  persist();
  for (auto* o : observers_) {
    record_safely(metrics_, "recording the freeze", 0, [&] { o->on_freeze(event); });
  }
}

bool Engine::clear_freeze(const std::string& actor, const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!freeze_) return false;
    freeze_.reset();
  }
  const FreezeEvent event{false, reason, actor, clock_.wall()};
  spdlog::warn("deployment {} unfrozen by {}", config_.deployment.name, actor);
  metrics_.set_freeze(false);
  persist();
  for (auto* o : observers_) {
    record_safely(metrics_, "recording the unfreeze", 0, [&] { o->on_freeze(event); });
  }
  return true;
}

void Engine::add_observer(DecisionObserver* observer) { observers_.push_back(observer); }

void Engine::set_cleanup_actuators(std::vector<actuators::Actuator*> actuators) {
  if (!actuators.empty()) {
    cleanup_executor_ = std::make_unique<RollbackExecutor>(std::move(actuators), config_.rollback, clock_,
                                                           metrics_.actuator_call_counter());
  }
}

void Engine::run_cleanup_if_due() {
  std::optional<Decision> rollback;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cleanup_due_ || clock_.mono() < *cleanup_due_) return;
    cleanup_due_.reset();
    rollback.swap(cleanup_for_);
  }
  if (!rollback || !cleanup_executor_) return;
  actuators::DecisionContext context = context_of(config_, *rollback);
  context.trigger = "cleanup";
  context.reason = "cleanup after rollback #" + std::to_string(rollback->id) + ": " + rollback->reason;
  spdlog::info("rollback #{}: running cleanup ({} after the rollback)", rollback->id,
               common::format_duration(config_.cleanup.delay));
  std::lock_guard<std::mutex> actuating(actuation_mu_);
  ExecutionReport report = cleanup_executor_->run(context);
  if (report.result == RollbackResult::kFailure) {
    spdlog::error("rollback #{}: cleanup failed: {}", rollback->id,
                  report.actuators.empty() ? "nothing ran" : report.actuators.back().detail);
  } else {
    spdlog::info("rollback #{}: cleanup done", rollback->id);
  }
}

void Engine::shutdown() {
  {
    std::lock_guard<std::mutex> lock(background_mu_);
    if (background_.joinable()) background_.join();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (cleanup_due_)
    spdlog::warn("cleanup after rollback #{} cancelled: the sidecar stops", cleanup_for_ ? cleanup_for_->id : 0);
  cleanup_due_.reset();
}

Engine::~Engine() { shutdown(); }

std::optional<Freeze> Engine::freeze() const {
  std::lock_guard<std::mutex> lock(mu_);
  return freeze_;
}

// Never throws: a state file that cannot be written is counted, logged once (PersistHealth) and
// retried at the next tick; the latch holds in memory meanwhile and the rollback goes on.
void Engine::persist() {
  std::lock_guard<std::mutex> writing(persist_mu_);  // the newest state is read under it: no stale overwrite
  PersistedState state;
  {
    std::lock_guard<std::mutex> lock(mu_);
    state.identity = config_.deployment.identity();
    state.state = machine_.state();
    state.last_decision = machine_.last_decision();
    state.freeze = freeze_;
    if (config_.promotion.enabled) state.promotion = promotion_.progress();
    state.deployment_since = deployment_since_;
    state.seen_alerts.assign(seen_alerts_.begin(), seen_alerts_.end());
    for (std::size_t i = 0; i < judges_.size(); ++i) {
      if (judges_[i].has_test()) state.tests[config_.rules[i].name] = judges_[i].test_state();
    }
  }
  bool saved = false;
  std::string error;
  record_safely(metrics_, "writing the state file", state.last_decision ? state.last_decision->id : 0,
                [&] { saved = store_.save(state, &error); });
  persist_pending_ = !saved;
  if (saved) {
    persist_health_.succeeded(PersistFile::kState);
  } else {
    persist_health_.failed(PersistFile::kState,
                           error.empty() ? "state file " + store_.path() + ": write failed" : error);
  }
}

bool Engine::tests_due(MonoTime mono) {
  bool changed = false, any = false;
  for (std::size_t i = 0; i < judges_.size(); ++i) {
    if (!judges_[i].has_test()) continue;
    any = true;
    const SequentialVerdict v = judges_[i].test_verdict();
    if (v != test_verdicts_[i]) changed = true;
    test_verdicts_[i] = v;
  }
  if (!any || (!changed && tests_persisted_ && mono - *tests_persisted_ < kTestPersistEvery)) return false;
  tests_persisted_ = mono;
  return true;
}

void Engine::publish_state() { metrics_.set_deployment_state(deployment_state_name(state())); }

StatusView Engine::status_view() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_view_locked();
}

StatusView Engine::status_view_locked() const {
  StatusView view;
  view.config = &config_;
  view.state = machine_.state();
  view.verification = verification_.verdict();
  view.verification_detail = verification_.detail();
  if (config_.promotion.enabled) view.promotion = PromotionView{promotion_.progress(), promotion_.window_start()};
  view.freeze = freeze_;
  view.ready = ready_.load();
  view.evaluations = evaluations_;
  view.last_evaluation = last_evaluation_;
  if (alignment_source_) {
    view.alignment = alignment_source_();
  } else {
    view.alignment.scrape = false;
  }
  view.rules.reserve(trackers_.size());
  for (std::size_t i = 0; i < trackers_.size(); ++i) {
    view.rules.push_back({&config_.rules[i], trackers_[i].status(), history_[i].points()});
  }
  view.last_decision = machine_.last_decision();
  return view;
}

}  // namespace rs::sidecar
