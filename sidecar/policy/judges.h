// Per-evaluation judges: a value against a threshold, the canary against the stable version
// (`baseline`), and the `min_samples` guard. Pure functions: the values come in, a Judgement with
// its evidence comes out; Judgement::to_observation() feeds RuleTracker (which applies `for` or
// `breaches`, `missing` and `delay`).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sidecar/policy/rule.h"
#include "sidecar/policy/rule_tracker.h"

namespace rs::sidecar {

// MinSamplesSpec and BaselineSpec (the rule keys) are in rule.h, on RuleConfig.

struct Judgement {
  enum class Kind { kOk, kBreach, kNoData, kInsufficient, kError };
  Kind kind = Kind::kNoData;
  std::optional<double> value;  // the canary's value when there was one
  std::string reason;           // one line for humans: why this verdict
  std::string error_reason;     // kError: the failing query's reason ("timeout", "bad_value", ...)
  nlohmann::json evidence;      // object: the inputs and the numbers compared

  // kOk/kBreach -> judged value; kNoData -> no data (the rule's `missing` applies);
  // kInsufficient -> insufficient; kError -> error (held, never healthy, never a breach).
  Observation to_observation() const;
};
const char* judgement_name(Judgement::Kind k);  // "ok" | "breach" | "nodata" | "insufficient" | "error"

// The plain threshold rule. Value -> breach/ok; no data -> kNoData; error -> kError.
Judgement judge_threshold(const Observation& value, Comparison comparison, double threshold);

// The min_samples guard on its own: kOk when `samples` >= at_least. An empty or NaN result counts
// as zero samples (no traffic: Prometheus returns nothing) -> kInsufficient; a query error ->
// kError (sufficiency unknown, so the rule holds).
Judgement judge_min_samples(const Observation& samples, const MinSamplesSpec& spec);

// Canary against baseline. For `above` (higher is worse) the canary breaches only when BOTH
//   canary > baseline * max_ratio   and   canary - baseline > min_difference;
// for `below` (lower is worse) only when BOTH
//   canary * max_ratio < baseline   and   baseline - canary > min_difference.
// `threshold`, when given, must also be crossed (an absolute floor under the comparison).
// Canary or baseline no data -> kNoData (the rule's `missing` applies); either query error ->
// kError; a negative canary or baseline value -> kError "bad_value" (ratios need values >= 0).
// Evidence: canary, baseline, ratio (canary/baseline, null when baseline is 0), difference,
// max_ratio, min_difference, and which conditions held.
Judgement judge_baseline(const Observation& canary, const Observation& baseline, Comparison comparison,
                         const BaselineSpec& spec, std::optional<double> threshold = std::nullopt);

// The error-budget burn of an `slo` rule. `windows[i]` are the error ratios over spec.windows[i]'s
// long and short windows. A pair burns when both ratios exceed its burn_rate x budget; the rule
// breaches when any pair burns. A query error in any window -> kError (held); a pair without data
// in either window does not burn; no data in every window -> kNoData. A negative ratio ->
// kError "bad_value". Value: the first pair's long-window burn rate (ratio / budget). Evidence:
// objective, period, budget, and per pair long, short, budget_share, burn_rate (the threshold),
// long_ratio, short_ratio, long_burn, short_burn, burning.
Judgement judge_burn_rate(const std::vector<std::pair<Observation, Observation>>& windows, const SloSpec& spec);

// A rule's verdict with its guard: a guard error -> kError; a guard kInsufficient ->
// kInsufficient (never a breach, whatever `main` says); otherwise `main`, with the guard's
// evidence added under "min_samples".
Judgement apply_min_samples(const Judgement& guard, Judgement main);

}  // namespace rs::sidecar
