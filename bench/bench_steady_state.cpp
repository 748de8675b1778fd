// bench_steady_state: RSS and CPU of the real rollback-sidecar binary in steady state with the
// shipped default policy (policies/default.yml, all its rules) evaluated every second.
//
// Environment (all real processes on loopback, free ports, one temp dir):
//   demo-workload serve v1 + v2 behind HAProxy (frontend + backend app, runtime API on TCP),
//   demo-workload load through HAProxy (--rate, default 20/s) so rate() queries have data,
//   prometheus-blackbox-exporter probing the canary's /health (probe_success for the
//   health-check rule; a static exporter stands in when the blackbox exporter is missing),
//   Prometheus scraping everything every 1 s (targets labelled service=checkout, version=v1/v2)
//   and the sidecar itself every --sidecar-scrape (default 15s),
//   rollback-sidecar --config <policies/default.yml with evaluation_interval 1s and this
//   environment's addresses; everything else as shipped>.
// Once the sidecar has a value for every rule it warms up for --warmup seconds, then measures
// for --duration seconds: CPU = delta(utime+stime) / wall time (percent of one core), RSS
// sampled every second (VmRSS min/mean/max) and VmHWM at the end; then where the memory is:
// threads by name, and /proc/<pid>/smaps grouped (binary, each shared library, heap, thread
// stacks, malloc arenas, other anonymous).
// Targets: RSS <= 10 MiB, CPU <= 0.3% of one core. Prints numbers, asserts nothing.
//
// Usage: bench_steady_state [--duration 60] [--warmup 5] [--rate 20] [--rules N] [--sidecar-scrape 15s]
//                           [--sidecar-env K=V,K=V]
//   RS_KEEP_TEST_DIRS=1 keeps the temp dir (configs, logs of every process).
//   --rules N copies the policy's query rules (each copy's query made distinct) up to N rules.
//   env: RS_BENCH_DURATION, RS_BENCH_WARMUP, RS_BENCH_RATE, RS_BENCH_RULES, RS_BENCH_SIDECAR_SCRAPE,
//        RS_BENCH_SIDECAR_ENV (e.g. MALLOC_ARENA_MAX=8 to compare with glibc's arenas).
#include <yaml-cpp/yaml.h>

#include <iostream>
#include <thread>

#include "bench/bench_support.h"

namespace {

using rs::bench::fixed;
using rs::testing::Process;
using rs::testing::TempDir;
using namespace std::chrono_literals;

struct Region {
  unsigned long start = 0, end = 0;
  std::string perms, path;
  std::map<std::string, long> kb;  // Rss, Pss, Private_Dirty, Anonymous, ...
  long size_kb() const { return static_cast<long>((end - start) / 1024); }
};

std::vector<Region> read_smaps(pid_t pid) {
  std::vector<Region> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    // Header lines start with a hex range "start-end perms offset dev inode [path]".
    const auto dash = line.find('-');
    const auto colon = line.find(':');
    const bool header = dash != std::string::npos && (colon == std::string::npos || dash < colon) &&
                        std::isxdigit(static_cast<unsigned char>(line[0])) && line.find(' ') > dash;
    if (header) {
      Region r;
      std::istringstream h(line);
      std::string range, offset, dev, inode;
      h >> range >> r.perms >> offset >> dev >> inode;
      std::getline(h, r.path);
      r.path = rs::bench::trim(r.path);
      r.start = std::stoul(range.substr(0, dash), nullptr, 16);
      r.end = std::stoul(range.substr(dash + 1), nullptr, 16);
      out.push_back(r);
    } else if (!out.empty() && colon != std::string::npos) {
      std::string key = line.substr(0, colon);
      long v = std::strtol(line.c_str() + colon + 1, nullptr, 10);
      if (line.find(" kB") != std::string::npos) out.back().kb[key] = v;
    }
  }
  return out;
}

struct Group {
  int regions = 0;
  long size = 0, rss = 0, pss = 0, priv = 0, anon = 0;
  void add(const Region& r) {
    ++regions;
    size += r.size_kb();
    rss += r.kb.count("Rss") ? r.kb.at("Rss") : 0;
    pss += r.kb.count("Pss") ? r.kb.at("Pss") : 0;
    priv += (r.kb.count("Private_Clean") ? r.kb.at("Private_Clean") : 0) +
            (r.kb.count("Private_Dirty") ? r.kb.at("Private_Dirty") : 0);
    anon += r.kb.count("Anonymous") ? r.kb.at("Anonymous") : 0;
  }
};

// Groups the mappings: file-backed by file name; anonymous ones by what made them. Thread
// stacks are 8 MiB (RLIMIT_STACK default) rw mappings preceded by a 4 KiB ---p guard; glibc's
// per-thread malloc arenas are a rw part and a ---p part that add up to 64 MiB (HEAP_MAX_SIZE).
std::map<std::string, Group> group_smaps(const std::vector<Region>& regions, const std::string& binary) {
  std::map<std::string, Group> groups;
  for (std::size_t i = 0; i < regions.size(); ++i) {
    const Region& r = regions[i];
    std::string key;
    if (r.path == "[heap]") {
      key = "anon: [heap] (main malloc arena)";
    } else if (r.path == "[stack]") {
      key = "anon: [stack] (main thread)";
    } else if (!r.path.empty() && r.path[0] == '[') {
      key = "kernel: " + r.path;
    } else if (!r.path.empty()) {
      std::string name = r.path.substr(r.path.rfind('/') + 1);
      key = r.path == binary ? "file: rollback-sidecar (binary)" : "file: " + name;
    } else {
      const bool guard_before = i > 0 && regions[i - 1].perms.rfind("---p", 0) == 0 && regions[i - 1].end == r.start &&
                                regions[i - 1].size_kb() == 4;
      const bool arena =
          (i + 1 < regions.size() && regions[i + 1].path.empty() && regions[i + 1].perms.rfind("---p", 0) == 0 &&
           regions[i + 1].start == r.end && r.size_kb() + regions[i + 1].size_kb() == 65536) ||
          (r.size_kb() == 65536 && r.perms.rfind("rw", 0) == 0);
      if (r.perms.rfind("---p", 0) == 0) {
        key = "anon: guard / reserved (---p)";
      } else if (guard_before && r.size_kb() >= 1024) {
        key = "anon: thread stacks (" + std::to_string(r.size_kb() / 1024) + " MiB each)";
      } else if (arena) {
        key = "anon: malloc arenas of threads (64 MiB reserved each)";
      } else {
        key = "anon: other";
      }
    }
    groups[key].add(r);
  }
  return groups;
}

std::map<std::string, std::string> parse_env_list(const std::string& text) {
  std::map<std::string, std::string> env;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    auto eq = item.find('=');
    if (eq != std::string::npos) env[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return env;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    rs::bench::Options opt(argc, argv);
    if (opt.help()) {
      std::cout << "usage: bench_steady_state [--duration SECONDS] [--warmup SECONDS] [--rate RPS] [--rules N]\n"
                   "                          [--sidecar-scrape 15s] [--sidecar-env K=V,K=V]\n";
      return 0;
    }
    const double duration = opt.num("duration", "RS_BENCH_DURATION", 60);
    const double warmup = opt.num("warmup", "RS_BENCH_WARMUP", 5);
    const double rate = opt.num("rate", "RS_BENCH_RATE", 20);
    // 0: the policy's rules as shipped; N: its query rules copied (each copy's query made distinct,
    // so none is answered from another's) until there are N rules.
    const int wanted_rules = static_cast<int>(opt.num("rules", "RS_BENCH_RULES", 0));
    const std::string sidecar_scrape = opt.str("sidecar-scrape", "RS_BENCH_SIDECAR_SCRAPE", "15s");
    const auto sidecar_env = parse_env_list(opt.str("sidecar-env", "RS_BENCH_SIDECAR_ENV", ""));
    if (!rs::bench::require_tools({"haproxy", "prometheus"})) return 2;
    if (!rs::bench::require_binaries({rs::bench::kSidecarBinary, rs::bench::kWorkloadBinary})) return 2;

    TempDir dir;
    rs::bench::Workload stable(dir, "v1"), canary(dir, "v2");
    const int front_port = rs::testing::free_port();
    const int admin_port = rs::testing::free_port();
    const int sidecar_port = rs::testing::free_port();
    rs::testing::HaproxyServer haproxy(
        rs::bench::haproxy_config(front_port, admin_port, "", stable.address(), canary.address()));
    haproxy.start({front_port, admin_port});

    // probe_success for the health-check rule.
    std::unique_ptr<Process> blackbox;
    std::unique_ptr<rs::testing::FakeHttpServer> static_probe;
    std::string probe_job;
    const std::string blackbox_bin = rs::testing::find_binary("prometheus-blackbox-exporter");
    if (!blackbox_bin.empty()) {
      const int port = rs::testing::free_port();
      rs::testing::write_file(dir.file("blackbox.yml"), "modules:\n  http_2xx:\n    prober: http\n    timeout: 2s\n");
      blackbox =
          std::make_unique<Process>(std::vector<std::string>{blackbox_bin, "--config.file=" + dir.file("blackbox.yml"),
                                                             "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                                    dir.file("blackbox.log"));
      if (!rs::testing::wait_http_ok("http://127.0.0.1:" + std::to_string(port) + "/metrics", 15s))
        throw std::runtime_error("blackbox exporter not up; log:\n" + blackbox->log());
      probe_job =
          "  - job_name: blackbox\n    metrics_path: /probe\n"
          "    params: {module: [http_2xx], target: ['" +
          canary.url() +
          "/health']}\n"
          "    static_configs:\n      - targets: ['127.0.0.1:" +
          std::to_string(port) +
          "']\n"
          "        labels: {service: checkout, version: v2}\n";
    } else {
      static_probe = std::make_unique<rs::testing::FakeHttpServer>();
      static_probe->set_metrics("probe_success 1\n");
      probe_job = "  - job_name: probe\n    static_configs:\n      - targets: ['127.0.0.1:" +
                  std::to_string(static_probe->port()) + "']\n        labels: {service: checkout, version: v2}\n";
    }

    rs::testing::PrometheusServer::Options popt;
    popt.scrape_interval = "1s";
    popt.evaluation_interval = "1s";
    popt.extra_scrape_configs =
        "  - job_name: demo\n    static_configs:\n"
        "      - targets: ['" +
        stable.address() +
        "']\n        labels: {service: checkout, version: v1}\n"
        "      - targets: ['" +
        canary.address() + "']\n        labels: {service: checkout, version: v2}\n" + probe_job +
        "  - job_name: rollback-sidecar\n    scrape_interval: " + sidecar_scrape +
        "\n    static_configs:\n      - targets: ['127.0.0.1:" + std::to_string(sidecar_port) + "']\n";
    rs::testing::PrometheusServer prometheus(popt);
    prometheus.start();

    Process load({rs::bench::kWorkloadBinary, "load", "--url", "http://127.0.0.1:" + std::to_string(front_port) + "/",
                  "--rate", fixed(rate, 2), "--concurrency", "4", "--report-interval", "60s"},
                 dir.file("load.log"));

    // policies/default.yml: every rule as shipped; interval 1s and this environment's addresses.
    YAML::Node config = YAML::LoadFile(std::string(RS_SOURCE_DIR) + "/policies/default.yml");
    config["evaluation_interval"] = "1s";
    config["prometheus"]["url"] = prometheus.url();
    config["listen"] = "127.0.0.1:" + std::to_string(sidecar_port);
    config["state_file"] = dir.file("state.json");
    config["actuators"][0]["address"] = "127.0.0.1:" + std::to_string(admin_port);
    if (wanted_rules > 0) {
      YAML::Node shipped = YAML::Clone(config["rules"]);
      YAML::Node rules(YAML::NodeType::Sequence);
      for (int copy = 0; static_cast<int>(rules.size()) < wanted_rules; ++copy) {
        for (const auto& rule : shipped) {
          if (static_cast<int>(rules.size()) >= wanted_rules) break;
          if (copy > 0 && !rule["query"]) continue;  // a sequential test has no query of its own
          YAML::Node r = YAML::Clone(rule);
          if (copy > 0) {
            r["name"] = rule["name"].as<std::string>() + "-" + std::to_string(copy + 1);
            r["query"] = "(" + rule["query"].as<std::string>() + ") + 0 * " + std::to_string(copy);
          }
          rules.push_back(r);
        }
      }
      config["rules"] = rules;
    }
    YAML::Emitter emitter;
    emitter << config;
    rs::testing::write_file(dir.file("sidecar.yml"), std::string(emitter.c_str()) + "\n");
    const std::size_t rule_count = config["rules"].size();

    Process sidecar({rs::bench::kSidecarBinary, "--config", dir.file("sidecar.yml")}, dir.file("sidecar.log"),
                    sidecar_env);
    const std::string sidecar_url = "http://127.0.0.1:" + std::to_string(sidecar_port);
    std::string why;
    if (!rs::testing::wait_http_ok(sidecar_url + "/readyz", 30s, &why))
      throw std::runtime_error("sidecar not ready: " + why + "\n" + rs::bench::tail(sidecar.log()));
    nlohmann::json status;
    const bool all_values = rs::testing::wait_until(
        [&] {
          status = rs::bench::get_json(sidecar_url + "/api/v1/status");
          if (!status.is_object() || status["rules"].size() != rule_count) return false;
          for (const auto& r : status["rules"])
            if (!r["value"].is_number()) return false;
          return true;
        },
        90s, 500ms);
    if (!all_values) {
      std::cout << "warning: not every rule had a value after 90s; measuring anyway. status:\n"
                << status.dump(2) << "\n";
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(warmup));

    const pid_t pid = sidecar.pid();
    const long ticks_per_second = sysconf(_SC_CLK_TCK);
    const int evaluations0 = rs::bench::get_json(sidecar_url + "/api/v1/status").value("evaluations", 0);
    const long long cpu0 = rs::bench::proc_cpu_ticks(pid);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<double> rss_samples;
    while (std::chrono::steady_clock::now() - t0 < std::chrono::duration<double>(duration)) {
      rss_samples.push_back(rs::bench::proc_status_kb(pid, "VmRSS") / 1024.0);
      std::this_thread::sleep_for(1s);
    }
    const long long cpu1 = rs::bench::proc_cpu_ticks(pid);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    status = rs::bench::get_json(sidecar_url + "/api/v1/status");
    const int evaluations = status.value("evaluations", 0) - evaluations0;

    const double cpu_seconds = static_cast<double>(cpu1 - cpu0) / static_cast<double>(ticks_per_second);
    double rss_sum = 0, rss_min = 1e18, rss_max = 0;
    for (double v : rss_samples) {
      rss_sum += v;
      rss_min = std::min(rss_min, v);
      rss_max = std::max(rss_max, v);
    }
    const double rss_now = rs::bench::proc_status_kb(pid, "VmRSS") / 1024.0;
    const double hwm = rs::bench::proc_status_kb(pid, "VmHWM") / 1024.0;

    std::cout << "bench_steady_state: rollback-sidecar (pid " << pid << "), policies/default.yml (" << rule_count
              << (wanted_rules > 0 ? " rules, copied" : " rules") << ") at evaluation_interval 1s, load " << rate
              << " rps, Prometheus scrapes the sidecar every " << sidecar_scrape
              << (sidecar_env.empty() ? "" : ", sidecar env " + opt.str("sidecar-env", "RS_BENCH_SIDECAR_ENV", ""))
              << (blackbox ? "" : " (static probe_success: no blackbox exporter)") << "\n";
    std::cout << "window: " << fixed(wall, 1) << " s after " << warmup
              << " s warm-up; evaluations in window: " << evaluations
              << "; deployment state: " << status.value("state", "?") << "\n";
    for (const auto& r : status["rules"])
      std::cout << "  rule " << r.value("name", "?") << ": state " << r.value("state", "?") << ", value "
                << r["value"].dump() << "\n";
    std::cout << "CPU:  " << fixed(100.0 * cpu_seconds / wall, 3) << " % of one core (" << fixed(cpu_seconds, 2)
              << " s CPU in " << fixed(wall, 1) << " s; " << fixed(1000.0 * cpu_seconds / std::max(evaluations, 1), 2)
              << " ms CPU per evaluation)   target <= 0.3 %\n";
    std::cout << "RSS:  " << fixed(rss_now, 2) << " MiB now (VmRSS min " << fixed(rss_min, 2) << " / mean "
              << fixed(rss_sum / std::max<std::size_t>(rss_samples.size(), 1), 2) << " / max " << fixed(rss_max, 2)
              << "), VmHWM " << fixed(hwm, 2) << " MiB   target <= 10 MiB\n";
    std::cout << "      RssAnon " << fixed(rs::bench::proc_status_kb(pid, "RssAnon") / 1024.0, 2) << " MiB, RssFile "
              << fixed(rs::bench::proc_status_kb(pid, "RssFile") / 1024.0, 2) << " MiB, VmSize "
              << fixed(rs::bench::proc_status_kb(pid, "VmSize") / 1024.0, 1) << " MiB\n";

    auto threads = rs::bench::proc_threads(pid);
    int thread_total = 0;
    std::string names;
    for (const auto& [name, n] : threads) {
      thread_total += n;
      names += " " + name + " x" + std::to_string(n);
    }
    std::cout << "threads: " << thread_total << " (" << rs::bench::trim(names) << ")\n";

    const auto regions = read_smaps(pid);
    auto groups = group_smaps(regions, rs::bench::kSidecarBinary);
    std::vector<std::pair<std::string, Group>> sorted(groups.begin(), groups.end());
    std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.rss > b.second.rss; });
    Group total;
    std::printf("memory by mapping (kB, from /proc/%d/smaps):\n", pid);
    std::printf("  %-58s %4s %9s %7s %7s %7s %7s\n", "group", "maps", "size", "rss", "pss", "private", "anon");
    for (const auto& [name, g] : sorted) {
      total.regions += g.regions;
      total.size += g.size;
      total.rss += g.rss;
      total.pss += g.pss;
      total.priv += g.priv;
      total.anon += g.anon;
      if (g.rss == 0 && g.size < 1024) continue;
      std::printf("  %-58s %4d %9ld %7ld %7ld %7ld %7ld\n", name.c_str(), g.regions, g.size, g.rss, g.pss, g.priv,
                  g.anon);
    }
    std::printf("  %-58s %4d %9ld %7ld %7ld %7ld %7ld\n", "total", total.regions, total.size, total.rss, total.pss,
                total.priv, total.anon);
    sidecar.stop();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
