#include "sidecar/policy/sequential_test.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/json_text.h"
#include "sidecar/policy/decision.h"

namespace rs::sidecar {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// log(1 + e^z) without overflow.
double softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

// log(sum(exp(v))) over the finite entries; -inf when there are none.
double log_sum_exp(const std::vector<double>& v) {
  double m = kNegInf;
  for (double x : v) m = std::max(m, x);
  if (!std::isfinite(m)) return m;
  double s = 0;
  for (double x : v)
    if (std::isfinite(x)) s += std::exp(x - m);
  return m + std::log(s);
}

double grid_log_rho(int j) { return (j - SequentialBinomialTest::kGridHalf) * SequentialBinomialTest::kGridStep; }

// Log-likelihood contribution of one interval at log rho = d: x canary errors of x+y with
// theta = rho*a/(rho*a+b); c = log(b/a). a, b > 0.
double interval_log_lik(double d, double c, double x, double y) {
  double ll = 0;
  if (x > 0) ll -= x * softplus(c - d);  // x * log(theta)
  if (y > 0) ll -= y * softplus(d - c);  // y * log(1 - theta)
  return ll;
}

nlohmann::json opt(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

const char* const kCounterNames[4] = {"canary errors", "canary total", "baseline errors", "baseline total"};

}  // namespace

const char* sequential_verdict_name(SequentialVerdict v) {
  switch (v) {
    case SequentialVerdict::kInsufficient: return "insufficient";
    case SequentialVerdict::kUndecided: return "undecided";
    case SequentialVerdict::kPass: return "pass";
    case SequentialVerdict::kFail: return "fail";
  }
  return "?";
}

std::string validate(const SequentialTestSpec& spec) {
  auto fmt = [](double v) { return format_value(v); };
  if (!(spec.false_rollback_rate > 0 && spec.false_rollback_rate <= 0.5))
    return "false_rollback_rate " + fmt(spec.false_rollback_rate) + " must be in (0, 0.5]";
  if (!(spec.max_ratio >= 1 && spec.max_ratio <= 16)) return "max_ratio " + fmt(spec.max_ratio) + " must be in [1, 16]";
  if (!(spec.pass_ratio > spec.max_ratio && spec.pass_ratio <= 32))
    return "pass_ratio " + fmt(spec.pass_ratio) + " must be above max_ratio (" + fmt(spec.max_ratio) +
           ") and at most 32";
  if (!(spec.latency_bound >= 0) || !std::isfinite(spec.latency_bound))
    return "latency_bound " + fmt(spec.latency_bound) + " must be a finite number >= 0";
  return "";
}

SequentialBinomialTest::SequentialBinomialTest(const SequentialTestSpec& spec) : spec_(spec) {
  const double d0 = std::log(spec_.max_ratio);
  log_w_fail_.assign(kGridPoints, kNegInf);
  log_w_cs_.assign(kGridPoints, kNegInf);
  for (int j = 0; j < kGridPoints; ++j) {
    double d = grid_log_rho(j);
    if (d > d0) log_w_fail_[j] = -(d - d0) * (d - d0) / (2 * kPriorSd * kPriorSd);
    log_w_cs_[j] = -d * d / (2 * kPriorSd * kPriorSd);
  }
  double nf = log_sum_exp(log_w_fail_), nc = log_sum_exp(log_w_cs_);
  for (int j = 0; j < kGridPoints; ++j) {
    if (std::isfinite(log_w_fail_[j])) log_w_fail_[j] -= nf;
    log_w_cs_[j] -= nc;
  }
  state_.log_lik.assign(kGridPoints, 0.0);
  state_.max_ratio = spec_.max_ratio;
}

bool SequentialBinomialTest::restore(const SequentialTestState& state, std::string* error) {
  auto fail = [&](const std::string& why) {
    if (error) *error = "sequential test state: " + why;
    return false;
  };
  if (state.version != 1) return fail("unknown version " + std::to_string(state.version));
  if (static_cast<int>(state.log_lik.size()) != kGridPoints)
    return fail("log_lik has " + std::to_string(state.log_lik.size()) + " values, expected " +
                std::to_string(kGridPoints));
  if (state.max_ratio != spec_.max_ratio)
    return fail("it was kept for max_ratio " + format_value(state.max_ratio) + ", the rule now has " +
                format_value(spec_.max_ratio) + " (start a new test)");
  for (double v : state.log_lik)
    if (!std::isfinite(v) || v > 0) return fail("log_lik holds a value that is not a finite log-likelihood");
  if (!std::isfinite(state.log_lik_null) || state.log_lik_null > 0)
    return fail("log_lik_null is not a finite log-likelihood");
  for (int k = 0; k < 4; ++k)
    if (!(state.last[k] >= 0) || !(state.carry[k] >= 0) || !(state.counted[k] >= 0) || !std::isfinite(state.last[k]) ||
        !std::isfinite(state.carry[k]) || !std::isfinite(state.counted[k]))
      return fail(std::string("counts for ") + kCounterNames[k] + " must be finite and >= 0");
  state_ = state;
  sufficient_ = false;
  refresh(true);
  return true;
}

void SequentialBinomialTest::refresh(bool likelihood_changed) {
  if (likelihood_changed && !state_.failed && log_e_value() >= std::log(1 / spec_.false_rollback_rate))
    state_.failed = true;
  if (likelihood_changed && !state_.failed && !state_.passed) {
    auto ci = confidence_interval();
    if (ci.second && *ci.second < spec_.pass_ratio) state_.passed = true;
  }
  if (!sufficient_) {
    events_needed_ = compute_events_needed();
    sufficient_ = events_needed_ >= 0 && state_.counted[0] + state_.counted[2] >= static_cast<double>(events_needed_);
  }
}

void SequentialBinomialTest::add_interval(double a, double b, double x, double y) {
  if (x + y == 0 || a <= 0 || b <= 0) return;  // no errors, or one side idle (then it has no errors): no information
  const double c = std::log(b / a);
  for (int j = 0; j < kGridPoints; ++j) state_.log_lik[j] += interval_log_lik(grid_log_rho(j), c, x, y);
  state_.log_lik_null += interval_log_lik(std::log(spec_.max_ratio), c, x, y);
}

double SequentialBinomialTest::log_e_value() const {
  std::vector<double> terms(kGridPoints);
  for (int j = 0; j < kGridPoints; ++j) terms[j] = log_w_fail_[j] + state_.log_lik[j];
  return log_sum_exp(terms) - state_.log_lik_null;
}

std::pair<std::optional<double>, std::optional<double>> SequentialBinomialTest::confidence_interval() const {
  std::vector<double> terms(kGridPoints);
  for (int j = 0; j < kGridPoints; ++j) terms[j] = log_w_cs_[j] + state_.log_lik[j];
  const double log_mix = log_sum_exp(terms);
  const double bound = std::log(1 / spec_.false_rollback_rate);
  int lo = -1, hi = -1, best = 0;
  for (int j = 0; j < kGridPoints; ++j) {
    if (state_.log_lik[j] > state_.log_lik[best]) best = j;
    if (log_mix - state_.log_lik[j] < bound) {
      if (lo < 0) lo = j;
      hi = j;
    }
  }
  if (lo < 0) lo = hi = best;  // the interval falls between grid points: around the grid maximum
  std::optional<double> low, high;
  if (lo - 1 >= 0) low = std::exp(grid_log_rho(lo - 1));
  if (hi + 1 < kGridPoints) high = std::exp(grid_log_rho(hi + 1));
  return {low, high};
}

long SequentialBinomialTest::compute_events_needed() const {
  const double a = state_.counted[1], b = state_.counted[3];
  if (a <= 0 || b <= 0) return -1;
  const double c = std::log(b / a);
  const double log_theta0 = -softplus(c - std::log(spec_.max_ratio));
  const double bound = std::log(1 / spec_.false_rollback_rate);
  // log E when all of s events are the canary's: increasing in s.
  auto log_e = [&](double s) {
    std::vector<double> t(kGridPoints);
    for (int j = 0; j < kGridPoints; ++j) t[j] = log_w_fail_[j] + s * (-softplus(c - grid_log_rho(j)) - log_theta0);
    return log_sum_exp(t);
  };
  long hi = 1;
  while (log_e(static_cast<double>(hi)) < bound) {
    if (hi > (1L << 30)) return -1;
    hi *= 2;
  }
  long lo = hi / 2;  // log_e(lo) < bound or lo == 0
  while (hi - lo > 1) {
    long mid = lo + (hi - lo) / 2;
    if (log_e(static_cast<double>(mid)) >= bound)
      hi = mid;
    else
      lo = mid;
  }
  return hi;
}

SequentialVerdict SequentialBinomialTest::verdict() const {
  if (state_.failed) return SequentialVerdict::kFail;
  if (state_.passed) return SequentialVerdict::kPass;
  if (!sufficient_) return SequentialVerdict::kInsufficient;
  return SequentialVerdict::kUndecided;
}

SequentialOutcome SequentialBinomialTest::update(const BinomialCounters& counters) {
  const std::array<double, 4> v = {counters.canary_errors, counters.canary_total, counters.baseline_errors,
                                   counters.baseline_total};
  SequentialOutcome out;
  auto bad = [&](const std::string& why) {
    out.error = why;
    out.verdict = verdict();
    return out;
  };
  for (int k = 0; k < 4; ++k) {
    if (std::isnan(v[k])) return bad(std::string(kCounterNames[k]) + " is NaN");
    if (!std::isfinite(v[k])) return bad(std::string(kCounterNames[k]) + " is infinite");
    if (v[k] < 0) return bad(std::string(kCounterNames[k]) + " is negative (" + format_value(v[k]) + ")");
    if (std::floor(v[k]) != v[k])
      return bad(std::string(kCounterNames[k]) + " is not a whole number (" + format_value(v[k]) +
                 "): the test needs raw counter values, not rates or extrapolated increase()");
    if (v[k] > 9007199254740992.0) return bad(std::string(kCounterNames[k]) + " is too large to count exactly");
  }
  if (v[0] > v[1])
    return bad("canary errors (" + format_value(v[0]) + ") exceed canary total (" + format_value(v[1]) + ")");
  if (v[2] > v[3])
    return bad("baseline errors (" + format_value(v[2]) + ") exceed baseline total (" + format_value(v[3]) + ")");

  if (!state_.started) {
    state_.started = true;
    state_.last = v;
  } else {
    std::array<double, 4> inc{};
    for (int k = 0; k < 4; ++k) {
      if (v[k] >= state_.last[k]) {
        inc[k] = v[k] - state_.last[k];
      } else {  // reset: the process restarted from zero
        inc[k] = v[k];
        ++state_.resets;
      }
      inc[k] += state_.carry[k];
    }
    state_.last = v;
    if ((inc[0] > 0 && inc[1] == 0) || (inc[2] > 0 && inc[3] == 0)) {
      state_.carry = inc;  // errors without exposure (scrape skew): judge them with the next interval
    } else {
      state_.carry = {};
      for (int k = 0; k < 4; ++k) state_.counted[k] += inc[k];
      add_interval(inc[1], inc[3], inc[0], inc[2]);
      refresh(inc[0] + inc[2] > 0);
    }
  }
  out.verdict = verdict();
  return out;
}

nlohmann::json SequentialBinomialTest::evidence() const {
  const auto& n = state_.counted;
  std::optional<double> ratio;
  if (n[1] > 0 && n[3] > 0 && n[2] > 0) ratio = (n[0] / n[1]) / (n[2] / n[3]);
  int best = 0;
  for (int j = 1; j < kGridPoints; ++j)
    if (state_.log_lik[j] > state_.log_lik[best]) best = j;
  const bool any_events = n[0] + n[2] > 0;
  auto ci = confidence_interval();
  const double log_e = log_e_value();
  long needed = events_needed_;
  return {{"test", "sequential-binomial"},
          {"verdict", sequential_verdict_name(verdict())},
          {"e_value", std::exp(std::min(log_e, 700.0))},
          {"log_e_value", log_e},
          {"threshold", 1 / spec_.false_rollback_rate},
          {"false_rollback_rate", spec_.false_rollback_rate},
          {"max_ratio", spec_.max_ratio},
          {"pass_ratio", spec_.pass_ratio},
          {"canary_errors", n[0]},
          {"canary_total", n[1]},
          {"baseline_errors", n[2]},
          {"baseline_total", n[3]},
          {"ratio", opt(ratio)},
          {"ratio_mle", any_events ? nlohmann::json(std::exp(grid_log_rho(best))) : nlohmann::json(nullptr)},
          {"ci_low", opt(ci.first)},
          {"ci_high", opt(ci.second)},
          {"events", n[0] + n[2]},
          {"events_needed", needed < 0 ? nlohmann::json(nullptr) : nlohmann::json(needed)},
          {"resets", state_.resets}};
}

SequentialOutcome SequentialHistogramTest::update(const HistogramCounters& c) {
  if (c.canary_within > c.canary_count || c.baseline_within > c.baseline_count) {
    bool canary = c.canary_within > c.canary_count;
    SequentialOutcome out;
    out.error = std::string(canary ? "canary" : "baseline") + " requests within the latency bound (" +
                format_value(canary ? c.canary_within : c.baseline_within) + ") exceed all its requests (" +
                format_value(canary ? c.canary_count : c.baseline_count) + ")";
    out.verdict = test_.verdict();
    return out;
  }
  SequentialOutcome out = test_.update(BinomialCounters{c.canary_count - c.canary_within, c.canary_count,
                                                        c.baseline_count - c.baseline_within, c.baseline_count});
  if (!out.error.empty()) {  // name the histogram's counters, not the derived ones
    for (auto [from, to] :
         {std::pair<std::string, std::string>{"canary errors", "canary slow requests (count - within)"},
          {"baseline errors", "baseline slow requests (count - within)"},
          {"canary total", "canary count"},
          {"baseline total", "baseline count"}}) {
      auto pos = out.error.find(from);
      if (pos != std::string::npos) out.error.replace(pos, from.size(), to);
    }
  }
  return out;
}

nlohmann::json SequentialHistogramTest::evidence() const {
  nlohmann::json e = test_.evidence();
  e["test"] = "sequential-histogram";
  e["latency_bound"] = test_.spec().latency_bound;
  e["canary_slow"] = e["canary_errors"];
  e["baseline_slow"] = e["baseline_errors"];
  return e;
}

nlohmann::json to_json(const SequentialTestState& s) {
  return {{"version", s.version},
          {"started", s.started},
          {"last", s.last},
          {"carry", s.carry},
          {"counted", s.counted},
          {"log_lik", s.log_lik},
          {"log_lik_null", s.log_lik_null},
          {"max_ratio", s.max_ratio},
          {"resets", s.resets},
          {"failed", s.failed},
          {"passed", s.passed}};
}

bool sequential_state_from_json(const nlohmann::json& j, SequentialTestState* out, std::string* error) {
  auto fail = [&](const std::string& field, const std::string& why) {
    if (error) *error = "sequential test state: " + field + ": " + why;
    return false;
  };
  if (!j.is_object()) return fail("(root)", "expected an object");
  SequentialTestState s;
  auto need = [&](const char* k) -> const nlohmann::json* {
    auto it = j.find(k);
    return it == j.end() ? nullptr : &*it;
  };
  auto num = [&](const char* k, double* v) {
    auto p = need(k);
    if (!p) return fail(k, "missing");
    if (!p->is_number()) return fail(k, "expected a number");
    *v = p->get<double>();
    return true;
  };
  auto boolean = [&](const char* k, bool* v) {
    auto p = need(k);
    if (!p) return fail(k, "missing");
    if (!p->is_boolean()) return fail(k, "expected true or false");
    *v = p->get<bool>();
    return true;
  };
  auto integer = [&](const char* k, int* v) {
    auto p = need(k);
    if (!p) return fail(k, "missing");
    if (!common::json_integer(*p, v)) return fail(k, "expected an integer");
    return true;
  };
  auto arr4 = [&](const char* k, std::array<double, 4>* v) {
    auto p = need(k);
    if (!p) return fail(k, "missing");
    if (!p->is_array() || p->size() != 4) return fail(k, "expected 4 numbers");
    for (int i = 0; i < 4; ++i) {
      if (!(*p)[i].is_number()) return fail(k, "expected 4 numbers");
      (*v)[i] = (*p)[i].get<double>();
    }
    return true;
  };
  if (!integer("version", &s.version) || !boolean("started", &s.started) || !arr4("last", &s.last) ||
      !arr4("carry", &s.carry) || !arr4("counted", &s.counted) || !num("log_lik_null", &s.log_lik_null) ||
      !num("max_ratio", &s.max_ratio) || !integer("resets", &s.resets) || !boolean("failed", &s.failed) ||
      !boolean("passed", &s.passed))
    return false;
  auto p = need("log_lik");
  if (!p) return fail("log_lik", "missing");
  if (!p->is_array()) return fail("log_lik", "expected an array of numbers");
  for (const auto& v : *p) {
    if (!v.is_number()) return fail("log_lik", "expected an array of numbers");
    s.log_lik.push_back(v.get<double>());
  }
  *out = std::move(s);
  return true;
}

}  // namespace rs::sidecar
