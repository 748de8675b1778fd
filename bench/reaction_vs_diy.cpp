// reaction_vs_diy: from the moment a rule (with its `for`) is true in Prometheus's own data to
// the canary having no traffic, for three pipelines watching the same fault at the same time:
//   scrape  rollback-sidecar, evaluation_alignment: scrape (the default)
//   fixed   rollback-sidecar, evaluation_alignment: fixed
//   diy     what a user would build instead, tuned: a Prometheus alerting rule with the same
//           expression and `for` (rule group interval 1s), Alertmanager with group_wait and
//           group_interval 1s, and a webhook receiver that sets the HAProxy weight through the
//           runtime API.
// All three use evaluation/rule interval 1s against one backend scraping every 1s:
// --backend prometheus (default), or victoriametrics (Debian's victoria-metrics, with
// -search.latencyOffset=1s as the e2e tests run it; the DIY pipeline's rule then runs in vmalert,
// which sends to the same Alertmanager).
//
// Fixture: demo-workload v1 + v2 behind HAProxy (backend app) with `demo-workload load` at
// --rate rps through it; the fault is POST /admin/fault error_ratio=0.5 on v2. The rule is the
// demo error ratio with [5s] rate windows, above 0.05, for --for (5s). Each pipeline acts on its
// own copy of the canary server (HAProxy backends scrape, fixed, diy; no traffic goes through
// them), so none of them ends the fault for the others. The harness polls the three weights
// through the runtime API every --poll-ms (2) and takes the wall time a 0 is first read.
//
// T: asked afterwards with query_range at --step (10ms) resolution for
// `(<rule expression>) > bool 0.05`, the first instant from which it holds for `for`, snapped to
// the scrape that made it true (raw samples of the canary's target): T = that scrape + `for`.
// Per run: fresh sidecars started at a random phase (new state files; the scrape one waits until it
// is aligned), the DIY
// alert inactive in Prometheus and Alertmanager, the fault injected at a random phase.
// Reported per run and as min/median/p90/max per pipeline, and the ratio of medians.
//
// Usage: reaction_vs_diy [--backend prometheus|victoriametrics] [--runs 10] [--for 5s] [--rate 50]
//                        [--poll-ms 2] [--step 0.01]
//   env: RS_BENCH_BACKEND, RS_BENCH_RUNS, RS_BENCH_FOR, RS_BENCH_RATE, RS_BENCH_POLL_MS, RS_BENCH_STEP;
//   RS_KEEP_TEST_DIRS=1 keeps the temp dir (configs, every process's log).
#include <array>
#include <iostream>
#include <random>
#include <thread>

#include "bench/bench_support.h"
#include "common/clock.h"
#include "common/duration.h"

namespace {

using rs::bench::fixed;
using rs::testing::Process;
using rs::testing::TempDir;
using namespace std::chrono_literals;

constexpr std::array<const char*, 3> kPipelines = {"scrape", "fixed", "diy"};
constexpr const char* kAlertName = "BenchCanaryErrors";

// The DIY pipeline's last step: Alertmanager's webhook -> HAProxy's runtime API.
constexpr const char* kReceiverScript = R"(import http.server, json, socket, sys
port, admin_port = int(sys.argv[1]), int(sys.argv[2])
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if json.loads(body).get("status") == "firing":
            with socket.create_connection(("127.0.0.1", admin_port)) as s:
                s.sendall(b"set weight diy/canary 0\n")
                s.recv(4096)
        self.send_response(200); self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
)";

struct Run {
  bool ok = false;
  std::string error;
  double fault = 0, T = 0;
  std::array<double, 3> no_traffic{0, 0, 0};  // per pipeline, wall seconds; 0: never
};

std::string sidecar_config(const std::string& prometheus_url, int port, const std::string& state_file,
                           const std::string& alignment, const std::string& expr, const std::string& for_text,
                           int admin_port, const std::string& backend) {
  return "prometheus: {url: " + prometheus_url + ", timeout: 900ms}\nlisten: 127.0.0.1:" + std::to_string(port) +
         "\nevaluation_interval: 1s\nevaluation_alignment: " + alignment +
         "\ndeployment: {name: bench, stage: canary, strategy: canary, vars: {service: checkout, canary: v2, stable: "
         "v1}}\nstate_file: " +
         state_file +
         "\nrollback: {deadline: 5s, initial_backoff: 100ms, max_backoff: 1s}\nrules:\n  - name: bench-rule\n    "
         "query: '" +
         expr + "'\n    above: 0.05\n    for: " + for_text +
         "\n    missing: hold\n    severity: sev1\nactuators:\n  - {type: haproxy, address: '127.0.0.1:" +
         std::to_string(admin_port) + "', backend: " + backend + ", canary: canary, stable: stable}\n";
}

void summarize(const char* name, std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  if (ms.empty()) {
    std::printf("%-7s no run reached no traffic\n", name);
    return;
  }
  std::printf("%-7s n=%2zu  min %8s  median %8s  p90 %8s  max %8s ms\n", name, ms.size(), fixed(ms.front(), 1).c_str(),
              fixed(rs::bench::median(ms), 1).c_str(), fixed(rs::bench::percentile(ms, 90), 1).c_str(),
              fixed(ms.back(), 1).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    rs::bench::Options opt(argc, argv);
    if (opt.help()) {
      std::cout << "usage: reaction_vs_diy [--backend prometheus|victoriametrics] [--runs 10] [--for 5s] [--rate 50]"
                   " [--poll-ms 2] [--step 0.01]\n";
      return 0;
    }
    const std::string backend_name = opt.str("backend", "RS_BENCH_BACKEND", "prometheus");
    const bool vm = backend_name == "victoriametrics";
    if (!vm && backend_name != "prometheus")
      throw std::runtime_error("--backend must be prometheus or victoriametrics");
    const int runs = static_cast<int>(opt.num("runs", "RS_BENCH_RUNS", 10));
    const std::string for_text = opt.str("for", "RS_BENCH_FOR", "5s");
    const auto for_duration = rs::common::parse_duration(for_text);
    if (!for_duration) throw std::runtime_error("--for: not a duration: " + for_text);
    const double for_s = std::chrono::duration<double>(*for_duration).count();
    const double rate = opt.num("rate", "RS_BENCH_RATE", 50);
    const auto poll = std::chrono::milliseconds(static_cast<int>(opt.num("poll-ms", "RS_BENCH_POLL_MS", 2)));
    const double step = opt.num("step", "RS_BENCH_STEP", 0.01);
    if (!rs::bench::require_tools(
            {"haproxy", vm ? "victoria-metrics" : "prometheus", "prometheus-alertmanager", "python3"}))
      return 2;
    if (vm && !rs::bench::require_tools({"vmalert"})) return 2;
    if (!rs::bench::require_binaries({rs::bench::kSidecarBinary, rs::bench::kWorkloadBinary})) return 2;

    TempDir dir;
    const int front_port = rs::testing::free_port(), admin_port = rs::testing::free_port();
    rs::bench::Workload stable(dir, "v1"), canary(dir, "v2");
    std::string haproxy_config =
        rs::bench::haproxy_config(front_port, admin_port, "", stable.address(), canary.address());
    for (const char* backend : kPipelines) {
      haproxy_config += std::string("backend ") + backend + "\n  server stable " + stable.address() +
                        " weight 100\n  server canary " + canary.address() + " weight 100\n";
    }
    rs::testing::HaproxyServer haproxy(haproxy_config);
    haproxy.start({front_port, admin_port});

    const std::string expr =
        "sum(rate(http_requests_total{service=\"checkout\",version=\"v2\",code=~\"5..\"}[5s]))"
        " / sum(rate(http_requests_total{service=\"checkout\",version=\"v2\"}[5s]))";

    // The DIY pipeline: receiver, Alertmanager, then Prometheus with the alerting rule.
    const int receiver_port = rs::testing::free_port(), am_port = rs::testing::free_port();
    rs::testing::write_file(dir.file("receiver.py"), kReceiverScript);
    Process receiver(
        {"/usr/bin/python3", dir.file("receiver.py"), std::to_string(receiver_port), std::to_string(admin_port)},
        dir.file("receiver.log"));
    const std::string am_url = "http://127.0.0.1:" + std::to_string(am_port);
    rs::testing::write_file(dir.file("alertmanager.yml"),
                            "route:\n  receiver: haproxy\n  group_by: [alertname]\n  group_wait: 1s\n"
                            "  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: haproxy\n"
                            "    webhook_configs:\n      - url: http://127.0.0.1:" +
                                std::to_string(receiver_port) + "/\n");
    Process alertmanager({rs::testing::find_binary("prometheus-alertmanager"),
                          "--config.file=" + dir.file("alertmanager.yml"), "--storage.path=" + dir.file("am-data"),
                          "--web.listen-address=127.0.0.1:" + std::to_string(am_port), "--cluster.listen-address="},
                         dir.file("alertmanager.log"));
    std::string why;
    if (!rs::testing::wait_http_ok("http://127.0.0.1:" + std::to_string(receiver_port) + "/", 15s, &why))
      throw std::runtime_error("webhook receiver not up: " + why + receiver.log());
    if (!rs::testing::wait_http_ok(am_url + "/-/ready", 20s, &why))
      throw std::runtime_error("Alertmanager not ready: " + why + alertmanager.log());
    rs::testing::write_file(dir.file("rules.yml"),
                            "groups:\n  - name: bench\n    interval: 1s\n    rules:\n"
                            "      - alert: " +
                                std::string(kAlertName) + "\n        expr: '(" + expr +
                                ") > 0.05'\n        for: " + for_text + "\n        labels: {severity: sev1}\n");

    rs::testing::ScrapingServer::Options popt;
    popt.scrape_interval = "1s";
    popt.evaluation_interval = "1s";
    if (!vm) {
      popt.rule_files = {dir.file("rules.yml")};
      popt.extra_config = "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:" +
                          std::to_string(am_port) + "']\n";
    }
    popt.extra_scrape_configs = "  - job_name: demo\n    static_configs:\n      - targets: ['" + stable.address() +
                                "']\n        labels: {service: checkout, version: v1}\n      - targets: ['" +
                                canary.address() + "']\n        labels: {service: checkout, version: v2}\n";
    std::unique_ptr<rs::testing::ScrapingServer> backend_server;
    if (vm) {
      backend_server = std::make_unique<rs::testing::VictoriaMetricsServer>(popt);
    } else {
      backend_server = std::make_unique<rs::testing::PrometheusServer>(popt);
    }
    rs::testing::ScrapingServer& prometheus = *backend_server;
    prometheus.start();
    // With VictoriaMetrics the DIY pipeline's rule runs in vmalert, against it.
    std::unique_ptr<Process> vmalert;
    const int vmalert_port = rs::testing::free_port();
    const std::string vmalert_url = "http://127.0.0.1:" + std::to_string(vmalert_port);
    if (vm) {
      vmalert = std::make_unique<Process>(
          std::vector<std::string>{rs::testing::find_binary("vmalert"), "-rule=" + dir.file("rules.yml"),
                                   "-datasource.url=" + prometheus.url(), "-notifier.url=" + am_url,
                                   "-evaluationInterval=1s",
                                   "-httpListenAddr=127.0.0.1:" + std::to_string(vmalert_port)},
          dir.file("vmalert.log"));
      if (!rs::testing::wait_http_ok(vmalert_url + "/health", 20s, &why))
        throw std::runtime_error("vmalert not ready: " + why + vmalert->log());
    }
    Process load({rs::bench::kWorkloadBinary, "load", "--url", "http://127.0.0.1:" + std::to_string(front_port) + "/",
                  "--rate", fixed(rate, 2), "--concurrency", "8", "--report-interval", "60s"},
                 dir.file("load.log"));

    auto set_fault = [&](bool on) {
      auto r = on ? canary.post("/admin/fault", "error_ratio=0.5") : canary.post("/admin/reset", "");
      if (r.status != 200) throw std::runtime_error("demo-workload admin: HTTP " + std::to_string(r.status) + r.error);
    };
    auto diy_alert_inactive = [&] {
      nlohmann::json alerts = rs::bench::get_json(am_url + "/api/v2/alerts?active=true");
      if (!alerts.is_array() || !alerts.empty()) return false;
      if (!vm) return prometheus.query_value(std::string("ALERTS{alertname=\"") + kAlertName + "\"}").empty();
      nlohmann::json rule_alerts = rs::bench::get_json(vmalert_url + "/api/v1/alerts");
      return rule_alerts.is_object() && rule_alerts["data"]["alerts"].empty();
    };

    std::printf(
        "reaction_vs_diy: %s; rule `%s` above 0.05 for %s; scrape 1s, evaluation/rule interval 1s; Alertmanager "
        "group_wait/group_interval 1s; %d runs, poll %lld ms\n",
        vm ? "VictoriaMetrics (-search.latencyOffset=1s) + vmalert" : "Prometheus", expr.c_str(), for_text.c_str(),
        runs, static_cast<long long>(poll.count()));
    std::printf("%4s %12s %12s %12s %12s\n", "run", "scrape_ms", "fixed_ms", "diy_ms", "fault->T_s");

    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> phase_ms(0, 999);
    std::vector<Run> results;
    for (int run = 1; run <= runs; ++run) {
      Run res;
      set_fault(false);
      for (const char* backend : kPipelines)
        rs::testing::HaproxyServer::runtime_command(admin_port, std::string("set weight ") + backend + "/canary 100");
      if (!rs::testing::wait_until(diy_alert_inactive, 90s, 500ms)) {
        std::printf("%4d  the DIY alert did not resolve within 90s\n", run);
        results.push_back(res);
        continue;
      }
      // Two fresh sidecars (a rollback latches), started at a random phase of the scrape: the fixed
      // grid's phase is wherever the start puts it.
      std::this_thread::sleep_for(std::chrono::milliseconds(phase_ms(rng)));
      std::array<std::unique_ptr<Process>, 2> sidecars;
      std::array<std::string, 2> urls;
      for (int i = 0; i < 2; ++i) {
        const int port = rs::testing::free_port();
        const std::string tag = std::string(kPipelines[i]) + "-" + std::to_string(run);
        rs::testing::write_file(dir.file("sidecar-" + tag + ".yml"),
                                sidecar_config(prometheus.url(), port, dir.file("state-" + tag + ".json"),
                                               kPipelines[i], expr, for_text, admin_port, kPipelines[i]));
        sidecars[i] = std::make_unique<Process>(
            std::vector<std::string>{rs::bench::kSidecarBinary, "--config", dir.file("sidecar-" + tag + ".yml")},
            dir.file("sidecar-" + tag + ".log"));
        urls[i] = "http://127.0.0.1:" + std::to_string(port);
      }
      // Ready: the rule ok with a value at the last evaluations, and the scrape sidecar aligned.
      nlohmann::json status;
      const bool ready = rs::testing::wait_until(
          [&] {
            for (int i = 0; i < 2; ++i) {
              status = rs::bench::get_json(urls[i] + "/api/v1/status");
              if (!status.is_object() || status["rules"].empty() || status.value("evaluations", 0) < 4) return false;
              const auto& r = status["rules"][0];
              if (r["state"] != "ok" || !r["value"].is_number()) return false;
              if (i == 0 && (status["alignment"]["state"] != "aligned" ||
                             status["alignment"]["margin_seconds"].get<double>() <= 0))
                return false;
            }
            return true;
          },
          90s, 200ms);
      if (!ready) {
        std::printf("%4d  sidecars not ready within 90s: %s\n", run, status.dump().c_str());
        results.push_back(res);
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(phase_ms(rng)));
      res.fault = rs::bench::wall_now();
      set_fault(true);
      const auto give_up = std::chrono::steady_clock::now() + 40s;
      while (std::chrono::steady_clock::now() < give_up) {
        bool all = true;
        for (std::size_t p = 0; p < kPipelines.size(); ++p) {
          if (res.no_traffic[p] != 0) continue;
          if (rs::bench::haproxy_weight(admin_port, "canary", kPipelines[p]) == 0) {
            res.no_traffic[p] = rs::bench::wall_now();
          } else {
            all = false;
          }
        }
        if (all) break;
        std::this_thread::sleep_for(poll);
      }
      for (auto& s : sidecars) s->stop();

      std::this_thread::sleep_for(1500ms);  // Prometheus has data past T
      std::string error;
      const std::optional<double> T =
          rs::bench::condition_held_since(prometheus.url(), "(" + expr + ") > bool 0.05", res.fault - 2.0,
                                          rs::bench::wall_now(), step, for_s, canary.address(), &error);
      set_fault(false);
      if (!T) {
        std::printf("%4d  %s\n", run, error.c_str());
        results.push_back(res);
        continue;
      }
      res.T = *T;
      res.ok = true;
      auto cell = [&](std::size_t p) {
        return res.no_traffic[p] == 0 ? std::string("never") : fixed((res.no_traffic[p] - res.T) * 1000, 1);
      };
      std::printf("%4d %12s %12s %12s %12s\n", run, cell(0).c_str(), cell(1).c_str(), cell(2).c_str(),
                  fixed(res.T - res.fault, 2).c_str());
      std::fflush(stdout);
      results.push_back(res);
    }

    std::array<std::vector<double>, 3> ms;
    for (const auto& r : results) {
      if (!r.ok) continue;
      for (std::size_t p = 0; p < kPipelines.size(); ++p)
        if (r.no_traffic[p] != 0) ms[p].push_back((r.no_traffic[p] - r.T) * 1000);
    }
    std::printf("\nno traffic - T (ms) over %d runs:\n", runs);
    for (std::size_t p = 0; p < kPipelines.size(); ++p) summarize(kPipelines[p], ms[p]);
    const double scrape = rs::bench::median(ms[0]);
    std::printf(
        "median ratio: diy / scrape %sx, fixed / scrape %sx; target: scrape median <= 200 ms, diy / scrape >= 7x\n",
        fixed(rs::bench::median(ms[2]) / scrape, 1).c_str(), fixed(rs::bench::median(ms[1]) / scrape, 1).c_str());
    return ms[0].empty() ? 1 : 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
