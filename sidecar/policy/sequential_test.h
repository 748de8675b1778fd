// Anytime-valid canary-vs-baseline tests on counters (`test: {type: sequential-binomial |
// sequential-histogram}`). Pure: the caller passes the counters' current values each evaluation.
//
// Method (docs/judging.md): Lindon, Sanden, Shirikian, "Rapid Regression Detection in Software
// Deployments through Sequential Testing", KDD 2022, and Lindon & Malek, "Anytime-Valid Inference
// for Multinomial Count Data", NeurIPS 2022 (Netflix Tech Blog, "Sequential Testing Keeps the
// World Streaming Netflix, Part 2: Counting Processes", 2024).
// Model: in each evaluation interval i the canary serves a_i requests and the baseline b_i; their
// errors are Poisson with means p_c*a_i and p_b*b_i (rare errors). Given the interval's total
// errors s_i, the canary's x_i of them are Binomial(s_i, theta_i(rho)) with
//   theta_i(rho) = rho*a_i / (rho*a_i + b_i),   rho = p_c / p_b (the error-rate ratio),
// whatever the traffic split or its changes. The likelihood L(rho) = prod_i theta_i^x_i
// (1-theta_i)^(s_i-x_i) is kept on a fixed grid of log(rho) (kGridPoints values: the state).
// - fail (roll back): H0: rho <= rho0 (rho0 = max_ratio). The e-value
//     E_t = sum_{j: rho_j > rho0} w_j L_t(rho_j) / L_t(rho0)
//   (w: a discrete half-normal prior on log(rho/rho0), sd kPriorSd, over grid points above rho0)
//   is a nonnegative supermartingale under every rho <= rho0 (each factor's expectation is
//   linear and increasing in the true theta, and 1 at theta(rho0)), so by Ville's inequality
//   P(E_t >= 1/alpha at any t) <= alpha: the chance of ever rolling back a canary that is not
//   worse than rho0 is at most alpha, however long and often it is looked at. With binomial
//   (not Poisson) errors at equal rates the conditional law is hypergeometric, which Hoeffding
//   (1963, Thm 4) shows is dominated in convex order by the binomial: still a supermartingale.
// - pass: the anytime-valid confidence sequence CS_t = {rho : M_t(rho) < 1/alpha}, with
//   M_t(rho) = sum_j v_j L_t(rho_j) / L_t(rho) (v: discrete normal prior on log rho, sd
//   kPriorSd), covers the true rho at all times with probability >= 1 - alpha; it is an interval
//   (L is log-concave in log rho), widened here to the neighbouring grid points. The test passes
//   once its upper end is below pass_ratio.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rs::sidecar {

struct SequentialTestSpec {
  double false_rollback_rate = 0.01;  // alpha, in (0, 0.5]
  double max_ratio = 1.0;             // rho0: fail only when canary's error rate > max_ratio x baseline's; [1, 16]
  double pass_ratio = 1.5;            // pass once the CS is below this ratio; > max_ratio
  // sequential-histogram only: the latency bound (seconds), the `le` of the bucket counters given.
  double latency_bound = 0;
};
// Empty when valid, else what is wrong ("false_rollback_rate 0.7 must be in (0, 0.5]").
std::string validate(const SequentialTestSpec& spec);

// The four counters, as queried at one evaluation (cumulative; resets are handled).
struct BinomialCounters {
  double canary_errors = 0;
  double canary_total = 0;
  double baseline_errors = 0;
  double baseline_total = 0;
};

enum class SequentialVerdict { kInsufficient, kUndecided, kPass, kFail };
const char* sequential_verdict_name(SequentialVerdict v);  // "insufficient" | "undecided" | "pass" | "fail"

// What update() returns. On bad data `error` names the problem, the state is unchanged, and
// `verdict` repeats the last verdict (bad data never decides). The evidence is evidence().
struct SequentialOutcome {
  std::string error;  // "" when the counters were used
  SequentialVerdict verdict = SequentialVerdict::kInsufficient;
};

// The serialisable state (persist it with the deployment's state; restore after a restart).
struct SequentialTestState {
  int version = 1;
  bool started = false;
  std::array<double, 4> last{};     // counters last seen: canary errors, canary total, baseline errors, baseline total
  std::array<double, 4> carry{};    // increments waiting for an interval with exposure on both sides
  std::array<double, 4> counted{};  // increments used since the start (events in the test)
  std::vector<double> log_lik;      // log L(rho_j) on the grid (kGridPoints values)
  double log_lik_null = 0;          // log L(max_ratio)
  double max_ratio = 1.0;           // the rho0 log_lik_null belongs to
  int resets = 0;                   // counter resets seen
  bool failed = false;              // latched: the e-value reached 1/alpha
  bool passed = false;              // latched: the CS went below pass_ratio
};
nlohmann::json to_json(const SequentialTestState& s);
// Strict: every field present and well-formed; names the bad field in *error.
bool sequential_state_from_json(const nlohmann::json& j, SequentialTestState* out, std::string* error);

// Contract:
// - The first update() sets the counters' zero point (events before it are not counted).
// - Each later update() adds the increments since the previous one. A counter that decreased was
//   reset (its process restarted): its increment is its new value, as Prometheus's increase().
// - Bad data -> error naming the problem, state unchanged: NaN or infinite, negative, not an
//   integer, errors > total (for canary or baseline).
// - An interval whose errors have no exposure (errors rose on a side whose total did not) is
//   carried into the next interval rather than judged.
// - verdict: fail (latched) once the e-value >= 1/alpha; else pass (latched) once the CS's upper
//   end < pass_ratio; else insufficient until the test first has as many error events as the
//   fewest with which it could fail at the traffic split so far (evidence "events_needed"; no
//   traffic on one side: insufficient); else undecided.
class SequentialBinomialTest {
 public:
  static constexpr int kGridHalf = 72;                       // grid: log rho = k * step, |k| <= kGridHalf
  static constexpr int kGridPoints = 2 * kGridHalf + 1;      // rho from 1/64 to 64
  static constexpr double kGridStep = 0.057762265046662105;  // ln(2)/12: rho steps of 5.9%
  static constexpr double kPriorSd = 1.0;                    // prior sd of log rho (and of log(rho/rho0))

  // `spec` must be valid (validate()).
  explicit SequentialBinomialTest(const SequentialTestSpec& spec);
  // Restores persisted state; false (and *error) when it is malformed or belongs to another
  // max_ratio.
  bool restore(const SequentialTestState& state, std::string* error);

  SequentialOutcome update(const BinomialCounters& counters);

  SequentialVerdict verdict() const;
  // {verdict, e_value, log_e_value, threshold (1/alpha), canary_errors, canary_total,
  //  baseline_errors, baseline_total (counted since the start), ratio (estimated
  //  (canary errors/total)/(baseline errors/total), null when undefined), ratio_mle (grid),
  //  ci_low, ci_high (anytime-valid, null when unbounded), max_ratio, pass_ratio,
  //  false_rollback_rate, events, events_needed, resets}
  nlohmann::json evidence() const;
  double log_e_value() const;
  // The anytime-valid interval for rho; nullopt ends are unbounded (beyond the grid).
  std::pair<std::optional<double>, std::optional<double>> confidence_interval() const;
  const SequentialTestState& state() const { return state_; }
  const SequentialTestSpec& spec() const { return spec_; }

 private:
  void add_interval(double a, double b, double x, double y);
  long compute_events_needed() const;
  // Latches fail/pass when the likelihood changed; recomputes events_needed_ until the test
  // first had the events it needs (from then on it is no longer insufficient).
  void refresh(bool likelihood_changed);

  long events_needed_ = -1;  // derived from state_ (not persisted)
  bool sufficient_ = false;  // derived from state_ (not persisted)

  SequentialTestSpec spec_;
  std::vector<double> log_w_fail_;  // log prior weight per grid point (-inf outside the alternative)
  std::vector<double> log_w_cs_;
  SequentialTestState state_;
};

// Histogram counters for `sequential-histogram`: the cumulative count of requests at or under the
// latency bound (the bucket `le`=bound) and of all requests (`_count`), canary and baseline.
struct HistogramCounters {
  double canary_within = 0;
  double canary_count = 0;
  double baseline_within = 0;
  double baseline_count = 0;
};

// The fraction of requests slower than `latency_bound`: a slow request is the "error" of
// SequentialBinomialTest (slow = count - within), with the same guarantees and evidence (plus
// "latency_bound"). Bad data also: within > count.
class SequentialHistogramTest {
 public:
  explicit SequentialHistogramTest(const SequentialTestSpec& spec) : test_(spec) {}
  bool restore(const SequentialTestState& state, std::string* error) { return test_.restore(state, error); }
  SequentialOutcome update(const HistogramCounters& counters);
  SequentialVerdict verdict() const { return test_.verdict(); }
  nlohmann::json evidence() const;
  const SequentialTestState& state() const { return test_.state(); }

 private:
  SequentialBinomialTest test_;
};

}  // namespace rs::sidecar
