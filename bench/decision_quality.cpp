// Decision quality of the judges, side by side on the same simulated deployments (fixed seeds):
// Poisson request arrivals, binomial errors, one evaluation every 5 s, the canary at 1, 10 and
// 100 req/s next to a baseline (stable) version with 9x the canary's traffic and a 1% error rate.
//   (a) healthy canaries (same 1% error rate), 1 h each: false rollbacks per 100 canary-hours;
//   (b) bad canaries: 2x, 5x or 20x the baseline's error rate from the fault on: time from the
//       fault to the rollback decision (median, p90) and the fraction not rolled back within
//       30 min of the fault. Two tables: the fault present from the canary's start (a bad
//       version), and the fault starting after 5 healthy minutes (a slow leak, a bad dependency).
// Judges (pure sidecar/policy code: RuleJudge + RuleTracker, the classes the engine runs):
//   threshold    error ratio over 1m > 5% for 5m
//   thr+guards   error ratio over 1m > 5%, min_samples 100 requests in the 1m window, breaches "6 of 10"
//   baseline     canary vs baseline error ratio over 1m: max_ratio 2, min_difference 0.01,
//                min_samples 100, for 1m
//   sequential   test: sequential-binomial, false_rollback_rate 0.01 (counters since the start)
// Usage: decision_quality [--healthy-runs N] [--bad-runs N] [--seed S]
// Prints a Markdown table (bench/README.md and docs/judging.md carry a copy).
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/simulated_canary.h"

using namespace rs::bench::sim;

namespace {

struct Healthy {
  std::array<int, kJudges> rollbacks{};
  std::array<double, kJudges> hours{};
};

Healthy run_healthy(double rps, int runs, std::uint64_t seed) {
  Healthy h;
  const int steps = 3600 / kStepSeconds;
  for (int r = 0; r < runs; ++r) {
    World w(seed + static_cast<std::uint64_t>(r) * 7919, rps);
    auto judges = make_judges();
    std::array<bool, kJudges> done{};
    const rs::WallTime t0 = rs::WallTime(std::chrono::hours(480000));
    // The first evaluation is the zero point for counters (sequential) and fills the window.
    w.step(kBaselineP);
    for (int i = 1; i <= steps; ++i) {
      const Snapshot& s = w.step(kBaselineP);
      rs::WallTime now = t0 + std::chrono::seconds(i * kStepSeconds);
      for (int j = 0; j < kJudges; ++j) {
        if (done[j]) continue;
        if (judges[j]->step(s, now)) {
          done[j] = true;
          h.rollbacks[j]++;
          h.hours[j] += i * kStepSeconds / 3600.0;
        }
      }
    }
    for (int j = 0; j < kJudges; ++j)
      if (!done[j]) h.hours[j] += steps * kStepSeconds / 3600.0;
  }
  return h;
}

struct Bad {
  std::array<std::vector<double>, kJudges> detect_s;
  std::array<int, kJudges> missed{};
  std::array<int, kJudges> before_fault{};
  std::array<int, kJudges> while_insufficient{};
  int runs = 0;
};

Bad run_bad(double rps, double factor, int runs, std::uint64_t seed, int fault_after_s) {
  Bad b;
  b.runs = runs;
  const int healthy_steps = fault_after_s / kStepSeconds, fault_steps = 1800 / kStepSeconds;
  for (int r = 0; r < runs; ++r) {
    World w(seed + static_cast<std::uint64_t>(r) * 104729, rps);
    auto judges = make_judges();
    std::array<bool, kJudges> done{};
    const rs::WallTime t0 = rs::WallTime(std::chrono::hours(480000));
    w.step(kBaselineP);
    for (int i = 1; i <= healthy_steps + fault_steps; ++i) {
      const bool faulty = i > healthy_steps;
      const Snapshot& s = w.step(faulty ? std::min(1.0, kBaselineP * factor) : kBaselineP);
      rs::WallTime now = t0 + std::chrono::seconds(i * kStepSeconds);
      for (int j = 0; j < kJudges; ++j) {
        if (done[j]) continue;
        bool was_insufficient = judges[j]->insufficient();
        if (judges[j]->step(s, now)) {
          done[j] = true;
          if (was_insufficient && judges[j]->insufficient()) b.while_insufficient[j]++;
          if (!faulty)
            b.before_fault[j]++;
          else
            b.detect_s[j].push_back((i - healthy_steps) * kStepSeconds);
        }
      }
    }
    for (int j = 0; j < kJudges; ++j)
      if (!done[j]) b.missed[j]++;
  }
  return b;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  std::size_t k = static_cast<std::size_t>(std::ceil(q * v.size())) - 1;
  return v[std::min(k, v.size() - 1)];
}

std::string seconds(double s) {
  if (std::isnan(s)) return "—";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f s", s);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int healthy_runs = 300, bad_runs = 200;
  std::uint64_t seed = 20240521;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--healthy-runs"))
      healthy_runs = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--bad-runs"))
      bad_runs = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seed"))
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: %s [--healthy-runs N] [--bad-runs N] [--seed S]\n", argv[0]);
      return 2;
    }
  }
  const double traffic[] = {1, 10, 100};
  const double factors[] = {2, 5, 20};
  std::printf(
      "decision_quality: seed %llu, %d healthy 1-h canaries and %d bad canaries per cell; baseline 1%% errors,"
      " 9x the canary's traffic; evaluation every 5 s\n",
      static_cast<unsigned long long>(seed), healthy_runs, bad_runs);
  std::array<int, kJudges> insufficient_rollbacks{};
  for (int fault_after : {0, 300}) {
    std::printf("\n%s\n\n", fault_after == 0 ? "Fault present from the canary's start (time from the start):"
                                             : "Fault starting after 5 healthy minutes (time from the fault):");
    std::printf(
        "| canary req/s | judge | false rollbacks / 100 canary-h | 2x: median / p90 / missed | 5x: median / p90 / "
        "missed | 20x: median / p90 / missed |\n");
    std::printf("|---|---|---|---|---|---|\n");
    for (double rps : traffic) {
      Healthy h = run_healthy(rps, healthy_runs, seed);
      std::array<Bad, 3> bad;
      for (int f = 0; f < 3; ++f) bad[f] = run_bad(rps, factors[f], bad_runs, seed + 1000 * (f + 1), fault_after);
      for (int j = 0; j < kJudges; ++j) {
        std::printf("| %g | %s | %.2f (%d in %.0f h) |", rps, kJudgeNames[j], 100.0 * h.rollbacks[j] / h.hours[j],
                    h.rollbacks[j], h.hours[j]);
        for (int f = 0; f < 3; ++f) {
          const Bad& b = bad[f];
          insufficient_rollbacks[j] += b.while_insufficient[j];
          std::printf(" %s / %s / %.0f%%", seconds(quantile(b.detect_s[j], 0.5)).c_str(),
                      seconds(quantile(b.detect_s[j], 0.9)).c_str(), 100.0 * b.missed[j] / b.runs);
          if (b.before_fault[j]) std::printf(" (%d before the fault)", b.before_fault[j]);
          std::printf(" |");
        }
        std::printf("\n");
      }
    }
  }
  std::printf("\nRollbacks decided while the judge said insufficient (must be 0):");
  for (int j = 0; j < kJudges; ++j) std::printf(" %s: %d;", kJudgeNames[j], insufficient_rollbacks[j]);
  std::printf("\n");
  return 0;
}
