#include "sidecar/app/backtest.h"

#include <cmath>
#include <sstream>

#include "common/duration.h"

namespace rs::sidecar {
namespace {

double seconds_of(std::int64_t evaluations, const promql::StepGrid& grid) {
  return static_cast<double>(evaluations) * static_cast<double>(grid.step_ms) / 1000.0;
}

// "300s", "1.5s": seconds as people and JSON readers expect them, without trailing zeros.
std::string seconds_text(double seconds) {
  std::ostringstream s;
  s << seconds << "s";
  return s.str();
}

// JSON cannot carry NaN or infinities: those values are written as their text ("+Inf").
nlohmann::json value_json(const std::optional<double>& v) {
  if (!v) return nullptr;
  if (std::isfinite(*v)) return *v;
  return format_value(*v);
}

nlohmann::json time_json(const std::optional<WallTime>& t) {
  if (!t) return nullptr;
  return to_rfc3339(*t);
}

// The queries a rule sent, by what they are called ("query", "baseline", "canary_errors", "slo
// long window", ...).
nlohmann::json rule_queries_json(const RuleQueries& queries, const std::string& rule_name, const Config& config) {
  nlohmann::json out = nlohmann::json::object();
  for (std::size_t slot = 0; slot < queries.size(); ++slot) {
    if (config.rules[queries.rule_of(slot)].name != rule_name) continue;
    // Names repeat for an slo rule's window pairs: "slo long window", "slo long window 2", ...
    std::string name = queries.name_of(slot);
    for (int n = 2; out.contains(name); ++n) name = std::string(queries.name_of(slot)) + " " + std::to_string(n);
    out[name] = queries.queries()[slot];
  }
  return out;
}

std::string history_name(const RuleTimeline& rule, const promql::StepGrid& grid) {
  if (rule.evaluations_without_history == 0) return "complete";
  return rule.evaluations_without_history >= grid.steps ? "none" : "gaps";
}

}  // namespace

BacktestReplay::BacktestReplay(const Config& config, promql::StepGrid grid)
    : config_(config), grid_(grid), queries_(rule_queries_for(config)), machine_(config.dry_run) {
  judges_.reserve(config.rules.size());
  trackers_.reserve(config.rules.size());
  for (const auto& rule : config.rules) {
    judges_.emplace_back(rule);
    trackers_.emplace_back(rule);
    RuleTimeline timeline;
    timeline.rule = rule.name;
    report_.rules.push_back(std::move(timeline));
  }
  gap_start_.resize(config.rules.size());
  report_.grid = grid;
}

bool BacktestReplay::feed(const promql::StepGrid& piece, const std::vector<promql::RangeData>& answers,
                          std::string* error) {
  if (piece.step_ms != grid_.step_ms || piece.steps < 1 || next_step_ >= grid_.steps ||
      piece.start_ms != grid_.at(next_step_) || next_step_ + piece.steps > grid_.steps) {
    *error = "the piece of the range (" + describe_grid(piece) + ") is not the next one of " + describe_grid(grid_) +
             " after " + std::to_string(next_step_) + " evaluation(s)";
    return false;
  }
  if (answers.size() != queries_.size()) {
    *error = std::to_string(answers.size()) + " answer(s) for " + std::to_string(queries_.size()) + " queries";
    return false;
  }
  // values[slot][k]: the numbers of the series that have a sample at exactly the piece's k-th
  // evaluation; present[slot][k]: whether any series has one (even NaN: Prometheus had history).
  std::vector<std::vector<std::vector<double>>> values(queries_.size());
  std::vector<std::vector<bool>> present(queries_.size());
  for (std::size_t slot = 0; slot < queries_.size(); ++slot) {
    values[slot].resize(static_cast<std::size_t>(piece.steps));
    present[slot].assign(static_cast<std::size_t>(piece.steps), false);
    for (const auto& series : answers[slot].series) {
      for (const auto& point : series.points) {
        const std::int64_t k = piece.index_of(std::llround(point.timestamp * 1000.0));
        if (k < 0) {
          ++report_.off_grid_samples;
          continue;
        }
        values[slot][static_cast<std::size_t>(k)].push_back(point.value);
        present[slot][static_cast<std::size_t>(k)] = true;
      }
    }
    RuleTimeline& timeline = report_.rules[queries_.rule_of(slot)];
    for (const auto& warning : answers[slot].warnings) {
      bool known = false;
      for (const auto& w : timeline.warnings) known |= w == warning;
      if (!known) timeline.warnings.push_back(warning);
    }
  }
  for (std::int64_t k = 0; k < piece.steps; ++k) evaluate(next_step_ + k, values, k, present);
  next_step_ += piece.steps;
  return true;
}

void BacktestReplay::evaluate(std::int64_t step, const std::vector<std::vector<std::vector<double>>>& values,
                              std::int64_t offset_in_piece, const std::vector<std::vector<bool>>& present) {
  const auto k = static_cast<std::size_t>(offset_in_piece);
  const WallTime now = wall_time_of_ms(grid_.at(step));
  const WallTime next = wall_time_of_ms(grid_.at(step + 1));
  std::vector<const RuleTracker*> trackers;
  trackers.reserve(trackers_.size());
  for (std::size_t i = 0; i < trackers_.size(); ++i) {
    const RuleConfig& rule = config_.rules[i];
    bool history = false;
    // One slot's answer at this evaluation, reduced as the live engine reduces it (RuleQueries::observe);
    // RuleQueries::answers lays the slots out for the judge exactly as the engine's judge_rule does.
    const RuleAnswers answers = queries_.answers(i, [&](std::size_t slot) {
      history |= present[slot][k];
      return queries_.observe(slot, values[slot][k], rule.comparison);
    });
    const RuleStatus& status = trackers_[i].observe(judges_[i].judge(answers), now);
    trackers.push_back(&trackers_[i]);

    RuleTimeline& timeline = report_.rules[i];
    ++timeline.evaluations_in[static_cast<std::size_t>(status.state)];
    if (!timeline.spans.empty() && timeline.spans.back().state == status.state && timeline.spans.back().to == now) {
      timeline.spans.back().to = next;
    } else {
      timeline.spans.push_back(StateSpan{status.state, now, next});
    }
    if (!history) {
      ++timeline.evaluations_without_history;
      if (!gap_start_[i]) gap_start_[i] = step;
    } else if (gap_start_[i]) {
      timeline.gaps.push_back(HistoryGap{wall_time_of_ms(grid_.at(*gap_start_[i])), wall_time_of_ms(grid_.at(step - 1)),
                                         step - *gap_start_[i]});
      gap_start_[i].reset();
    }
  }
  for (Decision& decision : machine_.step(trackers, now)) {
    if (decision.kind == DecisionKind::kRollback) {
      // The backtest changes nothing; it takes the rollback as done, so the deployment latches
      // rolled_back as it would have live, and later firing rules decide nothing.
      decision.result = RollbackResult::kSuccess;
      decision.completed_at = now;
      machine_.finish_rollback(decision);
      report_.latched_at = now;
    }
    report_.decisions.push_back(std::move(decision));
  }
}

BacktestReport BacktestReplay::report() const {
  BacktestReport out = report_;
  for (std::size_t i = 0; i < gap_start_.size(); ++i) {
    if (!gap_start_[i]) continue;  // a gap still open at the last evaluation fed
    out.rules[i].gaps.push_back(HistoryGap{wall_time_of_ms(grid_.at(*gap_start_[i])),
                                           wall_time_of_ms(grid_.at(next_step_ - 1)), next_step_ - *gap_start_[i]});
  }
  out.final_state = machine_.state();
  for (const auto& tracker : trackers_) out.final_status.push_back(tracker.status());
  return out;
}

std::string describe_grid(const promql::StepGrid& grid) {
  return to_rfc3339(wall_time_of_ms(grid.start_ms)) + " .. " + to_rfc3339(wall_time_of_ms(grid.last_ms())) + " every " +
         common::format_duration(Duration(grid.step_ms)) + " (" + std::to_string(grid.steps) + " evaluation" +
         (grid.steps == 1 ? "" : "s") + ")";
}

nlohmann::json backtest_json(const BacktestReport& report, const Config& config) {
  const RuleQueries queries(config.rules);
  nlohmann::json decisions = nlohmann::json::array();
  for (const Decision& d : report.decisions) {
    nlohmann::json evidence = {{"reason", d.reason},
                               {"severity", d.severity},
                               {"comparison", d.comparison},
                               {"queries", rule_queries_json(queries, d.rule, config)},
                               {"for", common::format_duration(d.for_duration)},
                               {"delay", common::format_duration(d.delay)},
                               {"firing_since", time_json(d.firing_since)},
                               {"also_firing", d.also_firing},
                               {"dry_run", d.dry_run}};
    if (!d.details.is_null()) evidence["judge"] = d.details;
    decisions.push_back({{"rule", d.rule},
                         {"kind", decision_kind_name(d.kind)},
                         {"decided_at", to_rfc3339(d.decided_at)},
                         {"first_breach", time_json(d.first_breach)},
                         {"value", value_json(d.value)},
                         {"threshold", value_json(d.threshold)},
                         {"evidence", std::move(evidence)}});
  }
  nlohmann::json rules = nlohmann::json::array();
  for (const RuleTimeline& r : report.rules) {
    nlohmann::json seconds = nlohmann::json::object();
    for (std::size_t s = 0; s < kRuleStates; ++s) {
      seconds[rule_state_name(static_cast<RuleState>(s))] = seconds_of(r.evaluations_in[s], report.grid);
    }
    nlohmann::json gaps = nlohmann::json::array();
    for (const HistoryGap& g : r.gaps) {
      gaps.push_back({{"from", to_rfc3339(g.from)}, {"to", to_rfc3339(g.to)}, {"evaluations", g.evaluations}});
    }
    nlohmann::json timeline = nlohmann::json::array();
    for (const StateSpan& span : r.spans) {
      timeline.push_back(
          {{"state", rule_state_name(span.state)}, {"from", to_rfc3339(span.from)}, {"to", to_rfc3339(span.to)}});
    }
    rules.push_back({{"rule", r.rule},
                     {"seconds", std::move(seconds)},
                     {"history", history_name(r, report.grid)},
                     {"evaluations_without_history", r.evaluations_without_history},
                     {"gaps", std::move(gaps)},
                     {"timeline", std::move(timeline)},
                     {"warnings", r.warnings}});
  }
  nlohmann::json earliest = nullptr;
  if (!report.decisions.empty()) {
    const Decision& d = report.decisions.front();
    earliest = {{"rule", d.rule}, {"kind", decision_kind_name(d.kind)}, {"decided_at", to_rfc3339(d.decided_at)}};
  }
  nlohmann::json summary = {{"deployment", config.deployment.name},
                            {"stage", config.deployment.stage},
                            {"dry_run", config.dry_run},
                            {"start", to_rfc3339(wall_time_of_ms(report.grid.start_ms))},
                            {"end", to_rfc3339(wall_time_of_ms(report.grid.last_ms()))},
                            {"step", common::format_duration(Duration(report.grid.step_ms))},
                            {"step_seconds", static_cast<double>(report.grid.step_ms) / 1000.0},
                            {"evaluations", report.grid.steps},
                            {"decisions", report.decisions.size()},
                            {"earliest_decision", std::move(earliest)},
                            {"final_state", deployment_state_name(report.final_state)},
                            {"latched_at", time_json(report.latched_at)},
                            {"off_grid_samples", report.off_grid_samples},
                            {"rules", std::move(rules)}};
  return {{"decisions", std::move(decisions)}, {"summary", std::move(summary)}};
}

std::string backtest_text(const BacktestReport& report, const Config& config) {
  std::ostringstream out;
  out << "backtest of deployment " << config.deployment.name << " (stage " << config.deployment.stage
      << "): " << config.rules.size() << " rule(s) over " << describe_grid(report.grid)
      << (config.dry_run ? "; dry run: rollbacks show as hold" : "") << "\n";
  if (report.decisions.empty()) {
    out << "no decision: the policy would not have acted in this range\n";
  } else {
    out << report.decisions.size() << " decision(s):\n";
  }
  for (const Decision& d : report.decisions) {
    out << "  " << decision_kind_name(d.kind) << " rule " << d.rule << " decided_at " << to_rfc3339(d.decided_at)
        << " first_breach " << (d.first_breach ? to_rfc3339(*d.first_breach) : std::string("-")) << " value "
        << (d.value ? format_value(*d.value) : std::string("-")) << " " << d.comparison << " "
        << format_value(d.threshold) << ": " << d.reason;
    for (const auto& rule : d.also_firing) out << (&rule == &d.also_firing.front() ? " (also firing: " : ", ") << rule;
    out << (d.also_firing.empty() ? "" : ")") << "\n";
  }
  out << "summary:\n";
  for (const RuleTimeline& r : report.rules) {
    out << "  rule " << r.rule << ":";
    for (std::size_t s = 0; s < kRuleStates; ++s) {
      out << (s ? ", " : " ") << rule_state_name(static_cast<RuleState>(s)) << " "
          << seconds_text(seconds_of(r.evaluations_in[s], report.grid));
    }
    const std::string history = history_name(r, report.grid);
    if (history == "complete") {
      out << "; history complete\n";
    } else if (history == "none") {
      out << "\n  no history for rule " << r.rule << " between " << to_rfc3339(wall_time_of_ms(report.grid.start_ms))
          << " and " << to_rfc3339(wall_time_of_ms(report.grid.last_ms()))
          << ": Prometheus retention? (none of its queries returned a sample)\n";
    } else {
      out << "; " << r.evaluations_without_history << " evaluation(s) without history in " << r.gaps.size()
          << " gap(s):\n";
      for (const HistoryGap& g : r.gaps) {
        out << "    gap " << to_rfc3339(g.from) << " .. " << to_rfc3339(g.to) << " (" << g.evaluations
            << " evaluation(s))\n";
      }
    }
    for (const auto& w : r.warnings) out << "    Prometheus warning: " << w << "\n";
  }
  if (!report.decisions.empty()) {
    const Decision& d = report.decisions.front();
    out << "earliest decision: " << decision_kind_name(d.kind) << " by rule " << d.rule << " at "
        << to_rfc3339(d.decided_at);
    if (d.first_breach) {
      out << " (first breach " << to_rfc3339(*d.first_breach) << ", "
          << seconds_text(std::chrono::duration<double>(d.decided_at - *d.first_breach).count()) << " before)";
    }
    out << "\n";
  }
  if (report.latched_at) {
    out << "deployment " << deployment_state_name(report.final_state) << " at " << to_rfc3339(*report.latched_at)
        << ": later firing rules decide nothing (the latch, as live)\n";
  }
  if (report.off_grid_samples > 0) {
    out << "warning: " << report.off_grid_samples
        << " sample(s) were not on the evaluation grid and were not used (the server moved the grid: "
           "VictoriaMetrics aligns start to a multiple of step; pick --start on such a multiple)\n";
  }
  return out.str();
}

}  // namespace rs::sidecar
