// bench_detection: end-to-end detection latency, from the moment the rule (with its `for`) is
// true in Prometheus's own data to the canary getting no traffic.
//
// Environment: a real Prometheus scraping a controllable exporter every 1 s, HAProxy (backend
// app = stable + canary, runtime API on TCP), the real rollback-sidecar binary with
// evaluation_interval 1s and one rule with a short `for` (default 3s). Two exporters:
//   --mode workload (default): demo-workload v1 + v2 behind HAProxy with `demo-workload load`
//     at --rate rps through it; the fault is POST /admin/fault error_ratio=0.5 on v2; the rule
//     is the demo error-rate query with [5s] rate windows, above 0.05.
//   --mode gauge: an in-process exporter serving bench_fault_ratio{...} 0, flipped to 1; the
//     rule is max(bench_fault_ratio{...}) above 0.5. No rate() window: the crispest timing.
// Per run: fresh sidecar (new state file), canary weight 100, fault cleared; wait until the
// sidecar has evaluated the rule as ok; sleep a random 0-1 s (so the fault lands at a random
// phase of the scrape and evaluation grids); inject the fault; poll the runtime API
// ("get weight app/canary") every --poll-ms (5) until it answers 0 -> t_no_traffic (wall
// clock, taken when the reply arrives).
// Afterwards Prometheus is asked, with query_range at --step (10ms) resolution over the run's
// window, for `(<rule expression>) > bool <threshold>`; the first instant s at which it turns
// true and then stays true for `for` gives T = s + for. s is snapped to the exact timestamp of
// the scrape that made it true (raw samples of the canary's target), so it is not quantized to
// the step. Reported: t_no_traffic - T per run and min/median/max over --runs (5), against the
// target "one evaluation interval + 100 ms". Also per run, from the sidecar's last_decision:
// when its first breaching evaluation happened after s, when it decided relative to T, and
// the rollback time. See bench/README.md for the method and its error bars.
//
// Usage: bench_detection [--mode workload|gauge] [--runs 5] [--for 3s] [--rate 50]
//                        [--poll-ms 5] [--step 0.01]
//   env: RS_BENCH_MODE, RS_BENCH_RUNS, RS_BENCH_FOR, RS_BENCH_RATE, RS_BENCH_POLL_MS,
//        RS_BENCH_STEP; RS_KEEP_TEST_DIRS=1 keeps the temp dir (configs, logs).
#include <iostream>
#include <random>
#include <thread>

#include "bench/bench_support.h"
#include "common/duration.h"
#include "common/clock.h"

namespace {

using rs::bench::fixed;
using rs::testing::Process;
using rs::testing::TempDir;
using namespace std::chrono_literals;

double rfc3339_seconds(const nlohmann::json& j) {
  rs::WallTime t;
  if (!j.is_string() || !rs::parse_rfc3339(j.get<std::string>(), &t)) return std::nan("");
  return rs::to_unix_seconds(t);
}

struct RunResult {
  bool ok = false;
  std::string error;
  double fault = 0, no_traffic = 0;  // wall seconds
  double s = 0, T = 0;               // condition true in Prometheus's data since s; with `for`: T
  double first_breach = NAN, decided = NAN, rollback_ms = NAN;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    rs::bench::Options opt(argc, argv);
    if (opt.help()) {
      std::cout << "usage: bench_detection [--mode workload|gauge] [--runs N] [--for 3s] [--rate RPS] [--poll-ms 5]"
                   " [--step 0.01]\n";
      return 0;
    }
    const std::string mode = opt.str("mode", "RS_BENCH_MODE", "workload");
    if (mode != "workload" && mode != "gauge") throw std::runtime_error("--mode must be workload or gauge");
    const int runs = static_cast<int>(opt.num("runs", "RS_BENCH_RUNS", 5));
    const std::string for_text = opt.str("for", "RS_BENCH_FOR", "3s");
    const auto for_duration = rs::common::parse_duration(for_text);
    if (!for_duration) throw std::runtime_error("--for: not a duration: " + for_text);
    const double for_s = std::chrono::duration<double>(*for_duration).count();
    const double rate = opt.num("rate", "RS_BENCH_RATE", 50);
    const auto poll = std::chrono::milliseconds(static_cast<int>(opt.num("poll-ms", "RS_BENCH_POLL_MS", 5)));
    const double step = opt.num("step", "RS_BENCH_STEP", 0.01);
    const double interval_s = 1.0;
    if (!rs::bench::require_tools({"haproxy", "prometheus"})) return 2;
    if (!rs::bench::require_binaries({rs::bench::kSidecarBinary, rs::bench::kWorkloadBinary})) return 2;

    TempDir dir;
    const int front_port = rs::testing::free_port();
    const int admin_port = rs::testing::free_port();
    std::unique_ptr<rs::bench::Workload> stable, canary;
    std::unique_ptr<rs::testing::FakeHttpServer> gauge;
    std::string stable_address, canary_address, scrape_job, target, expr;
    const double threshold = mode == "workload" ? 0.05 : 0.5;
    if (mode == "workload") {
      stable = std::make_unique<rs::bench::Workload>(dir, "v1");
      canary = std::make_unique<rs::bench::Workload>(dir, "v2");
      stable_address = stable->address();
      canary_address = target = canary->address();
      scrape_job =
          "  - job_name: demo\n    static_configs:\n"
          "      - targets: ['" +
          stable_address +
          "']\n        labels: {service: checkout, version: v1}\n"
          "      - targets: ['" +
          canary_address + "']\n        labels: {service: checkout, version: v2}\n";
      expr =
          "sum(rate(http_requests_total{service=\"checkout\",version=\"v2\",code=~\"5..\"}[5s]))"
          " / sum(rate(http_requests_total{service=\"checkout\",version=\"v2\"}[5s]))";
    } else {
      gauge = std::make_unique<rs::testing::FakeHttpServer>();
      gauge->set_metrics("bench_fault_ratio 0\n");
      stable_address = "127.0.0.1:" + std::to_string(rs::testing::free_port());
      canary_address = "127.0.0.1:" + std::to_string(rs::testing::free_port());
      target = "127.0.0.1:" + std::to_string(gauge->port());
      scrape_job = "  - job_name: demo\n    static_configs:\n      - targets: ['" + target +
                   "']\n        labels: {service: checkout, version: v2}\n";
      expr = "max(bench_fault_ratio{service=\"checkout\",version=\"v2\"})";
    }
    rs::testing::HaproxyServer haproxy(
        rs::bench::haproxy_config(front_port, admin_port, "", stable_address, canary_address));
    haproxy.start({front_port, admin_port});

    rs::testing::PrometheusServer::Options popt;
    popt.scrape_interval = "1s";
    popt.evaluation_interval = "1s";
    popt.extra_scrape_configs = scrape_job;
    rs::testing::PrometheusServer prometheus(popt);
    prometheus.start();

    std::unique_ptr<Process> load;
    if (mode == "workload") {
      load = std::make_unique<Process>(
          std::vector<std::string>{rs::bench::kWorkloadBinary, "load", "--url",
                                   "http://127.0.0.1:" + std::to_string(front_port) + "/", "--rate", fixed(rate, 2),
                                   "--concurrency", "8", "--report-interval", "60s"},
          dir.file("load.log"));
    }
    auto set_fault = [&](bool on) {
      if (gauge) {
        gauge->set_metrics(on ? "bench_fault_ratio 1\n" : "bench_fault_ratio 0\n");
        return;
      }
      auto r = on ? canary->post("/admin/fault", "error_ratio=0.5") : canary->post("/admin/reset", "");
      if (r.status != 200) throw std::runtime_error("demo-workload admin: HTTP " + std::to_string(r.status) + r.error);
    };

    std::printf(
        "bench_detection: mode %s, rule `%s` above %s for %s, evaluation_interval 1s, scrape 1s, "
        "%d runs, poll %lld ms, query_range step %ss\n",
        mode.c_str(), expr.c_str(), fixed(threshold, 2).c_str(), for_text.c_str(), runs,
        static_cast<long long>(poll.count()), fixed(step, 3).c_str());
    std::printf("%4s %12s %14s %14s %12s %12s %14s\n", "run", "latency_ms", "eval_after_s_ms", "decided-T_ms",
                "rollback_ms", "fault->s_ms", "verdict");

    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> phase_ms(0, 999);
    std::vector<RunResult> results;
    for (int run = 1; run <= runs; ++run) {
      RunResult res;
      const int sidecar_port = rs::testing::free_port();
      set_fault(false);
      rs::testing::HaproxyServer::runtime_command(admin_port, "set weight app/canary 100");
      const std::string config_path = dir.file("sidecar-" + std::to_string(run) + ".yml");
      rs::testing::write_file(config_path, "prometheus: {url: " + prometheus.url() +
                                               ", timeout: 900ms}\n"
                                               "listen: 127.0.0.1:" +
                                               std::to_string(sidecar_port) +
                                               "\n"
                                               "evaluation_interval: 1s\n"
                                               "deployment: {name: bench, stage: canary, strategy: canary, vars: "
                                               "{service: checkout, canary: v2, stable: v1}}\n"
                                               "state_file: " +
                                               dir.file("state-" + std::to_string(run) + ".json") +
                                               "\n"
                                               "rollback: {deadline: 5s, initial_backoff: 100ms, max_backoff: 1s}\n"
                                               "rules:\n"
                                               "  - name: bench-rule\n"
                                               "    query: '" +
                                               expr +
                                               "'\n"
                                               "    above: " +
                                               fixed(threshold, 2) +
                                               "\n"
                                               "    for: " +
                                               for_text +
                                               "\n"
                                               "    missing: hold\n"
                                               "    severity: sev1\n"
                                               "actuators:\n"
                                               "  - {type: haproxy, address: '127.0.0.1:" +
                                               std::to_string(admin_port) +
                                               "', backend: app, canary: canary, stable: stable}\n");
      Process sidecar({rs::bench::kSidecarBinary, "--config", config_path},
                      dir.file("sidecar-" + std::to_string(run) + ".log"));
      const std::string sidecar_url = "http://127.0.0.1:" + std::to_string(sidecar_port);
      // Healthy baseline: three consecutive evaluations with a value below the threshold.
      int ok_streak = 0, last_evaluations = -1;
      nlohmann::json status;
      const bool baseline = rs::testing::wait_until(
          [&] {
            status = rs::bench::get_json(sidecar_url + "/api/v1/status");
            if (!status.is_object() || status["rules"].empty()) return false;
            const int ev = status.value("evaluations", 0);
            if (ev == last_evaluations) return false;
            last_evaluations = ev;
            const auto& r = status["rules"][0];
            ok_streak = (r["state"] == "ok" && r["value"].is_number()) ? ok_streak + 1 : 0;
            return ok_streak >= 3;
          },
          90s, 100ms);
      if (!baseline) {
        res.error = "no healthy baseline within 90s: " + status.dump();
        std::printf("%4d  %s\n", run, res.error.c_str());
        results.push_back(res);
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(phase_ms(rng)));
      res.fault = rs::bench::wall_now();
      set_fault(true);
      const auto give_up = std::chrono::steady_clock::now() + 60s;
      while (std::chrono::steady_clock::now() < give_up) {
        const int w = rs::bench::haproxy_weight(admin_port, "canary");
        if (w == 0) {
          res.no_traffic = rs::bench::wall_now();
          break;
        }
        std::this_thread::sleep_for(poll);
      }
      if (res.no_traffic == 0) {
        res.error = "canary weight never reached 0 within 60s; sidecar log:\n" + rs::bench::tail(sidecar.log());
        std::printf("%4d  %s\n", run, res.error.c_str());
        results.push_back(res);
        continue;
      }
      status = rs::bench::get_json(sidecar_url + "/api/v1/status");
      const auto& d = status["last_decision"];
      res.first_breach = rfc3339_seconds(d["first_breach"]);
      res.decided = rfc3339_seconds(d["decided_at"]);
      if (d["duration_seconds"].is_number()) res.rollback_ms = d["duration_seconds"].get<double>() * 1000;
      sidecar.stop();

      // Prometheus's own view. Wait until it has data past T (the condition stays true after
      // the rollback: the fault is still on and rate windows still hold the errors).
      std::this_thread::sleep_for(1500ms);
      std::string error;
      const double start = res.fault - 2.0, end = rs::bench::wall_now();
      nlohmann::json data = rs::bench::prometheus_api(prometheus.url(), "/api/v1/query_range",
                                                      {{"query", "(" + expr + ") > bool " + fixed(threshold, 4)},
                                                       {"start", fixed(start, 3)},
                                                       {"end", fixed(end, 3)},
                                                       {"step", fixed(step, 3)}},
                                                      &error);
      if (data.is_null() || data["result"].empty()) {
        res.error = "query_range failed: " + error;
        std::printf("%4d  %s\n", run, res.error.c_str());
        results.push_back(res);
        continue;
      }
      // First instant after which the condition holds for `for` without a gap.
      std::vector<std::pair<double, bool>> points;
      for (const auto& p : data["result"][0]["values"])
        points.emplace_back(p[0].get<double>(), p[1].get<std::string>() == "1");
      double run_start = NAN;
      double found = NAN;
      double expected_t = start;
      for (const auto& [t, v] : points) {
        // A missing point (no data) breaks a run, like a false one.
        if (!v || t - expected_t > step * 1.5) run_start = NAN;
        if (v && std::isnan(run_start)) run_start = t;
        expected_t = t;
        if (v && t - run_start >= for_s - 1e-9) {
          found = run_start;
          break;
        }
      }
      if (std::isnan(found)) {
        res.error = "Prometheus's data never held the condition for " + for_text;
        std::printf("%4d  %s\n", run, res.error.c_str());
        results.push_back(res);
        continue;
      }
      // Snap s to the scrape that made the condition true: the last scrape timestamp <= found.
      res.s = found;
      nlohmann::json raw = rs::bench::prometheus_api(
          prometheus.url(), "/api/v1/query",
          {{"query", "up{instance=\"" + target + "\"}[2m]"}, {"time", fixed(end, 3)}}, &error);
      if (raw.is_object() && !raw["result"].empty()) {
        for (const auto& p : raw["result"][0]["values"]) {
          const double ts = p[0].get<double>();
          if (ts <= found + 1e-9 && ts > found - step - 1e-9) res.s = ts;
        }
      }
      res.T = res.s + for_s;
      res.ok = true;
      const double latency_ms = (res.no_traffic - res.T) * 1000;
      std::printf("%4d %12s %14s %14s %12s %12s %14s\n", run, fixed(latency_ms, 1).c_str(),
                  fixed((res.first_breach - res.s) * 1000, 1).c_str(), fixed((res.decided - res.T) * 1000, 1).c_str(),
                  fixed(res.rollback_ms, 2).c_str(), fixed((res.s - res.fault) * 1000, 1).c_str(),
                  latency_ms <= (interval_s + 0.1) * 1000 ? "within target" : "OVER target");
      std::fflush(stdout);
      results.push_back(res);
    }

    std::vector<double> latencies;
    for (const auto& r : results)
      if (r.ok) latencies.push_back((r.no_traffic - r.T) * 1000);
    std::sort(latencies.begin(), latencies.end());
    if (latencies.empty()) {
      std::printf("no successful run\n");
      return 1;
    }
    std::printf(
        "no_traffic - T over %zu/%d runs: min %s ms, median %s ms, max %s ms; target <= %s ms "
        "(one evaluation interval + 100 ms)\n",
        latencies.size(), runs, fixed(latencies.front(), 1).c_str(), fixed(rs::bench::median(latencies), 1).c_str(),
        fixed(latencies.back(), 1).c_str(), fixed((interval_s + 0.1) * 1000, 0).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
