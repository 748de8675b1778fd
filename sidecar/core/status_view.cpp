#include "sidecar/core/status_view.h"

#include <cmath>

#include "common/duration.h"
#include "common/json_text.h"

namespace rs::sidecar {
namespace {

nlohmann::json time_or_null(const std::optional<WallTime>& t) {
  return t ? nlohmann::json(to_rfc3339(*t)) : nlohmann::json(nullptr);
}

nlohmann::json text_or_null(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

nlohmann::json number_or_null(const std::optional<double>& v) {
  if (!v) return nullptr;
  return std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(format_value(*v));
}

std::optional<double> evidence_number(const nlohmann::json& evidence, const char* key) {
  if (!evidence.is_object()) return std::nullopt;
  auto it = evidence.find(key);
  if (it == evidence.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

nlohmann::json history_json(const std::vector<RulePoint>& points) {
  nlohmann::json t = nlohmann::json::array(), value = nlohmann::json::array(), baseline = nlohmann::json::array(),
                 low = nlohmann::json::array(), high = nlohmann::json::array(), state = nlohmann::json::array();
  for (const auto& p : points) {
    t.push_back(to_unix_seconds(p.at));
    value.push_back(number_or_null(p.value));
    baseline.push_back(number_or_null(p.baseline));
    low.push_back(number_or_null(p.low));
    high.push_back(number_or_null(p.high));
    state.push_back(rule_state_name(p.state));
  }
  return {{"t", t}, {"value", value}, {"baseline", baseline}, {"low", low}, {"high", high}, {"state", state}};
}

}  // namespace

void RuleHistory::add(WallTime at, const RuleStatus& status) {
  if (points_.size() == kCapacity) points_.erase(points_.begin());
  RulePoint p;
  p.at = at;
  p.value = status.value;
  p.baseline = evidence_number(status.evidence, "baseline");
  p.low = evidence_number(status.evidence, "ci_low");
  p.high = evidence_number(status.evidence, "ci_high");
  p.state = status.state;
  points_.push_back(p);
}

nlohmann::json to_json(const RuleView& view) {
  const RuleConfig& r = *view.rule;
  const RuleStatus& s = view.status;
  nlohmann::json value = nullptr;
  if (s.value) value = std::isfinite(*s.value) ? nlohmann::json(*s.value) : nlohmann::json(format_value(*s.value));
  nlohmann::json baseline = nullptr, min_samples = nullptr, samples = nullptr;
  if (r.baseline) {
    baseline = {{"query", r.baseline->query},
                {"max_ratio", r.baseline->max_ratio},
                {"min_difference", r.baseline->min_difference}};
  }
  if (r.min_samples) {
    min_samples = {{"query", r.min_samples->query}, {"at_least", r.min_samples->at_least}};
    // The guard's count as the judge saw it (apply_min_samples files it under "min_samples");
    // none when its query failed.
    const nlohmann::json* guard =
        s.evidence.is_object() && s.evidence.contains("min_samples") ? &s.evidence["min_samples"] : nullptr;
    if (guard && guard->is_object() && guard->contains("samples")) samples = (*guard)["samples"];
  }
  nlohmann::json test = nullptr;
  if (r.test) {
    nlohmann::json queries = nlohmann::json::object();
    for (int i = 0; i < 4; ++i) queries[test_counter_key(r.test->type, i)] = r.test->queries[i];
    test = {{"type", test_type_name(r.test->type)},
            {"false_rollback_rate", r.test->spec.false_rollback_rate},
            {"max_ratio", r.test->spec.max_ratio},
            {"pass_ratio", r.test->spec.pass_ratio},
            {"queries", std::move(queries)}};
    if (r.test->type == TestType::kSequentialHistogram) test["latency_bound"] = r.test->spec.latency_bound;
  }
  nlohmann::json slo = nullptr;
  if (r.slo) {
    nlohmann::json windows = nlohmann::json::array();
    for (const auto& w : r.slo->windows) {
      windows.push_back({{"long", common::format_duration(w.long_window)},
                         {"short", common::format_duration(w.short_window)},
                         {"budget_share", w.budget_share},
                         {"burn_rate", w.burn_rate}});
    }
    slo = {{"objective", r.slo->objective},
           {"period", common::format_duration(r.slo->period)},
           {"windows", std::move(windows)}};
  }
  nlohmann::json window_breached = nullptr, window_datapoints = nullptr;
  if (r.breaches) {
    window_breached = s.window_breached;
    window_datapoints = s.window_datapoints;
  }
  return {{"name", r.name},
          {"query", r.query},
          {"comparison", comparison_name(r.comparison)},
          {"threshold", r.threshold},
          {"for", common::format_duration(r.for_duration)},
          {"breaches", r.breaches ? nlohmann::json(format_breaches(*r.breaches)) : nlohmann::json(nullptr)},
          {"baseline", baseline},
          {"min_samples", min_samples},
          {"test", test},
          {"slo", slo},
          {"delay", common::format_duration(r.delay)},
          {"missing", missing_name(r.missing)},
          {"severity", r.severity},
          {"action", action_name(r.action)},
          {"stage_override", text_or_null(r.stage_override)},
          {"state", rule_state_name(s.state)},
          {"value", value},
          {"breaching", s.breaching},
          {"evidence", s.evidence},
          {"samples", samples},
          {"window_breached", window_breached},
          {"window_datapoints", window_datapoints},
          {"problem", text_or_null(s.last_problem)},
          {"error_reason", text_or_null(s.error_reason)},
          {"pending_since", time_or_null(s.pending_since)},
          {"firing_since", time_or_null(s.firing_since)},
          {"last_evaluated", time_or_null(s.last_evaluated)},
          {"history", history_json(view.history)}};
}

namespace {

nlohmann::json promotion_json(const Config& config, const PromotionView& p) {
  return {{"steps", config.promotion.steps},
          {"step_duration", common::format_duration(config.promotion.step_duration)},
          {"step", p.progress.step + 1},
          {"canary_weight", p.progress.weight < 0 ? nlohmann::json(nullptr) : nlohmann::json(p.progress.weight)},
          {"state", promotion_state_name(p.progress.state)},
          {"window_start", time_or_null(p.window_start)}};
}

}  // namespace

nlohmann::json freeze_to_json(const std::optional<Freeze>& freeze) {
  if (!freeze) return {{"frozen", false}};
  return {{"frozen", true}, {"reason", freeze->reason}, {"actor", freeze->actor}, {"since", to_rfc3339(freeze->since)}};
}

namespace {

nlohmann::json ms_or_null(const std::optional<std::int64_t>& ms) {
  return ms ? nlohmann::json(static_cast<double>(*ms) / 1000.0) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json to_json(const AlignmentView& a) {
  return {
      {"mode", a.scrape ? "scrape" : "fixed"},
      {"state", a.scrape ? alignment_state_name(a.state) : "fixed"},
      {"reason", a.reason},
      {"scrape_interval_seconds", ms_or_null(a.scrape_interval_ms)},
      {"phase_seconds", ms_or_null(a.phase_ms)},
      {"margin_seconds", static_cast<double>(a.margin_ms) / 1000.0},
      {"sample_lag_seconds", a.sample_lag_seconds ? nlohmann::json(*a.sample_lag_seconds) : nlohmann::json(nullptr)},
      {"waits", a.waits},
      {"misses", a.misses},
      {"selectors", a.selectors}};
}

nlohmann::json to_json(const StatusView& view) {
  const Config& config = *view.config;
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& rule : view.rules) rules.push_back(to_json(rule));
  const auto& d = config.deployment;
  nlohmann::json status = {
      {"deployment",
       {{"name", d.name}, {"stage", d.stage}, {"strategy", d.strategy}, {"vars", d.vars}, {"identity", d.identity()}}},
      {"state", deployment_state_name(view.state)},
      {"latched", is_latched(view.state)},
      {"dry_run", config.dry_run},
      {"verification",
       view.verification == Verification::kNone
           ? nlohmann::json(nullptr)
           : nlohmann::json{{"state", verification_name(view.verification)}, {"detail", view.verification_detail}}},
      {"promotion", view.promotion ? promotion_json(config, *view.promotion) : nlohmann::json(nullptr)},
      {"freeze", freeze_to_json(view.freeze)},
      {"ready", view.ready},
      {"evaluation_interval", common::format_duration(config.evaluation_interval)},
      {"evaluations", view.evaluations},
      {"last_evaluation", time_or_null(view.last_evaluation)},
      {"alignment", to_json(view.alignment)},
      {"rules", rules},
      {"last_decision", view.last_decision ? to_json(*view.last_decision) : nlohmann::json(nullptr)}};
  // Rule problems and decision details quote outside text; whoever dumps this must not throw.
  common::make_valid_utf8(&status);
  return status;
}

}  // namespace rs::sidecar
