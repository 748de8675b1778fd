// Prints, as one JSON object per line, fixed inputs fed to SequentialBinomialTest and what it
// said after each update, for check_sequential.py to recompute independently with scipy.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <nlohmann/json.hpp>

#include "sidecar/policy/sequential_test.h"

using namespace rs::sidecar;

namespace {

struct Case {
  std::string name;
  SequentialTestSpec spec;
  std::vector<BinomialCounters> counters;
};

// Cumulative counters from a simulated deployment: Poisson arrivals, binomial errors.
std::vector<BinomialCounters> simulate(std::uint64_t seed, int steps, double canary_rate, double baseline_rate,
                                       double canary_p, double baseline_p, int reset_at = -1, int ramp_at = -1) {
  std::mt19937_64 rng(seed);
  BinomialCounters c{3, 100, 50, 5000};
  std::vector<BinomialCounters> out{c};
  for (int i = 1; i <= steps; ++i) {
    double rate = ramp_at >= 0 && i >= ramp_at ? canary_rate * 4 : canary_rate;  // promotion step: more canary traffic
    long n = std::poisson_distribution<long>(rate)(rng), m = std::poisson_distribution<long>(baseline_rate)(rng);
    long e = std::binomial_distribution<long>(n, canary_p)(rng),
         f = std::binomial_distribution<long>(m, baseline_p)(rng);
    if (i == reset_at) c.canary_errors = c.canary_total = 0;  // the canary restarted
    c.canary_errors += e;
    c.canary_total += n;
    c.baseline_errors += f;
    c.baseline_total += m;
    out.push_back(c);
  }
  return out;
}

nlohmann::json opt(const nlohmann::json& v) { return v; }

}  // namespace

int main() {
  std::vector<Case> cases;
  SequentialTestSpec base;
  cases.push_back({"healthy-10rps", base, simulate(1, 120, 50, 450, 0.01, 0.01)});
  cases.push_back({"bad-3x-10rps", base, simulate(2, 120, 50, 450, 0.03, 0.01)});
  cases.push_back({"bad-2x-1rps-reset", base, simulate(3, 200, 5, 45, 0.02, 0.01, 60)});
  cases.push_back({"ramp-healthy-100rps", base, simulate(4, 100, 500, 4500, 0.01, 0.01, -1, 40)});
  SequentialTestSpec loose;
  loose.false_rollback_rate = 0.05;
  loose.max_ratio = 1.2;
  loose.pass_ratio = 2.0;
  cases.push_back({"alpha5-max1.2-bad-1.5x", loose, simulate(5, 150, 50, 450, 0.015, 0.01)});
  // Hand-made: skew (errors without exposure), bad data, no baseline errors.
  cases.push_back({"skew-and-bad-data",
                   base,
                   {{0, 100, 0, 900},
                    {2, 100, 3, 1800},
                    {4, 200, 12, 2700},
                    {4.5, 300, 12, 3600},
                    {9, 300, 12, 3600},
                    {10, 400, 12, 4500},
                    {20, 500, 12, 5400},
                    {30, 600, 13, 6300}}});
  for (const auto& c : cases) {
    SequentialBinomialTest t(c.spec);
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& k : c.counters) {
      SequentialOutcome out = t.update(k);
      nlohmann::json e = t.evidence();
      steps.push_back(
          {{"counters", {k.canary_errors, k.canary_total, k.baseline_errors, k.baseline_total}},
           {"error", out.error},
           {"verdict", sequential_verdict_name(out.verdict)},
           {"log_e", e["log_e_value"]},
           {"ci_low", e["ci_low"]},
           {"ci_high", e["ci_high"]},
           {"events_needed", e["events_needed"]},
           {"counted", {e["canary_errors"], e["canary_total"], e["baseline_errors"], e["baseline_total"]}}});
    }
    nlohmann::json line = {
        {"case", c.name},
        {"spec",
         {{"alpha", c.spec.false_rollback_rate}, {"max_ratio", c.spec.max_ratio}, {"pass_ratio", c.spec.pass_ratio}}},
        {"steps", steps}};
    std::printf("%s\n", line.dump().c_str());
  }
  return 0;
}
