// The live pass of bench/decision_quality: a few simulated canaries (the same World and judges,
// fixed seeds) are written as counter history, backfilled into a REAL Prometheus with promtool,
// and the real Engine (sidecar/core/engine.h) is stepped through that history by a manual clock
// with a `test: {type: sequential-binomial}` rule and a threshold rule whose queries read those
// counters. Its decisions (which rule, at which evaluation) must equal the pure simulation's:
// the evidence that the fast pure table (decision_quality) is what the live sidecar decides.
// Prints one line per canary and a verdict; exit 1 when any decision differs.
//   decision_quality_live [--seed S] [--canaries N] [--rps R]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench/simulated_canary.h"
#include "common/http/http_transport.h"
#include "promql/client.h"
#include "sidecar/config/config.h"
#include "sidecar/core/engine.h"
#include "sidecar/core/self_metrics.h"
#include "sidecar/core/state_store.h"
#include "tests/fakes/env.h"
#include "tests/support/harness.h"

using namespace rs::bench::sim;

namespace {

constexpr std::int64_t kT0 = 1'714'557'600;  // 2024-05-01T10:00:00Z: each canary 1 h apart from here
constexpr int kSteps = 360;                  // 30 min at 5 s

struct Canary {
  std::string name;   // the `deployment` label of its series
  double factor = 1;  // canary error rate / baseline's
  std::int64_t start = 0;
  std::vector<Snapshot> steps;  // steps[0]: the zero point
};

// The two judges the live pass compares: the threshold over 1m and the sequential test.
constexpr int kThreshold = 0, kSequential = 3;

// Evaluation index (1..kSteps) at which each judge decided, or -1.
std::map<int, int> pure_decisions(const Canary& c) {
  auto judges = make_judges();
  std::map<int, int> out = {{kThreshold, -1}, {kSequential, -1}};
  const rs::WallTime t0 = rs::WallTime(std::chrono::seconds(c.start));
  for (int i = 0; i <= kSteps; ++i) {
    for (int j : {kThreshold, kSequential}) {
      if (out[j] >= 0) continue;
      if (judges[j]->step(c.steps[i], t0 + std::chrono::seconds(i * kStepSeconds))) out[j] = i;
    }
  }
  return out;
}

// OpenMetrics for promtool: four counters per canary, one sample per evaluation.
std::string history(const std::vector<Canary>& canaries) {
  std::ostringstream out;
  out << "# HELP sim_requests Requests.\n# TYPE sim_requests counter\n";
  for (const auto& c : canaries) {
    for (const char* version : {"canary", "baseline"}) {
      for (const char* kind : {"all", "error"}) {
        for (int i = 0; i <= kSteps; ++i) {
          const Snapshot& s = c.steps[i];
          const bool canary = std::strcmp(version, "canary") == 0, error = std::strcmp(kind, "error") == 0;
          const double v =
              canary ? (error ? s.canary_errors : s.canary_total) : (error ? s.baseline_errors : s.baseline_total);
          out << "sim_requests_total{deployment=\"" << c.name << "\",version=\"" << version << "\",kind=\"" << kind
              << "\"} " << static_cast<long long>(v) << " " << c.start + i * kStepSeconds << "\n";
        }
      }
    }
  }
  out << "# EOF\n";
  return out.str();
}

std::string counter(const char* version, const char* kind) {
  return std::string("sum(sim_requests_total{deployment=\\\"{{deployment}}\\\",version=\\\"") + version +
         "\\\",kind=\\\"" + kind + "\\\"})";
}

// The live Engine stepped through one canary's history: evaluation index per rule that decided.
std::map<int, int> live_decisions(const std::string& prometheus_url, const Canary& c, const std::string& state_dir) {
  // The threshold rule as decision_quality's: the error ratio over the last 1m of 5-s intervals,
  // > 5% for 5m; increase() over [1m] at 5-s samples covers exactly those 12 intervals (a ratio of
  // two increases over the same samples: Prometheus's extrapolation cancels).
  const std::string ratio =
      "sum(increase(sim_requests_total{deployment=\\\"{{deployment}}\\\",version=\\\"canary\\\","
      "kind=\\\"error\\\"}[1m])) / sum(increase(sim_requests_total{deployment=\\\"{{deployment}}"
      "\\\",version=\\\"canary\\\",kind=\\\"all\\\"}[1m]))";
  const std::string yaml = "prometheus: {url: '" + prometheus_url +
                           "', timeout: 10s}\n"
                           "evaluation_interval: 5s\n"
                           "deployment: {name: " +
                           c.name +
                           ", stage: prod, strategy: canary}\n"
                           "dry_run: true\n"
                           "actuators: [{type: file, path: " +
                           state_dir + "/router, content: 'W={{canary_weight}}'}]\n" +
                           "rules:\n"
                           "  - {name: threshold, query: \"" +
                           ratio +
                           "\", above: 0.05, for: 5m}\n"
                           "  - name: sequential\n"
                           "    test: {type: sequential-binomial, canary_errors: \"" +
                           counter("canary", "error") + "\", canary_total: \"" + counter("canary", "all") +
                           "\", baseline_errors: \"" + counter("baseline", "error") + "\", baseline_total: \"" +
                           counter("baseline", "all") + "\"}\n";
  rs::sidecar::LoadResult result = rs::sidecar::load_config_text(yaml, "live.yml", rs::actuators::Registry::builtin());
  for (const auto& e : result.errors) std::fprintf(stderr, "%s\n", e.to_string("live.yml").c_str());
  if (!result.loaded) std::exit(2);
  const rs::sidecar::Config& config = result.loaded->config;
  rs::sidecar::SelfMetrics metrics("bench", {"threshold", "sequential"}, rs::sidecar::deployment_state_names());
  rs::promql::Client client(config.prometheus, rs::make_curl_transport());
  rs::sidecar::StateStore store("");
  rs::fakes::ManualClock clock;
  std::vector<rs::actuators::Actuator*> actuators;
  for (auto& a : result.loaded->actuators) actuators.push_back(a.get());
  rs::sidecar::Engine engine(config, actuators, client, rs::fakes::env_with_clock(clock), metrics, store);
  std::string error;
  if (!engine.restore(&error)) std::exit(2);
  std::map<int, int> out = {{kThreshold, -1}, {kSequential, -1}};
  std::uint64_t seen = 0;
  for (int i = 0; i <= kSteps; ++i) {
    const auto target = std::chrono::seconds(c.start + i * kStepSeconds);
    clock.step_wall(std::chrono::duration_cast<std::chrono::milliseconds>(target - clock.wall().time_since_epoch()));
    engine.evaluate_once();
    clock.advance(std::chrono::seconds(kStepSeconds));
    // Dry run: every firing episode is a `hold` decision; each rule's first one is its decision.
    const auto last = engine.last_decision();
    if (last && last->id != seen) {
      seen = last->id;
      const int rule = last->rule == "threshold" ? kThreshold : kSequential;
      if (out[rule] < 0) out[rule] = i;
    }
  }
  engine.shutdown();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 20240521;
  int canaries = 6;
  double rps = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seed"))
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--canaries"))
      canaries = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rps"))
      rps = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: %s [--seed S] [--canaries N] [--rps R]\n", argv[0]);
      return 2;
    }
  }
  // Half healthy, half with 5x and 20x the baseline's errors from the start.
  const double factors[] = {1, 5, 20};
  std::vector<Canary> sims;
  for (int k = 0; k < canaries; ++k) {
    Canary c;
    c.name = "sim" + std::to_string(k);
    c.factor = factors[k % 3];
    c.start = kT0 + k * 3600;
    World w(seed + static_cast<std::uint64_t>(k) * 7919, rps);
    for (int i = 0; i <= kSteps; ++i) c.steps.push_back(w.step(i == 0 ? kBaselineP : kBaselineP * c.factor));
    sims.push_back(std::move(c));
  }
  rs::testing::TempDir dir;
  rs::testing::PrometheusServer::Options options;
  options.openmetrics_history = history(sims);
  options.retention = "100y";
  rs::testing::PrometheusServer prometheus(options);
  try {
    prometheus.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "Prometheus with the history did not start: %s\n", e.what());
    return 2;
  }
  std::printf("decision_quality_live: %d canaries of 30 min at %g req/s (seed %llu), real Prometheus %s\n", canaries,
              rps, static_cast<unsigned long long>(seed), prometheus.url().c_str());
  std::printf("| canary | errors x baseline | judge | pure: decided at | live engine: decided at | same |\n");
  std::printf("|---|---|---|---|---|---|\n");
  int differ = 0;
  for (const auto& c : sims) {
    const auto pure = pure_decisions(c);
    const auto live = live_decisions(prometheus.url(), c, dir.path());
    for (int j : {kThreshold, kSequential}) {
      const auto text = [](int i) { return i < 0 ? std::string("never") : std::to_string(i * kStepSeconds) + " s"; };
      const bool same = pure.at(j) == live.at(j);
      differ += !same;
      std::printf("| %s | %g | %s | %s | %s | %s |\n", c.name.c_str(), c.factor, kJudgeNames[j],
                  text(pure.at(j)).c_str(), text(live.at(j)).c_str(), same ? "yes" : "NO");
    }
  }
  std::printf("%s\n", differ == 0 ? "The live engine decided exactly as the pure simulation."
                                  : "DIFFERENT: the live path and the simulation disagree (see rows marked NO).");
  return differ == 0 ? 0 : 1;
}
