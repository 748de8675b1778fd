#include "sidecar/policy/judges.h"

#include <cmath>

#include "sidecar/policy/decision.h"

namespace rs::sidecar {

namespace {

nlohmann::json num(double v) {
  if (std::isfinite(v)) return v;
  return format_value(v);  // "+Inf", "-Inf", "NaN": JSON has no such numbers
}

Judgement make(Judgement::Kind kind, std::string reason, nlohmann::json evidence = nlohmann::json::object()) {
  Judgement j;
  j.kind = kind;
  j.reason = std::move(reason);
  j.evidence = std::move(evidence);
  return j;
}

Judgement from_problem(const Observation& o, const std::string& what) {
  if (o.kind == Observation::Kind::kError) {
    Judgement j = make(Judgement::Kind::kError, what + " query failed: " + o.error_reason + ": " + o.error_message);
    j.error_reason = o.error_reason;
    return j;
  }
  return make(Judgement::Kind::kNoData,
              what + " query: " + (o.error_message.empty() ? std::string("no data") : o.error_message));
}

}  // namespace

const char* judgement_name(Judgement::Kind k) {
  switch (k) {
    case Judgement::Kind::kOk: return "ok";
    case Judgement::Kind::kBreach: return "breach";
    case Judgement::Kind::kNoData: return "nodata";
    case Judgement::Kind::kInsufficient: return "insufficient";
    case Judgement::Kind::kError: return "error";
  }
  return "?";
}

Observation Judgement::to_observation() const {
  nlohmann::json ev = evidence;
  if (ev.is_object()) {
    if (!ev.contains("verdict")) ev["verdict"] = judgement_name(kind);
    ev["reason"] = reason;
  }
  switch (kind) {
    case Kind::kOk:
    case Kind::kBreach: return Observation::judged(value.value_or(std::nan("")), kind == Kind::kBreach, std::move(ev));
    case Kind::kNoData: {
      Observation o = Observation::no_data(reason);
      o.evidence = std::move(ev);
      return o;
    }
    case Kind::kInsufficient: return Observation::insufficient(reason, std::move(ev));
    case Kind::kError: {
      Observation o = Observation::error(error_reason.empty() ? "judge" : error_reason, reason);
      o.evidence = std::move(ev);
      return o;
    }
  }
  return Observation::no_data(reason);
}

Judgement judge_threshold(const Observation& value, Comparison comparison, double threshold) {
  if (value.kind == Observation::Kind::kInsufficient) return make(Judgement::Kind::kInsufficient, value.error_message);
  if (value.kind != Observation::Kind::kValue) return from_problem(value, "value");
  const bool breach = breaches(comparison, value.value, threshold);
  Judgement j =
      make(breach ? Judgement::Kind::kBreach : Judgement::Kind::kOk,
           format_value(value.value) + (breach ? " is " : " is not ") + comparison_name(comparison) + " " +
               format_value(threshold),
           {{"value", num(value.value)}, {"threshold", num(threshold)}, {"comparison", comparison_name(comparison)}});
  j.value = value.value;
  return j;
}

Judgement judge_min_samples(const Observation& samples, const MinSamplesSpec& spec) {
  if (samples.kind == Observation::Kind::kError) return from_problem(samples, "min_samples");
  double n = samples.kind == Observation::Kind::kValue && !std::isnan(samples.value) ? samples.value : 0.0;
  nlohmann::json ev = {{"samples", num(n)}, {"at_least", num(spec.at_least)}};
  if (samples.kind != Observation::Kind::kValue) ev["samples_query"] = "no data (counted as 0)";
  if (n >= spec.at_least) return make(Judgement::Kind::kOk, "enough samples", std::move(ev));
  return make(Judgement::Kind::kInsufficient,
              "insufficient: " + format_value(n) + " samples, fewer than min_samples " + format_value(spec.at_least),
              std::move(ev));
}

Judgement judge_baseline(const Observation& canary, const Observation& baseline, Comparison comparison,
                         const BaselineSpec& spec, std::optional<double> threshold) {
  // Errors first (never healthy), then no data: either side missing means no comparison.
  if (canary.kind == Observation::Kind::kError) return from_problem(canary, "canary");
  if (baseline.kind == Observation::Kind::kError) return from_problem(baseline, "baseline");
  if (canary.kind != Observation::Kind::kValue) return from_problem(canary, "canary");
  if (baseline.kind != Observation::Kind::kValue) return from_problem(baseline, "baseline");
  const double c = canary.value, b = baseline.value;
  if (c < 0 || b < 0) {
    Judgement j = make(Judgement::Kind::kError, std::string(c < 0 ? "canary" : "baseline") + " value " +
                                                    format_value(c < 0 ? c : b) +
                                                    " is negative; a baseline comparison needs values >= 0");
    j.error_reason = "bad_value";
    return j;
  }
  const bool above = comparison == Comparison::kAbove;
  const bool ratio_held = above ? c > b * spec.max_ratio : c * spec.max_ratio < b;
  const double difference = above ? c - b : b - c;  // how much worse the canary is
  const bool difference_held = difference > spec.min_difference;
  const bool threshold_held = !threshold || (above ? c > *threshold : c < *threshold);
  const bool breach = ratio_held && difference_held && threshold_held;
  nlohmann::json ev = {{"canary", num(c)},
                       {"baseline", num(b)},
                       {"ratio", b > 0 ? num(c / b) : nlohmann::json(nullptr)},
                       {"difference", num(difference)},
                       {"comparison", comparison_name(comparison)},
                       {"max_ratio", num(spec.max_ratio)},
                       {"min_difference", num(spec.min_difference)},
                       {"ratio_exceeded", ratio_held},
                       {"difference_exceeded", difference_held}};
  if (threshold) {
    ev["threshold"] = num(*threshold);
    ev["threshold_crossed"] = threshold_held;
  }
  std::string reason = "canary " + format_value(c) + " vs baseline " + format_value(b) + ": ";
  if (breach)
    reason += std::string("worse by more than x") + format_value(spec.max_ratio) + " and " +
              format_value(spec.min_difference);
  else if (!ratio_held)
    reason += "within x" + format_value(spec.max_ratio);
  else if (!difference_held)
    reason += "within " + format_value(spec.min_difference);
  else
    reason += "threshold " + format_value(*threshold) + " not crossed";
  Judgement j = make(breach ? Judgement::Kind::kBreach : Judgement::Kind::kOk, std::move(reason), std::move(ev));
  j.value = c;
  return j;
}

Judgement apply_min_samples(const Judgement& guard, Judgement main) {
  if (guard.kind == Judgement::Kind::kError || guard.kind == Judgement::Kind::kInsufficient ||
      guard.kind == Judgement::Kind::kNoData) {
    Judgement j = guard;
    if (j.kind == Judgement::Kind::kNoData) j.kind = Judgement::Kind::kInsufficient;
    j.value = main.value;
    j.evidence = {{"min_samples", guard.evidence}, {"would_have_been", judgement_name(main.kind)}};
    return j;
  }
  if (!main.evidence.is_object()) main.evidence = nlohmann::json::object();
  main.evidence["min_samples"] = guard.evidence;
  return main;
}

}  // namespace rs::sidecar
