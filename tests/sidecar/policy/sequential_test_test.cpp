// SequentialBinomialTest / SequentialHistogramTest: bad data, counter resets, restore, evidence,
// and the statistical claims over thousands of simulated deployments with fixed seeds (so the
// bounds cannot flake): false rollbacks stay within alpha; real regressions are found.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "sidecar/policy/sequential_test.h"

namespace rs::sidecar {
namespace {

SequentialTestSpec spec(double alpha = 0.01, double max_ratio = 1.0) {
  SequentialTestSpec s;
  s.false_rollback_rate = alpha;
  s.max_ratio = max_ratio;
  return s;
}

TEST(SequentialTestSpec, ValidatesItsNumbers) {
  EXPECT_EQ(validate(spec()), "");
  EXPECT_NE(validate(spec(0)).find("false_rollback_rate 0 must be in (0, 0.5]"), std::string::npos);
  EXPECT_NE(validate(spec(0.7)).find("false_rollback_rate"), std::string::npos);
  EXPECT_NE(validate(spec(0.01, 0.5)).find("max_ratio 0.5 must be in [1, 16]"), std::string::npos);
  SequentialTestSpec s = spec();
  s.pass_ratio = 1.0;
  EXPECT_NE(validate(s).find("pass_ratio 1 must be above max_ratio"), std::string::npos) << validate(s);
}

struct BadCase {
  std::string name;
  BinomialCounters counters;
  std::string error_has;
};

class BadData : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadData, IsAnErrorNamingTheProblemNeverADecision) {
  const auto& c = GetParam();
  SequentialBinomialTest t(spec());
  ASSERT_EQ(t.update({0, 100, 0, 900}).error, "");
  const auto before = to_json(t.state());
  SequentialOutcome out = t.update(c.counters);
  EXPECT_NE(out.error.find(c.error_has), std::string::npos) << out.error;
  EXPECT_EQ(out.verdict, SequentialVerdict::kInsufficient);
  EXPECT_EQ(to_json(t.state()), before) << "bad data must not change the state";
}

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

INSTANTIATE_TEST_SUITE_P(
    Rows, BadData,
    ::testing::Values(
        BadCase{"NaN", {kNaN, 200, 0, 1800}, "canary errors is NaN"},
        BadCase{"Infinite", {1, 200, 0, kInf}, "baseline total is infinite"},
        BadCase{"Negative", {1, 200, -3, 1800}, "baseline errors is negative (-3)"},
        BadCase{"NotAWholeNumber", {1.5, 200, 0, 1800}, "canary errors is not a whole number (1.5)"},
        BadCase{"CanaryErrorsAboveTotal", {201, 200, 0, 1800}, "canary errors (201) exceed canary total (200)"},
        BadCase{
            "BaselineErrorsAboveTotal", {0, 200, 1801, 1800}, "baseline errors (1801) exceed baseline total (1800)"}),
    [](const ::testing::TestParamInfo<BadCase>& row) { return row.param.name; });

// Feeds cumulative counters built from per-interval increments.
struct Feed {
  BinomialCounters c{0, 0, 0, 0};
  void add(double ce, double cn, double be, double bn) {
    c.canary_errors += ce;
    c.canary_total += cn;
    c.baseline_errors += be;
    c.baseline_total += bn;
  }
};

TEST(SequentialBinomial, TheFirstUpdateIsTheZeroPoint) {
  SequentialBinomialTest t(spec());
  EXPECT_EQ(t.update({50, 1000, 500, 90000}).verdict, SequentialVerdict::kInsufficient);
  auto e = t.evidence();
  EXPECT_EQ(e["canary_errors"], 0.0);
  EXPECT_EQ(e["baseline_total"], 0.0);
  t.update({52, 1100, 509, 90900});
  e = t.evidence();
  EXPECT_EQ(e["canary_errors"], 2.0);
  EXPECT_EQ(e["canary_total"], 100.0);
  EXPECT_EQ(e["baseline_errors"], 9.0);
  EXPECT_EQ(e["baseline_total"], 900.0);
}

TEST(SequentialBinomial, ACounterResetContinuesFromTheNewValueAsIncreaseDoes) {
  SequentialBinomialTest t(spec());
  t.update({10, 1000, 100, 9000});
  t.update({12, 1100, 109, 9900});  // +2/+100, +9/+900
  t.update({1, 40, 118, 10800});    // canary restarted: +1/+40; baseline +9/+900
  auto e = t.evidence();
  EXPECT_EQ(e["canary_errors"], 3.0);
  EXPECT_EQ(e["canary_total"], 140.0);
  EXPECT_EQ(e["baseline_errors"], 18.0);
  EXPECT_EQ(e["baseline_total"], 1800.0);
  EXPECT_EQ(e["resets"], 2);  // both canary counters went down
  t.update({3, 140, 127, 11700});
  e = t.evidence();
  EXPECT_EQ(e["canary_errors"], 5.0);
  EXPECT_EQ(e["canary_total"], 240.0);
}

TEST(SequentialBinomial, ErrorsWithoutExposureWaitForTheNextInterval) {
  SequentialBinomialTest t(spec());
  t.update({0, 100, 0, 900});
  t.update({3, 100, 5, 1800});  // canary errors rose but its total did not (scrape skew)
  auto e = t.evidence();
  EXPECT_EQ(e["events"], 0.0);
  t.update({3, 200, 14, 2700});
  e = t.evidence();
  EXPECT_EQ(e["canary_errors"], 3.0);
  EXPECT_EQ(e["canary_total"], 100.0);
  EXPECT_EQ(e["baseline_errors"], 14.0);
  EXPECT_EQ(e["baseline_total"], 1800.0);
}

TEST(SequentialBinomial, FailsOnAClearRegressionWithItsEvidence) {
  SequentialBinomialTest t(spec());
  Feed f;
  t.update(f.c);
  SequentialVerdict v = SequentialVerdict::kInsufficient;
  int steps = 0;
  while (v != SequentialVerdict::kFail && steps < 100) {
    f.add(5, 100, 9, 900);  // canary 5%, baseline 1%
    v = t.update(f.c).verdict;
    ++steps;
  }
  EXPECT_EQ(v, SequentialVerdict::kFail);
  EXPECT_LE(steps, 5);
  auto e = t.evidence();
  EXPECT_GE(e["e_value"].get<double>(), 100.0);
  EXPECT_EQ(e["threshold"], 100.0);
  EXPECT_NEAR(e["ratio"].get<double>(), 5.0, 1e-9);
  ASSERT_TRUE(e["ci_high"].is_number()) << e.dump();
  EXPECT_GT(e["ci_high"].get<double>(), 5.0) << e.dump();
  EXPECT_EQ(e["verdict"], "fail");
  // Latched: a stream of good data afterwards does not undo a rollback decision.
  for (int i = 0; i < 50; ++i) {
    f.add(0, 100, 9, 900);
    v = t.update(f.c).verdict;
  }
  EXPECT_EQ(v, SequentialVerdict::kFail);
}

TEST(SequentialBinomial, PassesWhenTheIntervalIsBelowPassRatio) {
  SequentialBinomialTest t(spec());
  Feed f;
  t.update(f.c);
  SequentialVerdict v = SequentialVerdict::kInsufficient;
  for (int i = 0; i < 400 && v != SequentialVerdict::kPass; ++i) {
    f.add(10, 1000, 90, 9000);  // identical 1% error rates
    v = t.update(f.c).verdict;
  }
  EXPECT_EQ(v, SequentialVerdict::kPass);
  auto e = t.evidence();
  EXPECT_LT(e["ci_high"].get<double>(), 1.5);
  EXPECT_LT(e["ci_low"].get<double>(), 1.0);
}

TEST(SequentialBinomial, InsufficientUntilItHasTheEventsItNeeds) {
  SequentialBinomialTest t(spec());
  Feed f;
  t.update(f.c);
  f.add(0, 5, 0, 45);  // 1 req/s canary, no errors yet
  EXPECT_EQ(t.update(f.c).verdict, SequentialVerdict::kInsufficient);
  auto e = t.evidence();
  ASSERT_TRUE(e["events_needed"].is_number()) << e.dump();
  const double needed = e["events_needed"].get<double>();
  EXPECT_GE(needed, 2);
  // Every error on the canary: as soon as it has that many it can fail, not before.
  for (int i = 1; i < needed; ++i) {
    f.add(1, 5, 0, 45);
    EXPECT_EQ(t.update(f.c).verdict, SequentialVerdict::kInsufficient) << i;
  }
}

TEST(SequentialBinomial, RestoredStateContinuesExactly) {
  std::mt19937_64 rng(7);
  std::poisson_distribution<int> arrivals(50), base_arrivals(450);
  SequentialBinomialTest a(spec()), b(spec());
  Feed f;
  a.update(f.c);
  for (int i = 0; i < 30; ++i) {
    int n = arrivals(rng), m = base_arrivals(rng);
    f.add(std::binomial_distribution<int>(n, 0.02)(rng), n, std::binomial_distribution<int>(m, 0.01)(rng), m);
    a.update(f.c);
  }
  // Persist and restore through JSON text.
  std::string error;
  SequentialTestState restored;
  ASSERT_TRUE(sequential_state_from_json(nlohmann::json::parse(to_json(a.state()).dump()), &restored, &error)) << error;
  ASSERT_TRUE(b.restore(restored, &error)) << error;
  EXPECT_EQ(a.evidence(), b.evidence());
  for (int i = 0; i < 30; ++i) {
    int n = arrivals(rng), m = base_arrivals(rng);
    f.add(std::binomial_distribution<int>(n, 0.02)(rng), n, std::binomial_distribution<int>(m, 0.01)(rng), m);
    EXPECT_EQ(a.update(f.c).verdict, b.update(f.c).verdict);
  }
  EXPECT_EQ(a.evidence(), b.evidence());
}

TEST(SequentialBinomial, RestoreRejectsMalformedOrForeignState) {
  SequentialBinomialTest t(spec());
  std::string error;
  SequentialTestState s = t.state();
  s.log_lik.pop_back();
  EXPECT_FALSE(t.restore(s, &error));
  EXPECT_NE(error.find("log_lik has 144 values, expected 145"), std::string::npos) << error;
  SequentialBinomialTest other(spec(0.01, 1.2));
  EXPECT_FALSE(other.restore(t.state(), &error));
  EXPECT_NE(error.find("max_ratio 1"), std::string::npos) << error;
  SequentialTestState parsed;
  nlohmann::json j = to_json(t.state());
  j.erase("counted");
  EXPECT_FALSE(sequential_state_from_json(j, &parsed, &error));
  EXPECT_NE(error.find("counted: missing"), std::string::npos) << error;
  j = to_json(t.state());
  j["failed"] = "yes";
  EXPECT_FALSE(sequential_state_from_json(j, &parsed, &error));
  EXPECT_NE(error.find("failed: expected true or false"), std::string::npos) << error;
}

TEST(SequentialHistogram, SlowRequestsAreTheEvents) {
  SequentialTestSpec s = spec();
  s.latency_bound = 0.25;
  SequentialHistogramTest t(s);
  HistogramCounters c{0, 0, 0, 0};
  t.update(c);
  SequentialVerdict v = SequentialVerdict::kInsufficient;
  for (int i = 0; i < 20 && v != SequentialVerdict::kFail; ++i) {
    c.canary_within += 90;  // 10% slow on the canary
    c.canary_count += 100;
    c.baseline_within += 891;  // 1% slow on the baseline
    c.baseline_count += 900;
    v = t.update(c).verdict;
  }
  EXPECT_EQ(v, SequentialVerdict::kFail);
  auto e = t.evidence();
  EXPECT_EQ(e["test"], "sequential-histogram");
  EXPECT_EQ(e["latency_bound"], 0.25);
  EXPECT_GT(e["canary_slow"].get<double>(), 0);
  SequentialOutcome bad = t.update({101, 100, 0, 900});
  EXPECT_NE(bad.error.find("canary requests within the latency bound (101) exceed all its requests (100)"),
            std::string::npos)
      << bad.error;
  SequentialOutcome neg = t.update({-1, 1e6, 1e7, 1e7});
  EXPECT_NE(neg.error.find("canary slow requests"), std::string::npos) << neg.error;
}

// One simulated deployment: Poisson request arrivals, binomial errors, evaluation every 5 s.
// Returns the evaluation index of the fail verdict, or -1.
int simulate(std::mt19937_64& rng, const SequentialTestSpec& s, double canary_rps, double baseline_rps, double canary_p,
             double baseline_p, int evaluations) {
  SequentialBinomialTest t(s);
  std::poisson_distribution<long> ca(canary_rps * 5), ba(baseline_rps * 5);
  Feed f;
  t.update(f.c);
  for (int i = 1; i <= evaluations; ++i) {
    long n = ca(rng), m = ba(rng);
    f.add(static_cast<double>(std::binomial_distribution<long>(n, canary_p)(rng)), static_cast<double>(n),
          static_cast<double>(std::binomial_distribution<long>(m, baseline_p)(rng)), static_cast<double>(m));
    if (t.update(f.c).verdict == SequentialVerdict::kFail) return i;
  }
  return -1;
}

struct FalseRollbackCase {
  std::string name;
  double alpha;
  double canary_rps;
  double canary_p;  // <= baseline's 1%: healthy
  int runs;
};

class FalseRollbacks : public ::testing::TestWithParam<FalseRollbackCase> {};

// Ville's inequality: P(ever fail | canary not worse) <= alpha. Measured over `runs` healthy
// 30-minute deployments (360 looks each) with a fixed seed; the bound allows 4 standard errors of
// the estimate, and the seed is fixed, so the test is deterministic.
TEST_P(FalseRollbacks, StayWithinTheFalseRollbackRate) {
  const auto& c = GetParam();
  std::mt19937_64 rng(20240521);
  int fails = 0;
  for (int r = 0; r < c.runs; ++r)
    if (simulate(rng, spec(c.alpha), c.canary_rps, c.canary_rps * 9, c.canary_p, 0.01, 360) >= 0) ++fails;
  const double rate = static_cast<double>(fails) / c.runs;
  const double se = std::sqrt(c.alpha * (1 - c.alpha) / c.runs);
  RecordProperty("false_rollbacks", fails);
  std::printf("[ stats    ] %s: %d of %d healthy runs rolled back (%.4f; alpha %.3f, bound %.4f)\n", c.name.c_str(),
              fails, c.runs, rate, c.alpha, c.alpha + 4 * se);
  EXPECT_LE(rate, c.alpha + 4 * se);
}

INSTANTIATE_TEST_SUITE_P(Healthy, FalseRollbacks,
                         ::testing::Values(FalseRollbackCase{"Alpha5pc10rps", 0.05, 10, 0.01, 2000},
                                           FalseRollbackCase{"Alpha1pc10rps", 0.01, 10, 0.01, 2000},
                                           FalseRollbackCase{"Alpha5pc1rps", 0.05, 1, 0.01, 2000},
                                           FalseRollbackCase{"Alpha1pc1rps", 0.01, 1, 0.01, 2000},
                                           FalseRollbackCase{"Alpha5pc100rps", 0.05, 100, 0.01, 500},
                                           FalseRollbackCase{"Alpha5pcBetterCanary", 0.05, 10, 0.005, 500}),
                         [](const ::testing::TestParamInfo<FalseRollbackCase>& row) { return row.param.name; });

// Power: a 5x regression at 10 req/s is found in (nearly) every run, and fast.
TEST(SequentialBinomialPower, FindsAFiveFoldRegressionQuickly) {
  std::mt19937_64 rng(42);
  std::vector<int> at;
  int missed = 0;
  for (int r = 0; r < 300; ++r) {
    int i = simulate(rng, spec(0.01), 10, 90, 0.05, 0.01, 360);
    if (i < 0)
      ++missed;
    else
      at.push_back(i);
  }
  std::sort(at.begin(), at.end());
  ASSERT_FALSE(at.empty());
  const double median_s = at[at.size() / 2] * 5.0;
  std::printf("[ stats    ] 5x at 10 req/s: median %.0f s, missed %d of 300\n", median_s, missed);
  EXPECT_EQ(missed, 0);
  EXPECT_LT(median_s, 60);
}

}  // namespace
}  // namespace rs::sidecar
