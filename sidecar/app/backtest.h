// The backtest's replay: the policy run over Prometheus history (range query answers) through the
// very code the live loop judges with: RuleQueries (the slots), observe_series (with
// RuleQueries::reduction_of), RuleJudge::judge, RuleTracker::observe and DecisionMachine::step.
// Pure: no I/O, no clock, no logging. The answers come in, piece by piece in time order; the
// decisions and each rule's timeline come out. `rollback-sidecar backtest` (backtest_command.cpp)
// fetches the answers and prints the report.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "promql/range.h"
#include "promql/response.h"
#include "sidecar/config/config.h"
#include "sidecar/core/rule_queries.h"
#include "sidecar/policy/decision.h"
#include "sidecar/policy/rule_judge.h"
#include "sidecar/policy/rule_tracker.h"

namespace rs::sidecar {

// Consecutive evaluations of one rule in one state: [from, to) where `to` is one step after the
// last of them.
struct StateSpan {
  RuleState state = RuleState::kOk;
  WallTime from;
  WallTime to;
};

// Consecutive evaluations at which none of a rule's queries had a sample in Prometheus (missing
// history: a scrape outage, retention, a series that did not exist yet). `from` and `to` are the
// first and the last such evaluation.
struct HistoryGap {
  WallTime from;
  WallTime to;
  std::int64_t evaluations = 0;
};

constexpr std::size_t kRuleStates = 5;  // ok, pending, firing, nodata, insufficient (RuleState order)

struct RuleTimeline {
  std::string rule;
  std::array<std::int64_t, kRuleStates> evaluations_in{};  // evaluations spent in each RuleState
  std::vector<StateSpan> spans;                            // the state over the whole range, in order
  std::vector<HistoryGap> gaps;
  std::int64_t evaluations_without_history = 0;
  // Prometheus's warnings about the rule's queries, each once.
  std::vector<std::string> warnings;
};

struct BacktestReport {
  promql::StepGrid grid;
  std::vector<Decision> decisions;  // in time order, as DecisionMachine::step took them
  std::vector<RuleTimeline> rules;  // config order
  DeploymentState final_state = DeploymentState::kHealthy;
  std::vector<RuleStatus> final_status;  // each rule's status after the last evaluation fed, config order
  // When a rollback decision latched the deployment (later firing rules decide nothing, as live).
  std::optional<WallTime> latched_at;
  // Samples whose timestamps were not on the evaluation grid (a server that moved the grid), not
  // used; 0 with Prometheus.
  std::int64_t off_grid_samples = 0;
};

// One evaluation step's time on the grid.
inline WallTime wall_time_of_ms(std::int64_t ms) { return WallTime(std::chrono::milliseconds(ms)); }

// Contract:
// - Construct with the loaded config (rules with the stage overrides applied, dry_run) and the
//   grid; queries() are the range queries to run, in slot order.
// - feed() takes the answers for each piece of the grid in order (promql::split_grid), one
//   RangeData per query slot. At each evaluation t, a slot's values are the samples its series
//   have at exactly t (a series without one is absent, as in an instant query at t).
// - Each evaluation: every rule judged (observe_series -> RuleJudge::judge) and observed by its
//   RuleTracker at wall time t, then DecisionMachine::step at t. A rollback decision is taken as
//   carried out (success): the deployment latches rolled_back and decides nothing more, as the
//   live sidecar would; dry_run gives `hold` decisions and never latches; `notify` rules notify.
// - report() may be called at any time; it describes the evaluations fed so far.
class BacktestReplay {
 public:
  BacktestReplay(const Config& config, promql::StepGrid grid);
  BacktestReplay(const BacktestReplay&) = delete;
  BacktestReplay& operator=(const BacktestReplay&) = delete;

  const std::vector<std::string>& queries() const { return queries_.queries(); }
  const RuleQueries& slots() const { return queries_; }

  // False (and *error) when `piece` is not the next piece of the grid or `answers` does not hold
  // one answer per query slot; nothing is replayed then.
  bool feed(const promql::StepGrid& piece, const std::vector<promql::RangeData>& answers, std::string* error);

  BacktestReport report() const;
  std::int64_t evaluations_done() const { return next_step_; }

 private:
  void evaluate(std::int64_t step, const std::vector<std::vector<std::vector<double>>>& values,
                std::int64_t offset_in_piece, const std::vector<std::vector<bool>>& present);
  void close_gap(RuleTimeline& timeline, std::size_t rule);

  const Config& config_;
  promql::StepGrid grid_;
  RuleQueries queries_;
  std::vector<RuleJudge> judges_;
  std::vector<RuleTracker> trackers_;
  DecisionMachine machine_;
  std::int64_t next_step_ = 0;
  BacktestReport report_;
  std::vector<std::optional<std::int64_t>> gap_start_;  // per rule: the open gap's first step
};

// "2024-05-01T10:00:00.000Z .. 2024-05-01T16:00:00.000Z every 15s (1441 evaluations)"
std::string describe_grid(const promql::StepGrid& grid);

// The report as the command prints it: ONE JSON object {"decisions": [...], "summary": {...}}
// (docs/cli.md "backtest"), and as text for people.
nlohmann::json backtest_json(const BacktestReport& report, const Config& config);
std::string backtest_text(const BacktestReport& report, const Config& config);

}  // namespace rs::sidecar
