// bench_fleet: the cost a fleet of sidecars puts on one Prometheus (issue #14, "Cost on
// Prometheus"), for each way the sidecars can query it.
//
// Environment (real processes on loopback, free ports, one temp dir): demo-workload serve v1 and
// v2, each loaded directly by a `demo-workload load` (--rate/2 each); a static exporter for
// probe_success; and per mode a fresh Prometheus scraping them every 1 s. Then --sidecars copies
// of the real rollback-sidecar binary, each with the same config: policies/default.yml (every
// rule as shipped) at evaluation_interval 1s, dry_run, plus one `notify` twin of error-rate,
// latency-p95 and health-check-failures that shares its rule's queries (the same signal paging
// at one severity and rolling back at another: the shape that makes shared queries common).
//
// Modes (--modes, default all three):
//   raw       every query slot sent, as before identical queries were merged (the twins' copies
//             are made textually distinct with a trailing space, so Client::query_all cannot
//             merge them: what the sidecar sent before the dedupe)
//   dedupe    the same config as is: identical queries once per tick
//   recorded  use_recording_rules: true; Prometheus loads the recording group of
//             `rollback-sidecar rules` (only that group: the alert rules are not part of the cost)
// For each mode, once every sidecar is ready, --warmup seconds, then --duration seconds measured:
//   Prometheus CPU      delta(utime+stime) of /proc/<pid>/stat over wall time, % of one core
//   queries/s           delta of Prometheus's prometheus_http_requests_total{handler="/api/v1/query"}
//   rule evals/s        delta of prometheus_rule_evaluations_total (recording rules, recorded mode)
//   latency p50/p99     the sidecars' rollback_sidecar_query_duration_seconds (all sidecars, all
//                       rules, bucket deltas over the window, linear within a bucket), and
//                       Prometheus's own prometheus_engine_query_duration_seconds{slice="inner_eval"}
//                       quantiles (its summary: the last 10 min, recording rules included)
//   samples/query       one tick's distinct queries sent once more with stats=all:
//                       data.stats.samples.totalQueryableSamples, summed and per query
//   overruns            sum over the sidecars of rollback_sidecar_evaluation_overruns_total
//                       (ticks skipped because an evaluation ran past the next one: must be 0)
//   sidecars CPU        the fleet's own CPU, % of one core (it shares the machine with Prometheus)
// Prints numbers, asserts nothing (exit 0 unless the environment could not be set up).
//
// Usage: bench_fleet [--sidecars 100] [--duration 60] [--warmup 10] [--rate 20]
//                    [--modes raw,dedupe,recorded] [--max-connections N]
//   --max-connections: Prometheus's --web.max-connections (default: Prometheus's own, 512). Each
//   sidecar keeps one connection per query of its batch open, so N sidecars need N x that many.
//   RS_KEEP_TEST_DIRS=1 keeps the temp dir (configs, logs of every process).
//   env: RS_BENCH_SIDECARS, RS_BENCH_DURATION, RS_BENCH_WARMUP, RS_BENCH_RATE, RS_BENCH_MODES,
//        RS_BENCH_MAX_CONNECTIONS.
#include <yaml-cpp/yaml.h>

#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "bench/bench_support.h"
#include "sidecar/config/config.h"
#include "sidecar/core/rule_queries.h"

namespace {

using rs::bench::fixed;
using rs::testing::Process;
using rs::testing::TempDir;
using namespace std::chrono_literals;

enum class Mode { kRaw, kDedupe, kRecorded };

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kRaw: return "raw";
    case Mode::kDedupe: return "dedupe";
    case Mode::kRecorded: return "recorded";
  }
  return "?";
}

std::vector<Mode> parse_modes(const std::string& text) {
  std::vector<Mode> out;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item == "raw") {
      out.push_back(Mode::kRaw);
    } else if (item == "dedupe") {
      out.push_back(Mode::kDedupe);
    } else if (item == "recorded") {
      out.push_back(Mode::kRecorded);
    } else {
      throw std::runtime_error("--modes: unknown mode '" + item + "' (raw, dedupe, recorded)");
    }
  }
  return out;
}

// Sum of the samples of `name` in a text exposition whose labels contain every `match` pair.
double exposition_sum(const std::string& text, const std::string& name,
                      const std::vector<std::pair<std::string, std::string>>& match = {}) {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.compare(0, name.size(), name) != 0) continue;
    if (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' ') continue;
    bool all = true;
    for (const auto& [k, v] : match) all &= line.find(k + "=\"" + v + "\"") != std::string::npos;
    if (!all) continue;
    sum += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return sum;
}

// Cumulative bucket counts of the sidecars' query duration histogram, by upper bound.
std::map<double, double> query_buckets(const std::string& text) {
  std::map<double, double> out;
  std::istringstream in(text);
  std::string line;
  const std::string name = "rollback_sidecar_query_duration_seconds_bucket{";
  while (std::getline(in, line)) {
    if (line.compare(0, name.size(), name) != 0) continue;
    auto le = line.find(",le=\"");  // not the end of rule="..."
    if (le == std::string::npos) le = line.find("{le=\"");
    if (le == std::string::npos) continue;
    le += 1;
    const std::string bound = line.substr(le + 4, line.find('"', le + 4) - le - 4);
    const double b = bound == "+Inf" ? HUGE_VAL : std::strtod(bound.c_str(), nullptr);
    out[b] += std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return out;
}

// Quantile q of a cumulative histogram (bound -> count), linear within a bucket.
double histogram_quantile(double q, const std::map<double, double>& cumulative) {
  if (cumulative.empty()) return std::nan("");
  const double total = cumulative.rbegin()->second;
  if (total <= 0) return std::nan("");
  const double rank = q * total;
  double lower = 0, below = 0;
  for (const auto& [bound, count] : cumulative) {
    if (count >= rank) {
      if (std::isinf(bound)) return lower;  // beyond the last finite bound: report that bound
      return lower + (bound - lower) * (count > below ? (rank - below) / (count - below) : 0);
    }
    lower = bound;
    below = count;
  }
  return lower;
}

struct Sidecar {
  int port = 0;
  std::unique_ptr<Process> process;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

struct Result {
  Mode mode;
  int sidecars = 0;
  std::size_t slots = 0, sent_per_tick = 0;
  double wall = 0, prometheus_cpu = 0, fleet_cpu = 0, queries_per_second = 0, rule_evals_per_second = 0;
  double p50 = 0, p99 = 0, prom_p50 = 0, prom_p99 = 0;
  double samples_per_tick = 0, samples_per_query = 0;
  double overruns = 0, overruns_in_window = 0;
  std::map<std::string, int> states;  // every rule's state after the window -> how many sidecars
};

// The fleet's config for `mode` (YAML text), from policies/default.yml.
std::string fleet_config(Mode mode, const std::string& prometheus_url, int listen_port) {
  YAML::Node config = YAML::LoadFile(std::string(RS_SOURCE_DIR) + "/policies/default.yml");
  config["evaluation_interval"] = "1s";
  config["prometheus"]["url"] = prometheus_url;
  config["listen"] = "127.0.0.1:" + std::to_string(listen_port);
  config["dry_run"] = true;
  config.remove("state_file");
  config.remove("actuators");
  if (mode == Mode::kRecorded) config["use_recording_rules"] = true;
  // The twins: the same queries, a page (notify) instead of a rollback.
  YAML::Node rules = config["rules"];
  std::vector<YAML::Node> twins;
  for (const auto& rule : rules) {
    const std::string name = rule["name"].as<std::string>();
    if (name != "error-rate" && name != "latency-p95" && name != "health-check-failures") continue;
    YAML::Node twin = YAML::Clone(rule);
    twin["name"] = name + "-page";
    twin["action"] = "notify";
    twin["severity"] = "sev3";
    twin.remove("stages");
    if (mode == Mode::kRaw) {  // textually distinct: sent again, as before the dedupe
      twin["query"] = twin["query"].as<std::string>() + " ";
      if (twin["baseline"]) twin["baseline"]["query"] = twin["baseline"]["query"].as<std::string>() + " ";
      if (twin["min_samples"]) twin["min_samples"]["query"] = twin["min_samples"]["query"].as<std::string>() + " ";
    }
    twins.push_back(twin);
  }
  for (auto& t : twins) rules.push_back(t);
  YAML::Emitter out;
  out << config;
  return std::string(out.c_str()) + "\n";
}

// The recording group of `rollback-sidecar rules` for `config_path` (the alert group dropped).
std::string recording_rules(const TempDir& dir, const std::string& config_path) {
  const std::string out = dir.file("rules-all.yml");
  Process generate({rs::bench::kSidecarBinary, "rules", "--config", config_path}, out);
  const int status = generate.wait_exit(30s);
  if (status != 0) throw std::runtime_error("rollback-sidecar rules failed:\n" + rs::testing::read_file(out));
  YAML::Node all = YAML::LoadFile(out);
  YAML::Node groups(YAML::NodeType::Sequence);
  for (const auto& g : all["groups"]) {
    const std::string name = g["name"].as<std::string>();
    if (name.size() > 8 && name.compare(name.size() - 8, 8, "-queries") == 0) groups.push_back(g);
  }
  if (groups.size() != 1) throw std::runtime_error("no recording group in `rollback-sidecar rules` output");
  YAML::Node file;
  file["groups"] = groups;
  YAML::Emitter emitter;
  emitter << file;
  return std::string(emitter.c_str()) + "\n";
}

// One tick's queries for the config (distinct ones unless `all_slots`), with Prometheus's
// stats=all: total samples scanned.
std::pair<std::size_t, double> samples_of_one_tick(const std::string& prometheus_url, const std::string& config_text,
                                                   std::size_t* slots) {
  rs::sidecar::LoadResult loaded =
      rs::sidecar::load_config_text(config_text, "fleet.yml", rs::actuators::Registry::builtin());
  if (!loaded.loaded) {
    std::string errors;
    for (const auto& e : loaded.errors) errors += e.to_string("fleet.yml") + "\n";
    throw std::runtime_error("fleet config rejected:\n" + errors);
  }
  const rs::sidecar::RuleQueries queries = rs::sidecar::rule_queries_for(loaded.loaded->config);
  *slots = queries.size();
  std::set<std::string> distinct(queries.queries().begin(), queries.queries().end());
  const std::string at = fixed(rs::bench::wall_now() - 1, 3);
  double total = 0;
  for (const auto& q : distinct) {
    std::string error;
    const nlohmann::json data = rs::bench::prometheus_api(prometheus_url, "/api/v1/query",
                                                          {{"query", q}, {"time", at}, {"stats", "all"}}, &error);
    if (data.is_null()) throw std::runtime_error("stats query failed: " + error + "\n  " + q);
    total += data["stats"]["samples"].value("totalQueryableSamples", 0.0);
  }
  return {distinct.size(), total};
}

Result run_mode(Mode mode, int count, double warmup, double duration, const TempDir& dir,
                const std::string& scrape_configs, int probe_port, int max_connections) {
  Result r;
  r.mode = mode;
  r.sidecars = count;
  const std::string tag = mode_name(mode);
  rs::testing::PrometheusServer::Options popt;
  popt.scrape_interval = "1s";
  popt.evaluation_interval = "1s";
  popt.extra_scrape_configs = scrape_configs;
  popt.targets = {"127.0.0.1:" + std::to_string(probe_port)};
  if (max_connections > 0) popt.extra_args = {"--web.max-connections=" + std::to_string(max_connections)};
  popt.job = "probe";
  // The rule file is named before Prometheus is made (it picks its port then) and written before
  // start() copies it in: the configs need Prometheus's URL, the rules the config.
  if (mode == Mode::kRecorded) popt.rule_files = {dir.file(tag + "-rules.yml")};
  rs::testing::PrometheusServer prometheus(popt);
  const std::string sample_config = fleet_config(mode, prometheus.url(), rs::testing::free_port());
  rs::testing::write_file(dir.file(tag + "-sample.yml"), sample_config);
  if (mode == Mode::kRecorded) {
    rs::testing::write_file(dir.file(tag + "-rules.yml"), recording_rules(dir, dir.file(tag + "-sample.yml")));
  }
  prometheus.start();
  if (!prometheus.wait_scraped(60s)) throw std::runtime_error("Prometheus never scraped:\n" + prometheus.log());

  std::vector<Sidecar> fleet(count);
  for (int i = 0; i < count; ++i) {
    fleet[i].port = rs::testing::free_port();
    const std::string path = dir.file(tag + "-sidecar-" + std::to_string(i) + ".yml");
    rs::testing::write_file(path, fleet_config(mode, prometheus.url(), fleet[i].port));
    fleet[i].process = std::make_unique<Process>(
        std::vector<std::string>{rs::bench::kSidecarBinary, "--config", path, "--log-level", "warn"},
        dir.file(tag + "-sidecar-" + std::to_string(i) + ".log"));
  }
  for (auto& s : fleet) {
    std::string why;
    if (!rs::testing::wait_http_ok(s.url() + "/readyz", 60s, &why)) {
      throw std::runtime_error("sidecar on " + s.url() + " not ready: " + why + "\n" +
                               rs::bench::tail(s.process->log()));
    }
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));

  // Generous timeouts: an overloaded Prometheus (or sidecar) is slow to answer, and an empty answer
  // would read as zero queries.
  auto prometheus_metrics = [&] {
    return rs::testing::http_request("GET", prometheus.url() + "/metrics", "", {}, 30000ms).body;
  };
  auto fleet_metrics = [&](double* overruns) {
    std::string all;
    *overruns = 0;
    for (auto& s : fleet) {
      const std::string text = rs::testing::http_request("GET", s.url() + "/metrics", "", {}, 10000ms).body;
      *overruns += exposition_sum(text, "rollback_sidecar_evaluation_overruns_total");
      all += text;
    }
    return all;
  };
  auto fleet_ticks = [&] {
    long long sum = 0;
    for (auto& s : fleet) sum += std::max(0LL, rs::bench::proc_cpu_ticks(s.process->pid()));
    return sum;
  };
  const pid_t pid = prometheus.pid();
  const long hz = sysconf(_SC_CLK_TCK);
  double overruns0 = 0;
  const std::map<double, double> buckets0 = query_buckets(fleet_metrics(&overruns0));
  const std::string p0 = prometheus_metrics();
  const long long cpu0 = rs::bench::proc_cpu_ticks(pid), fleet0 = fleet_ticks();
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(duration));
  const long long cpu1 = rs::bench::proc_cpu_ticks(pid), fleet1 = fleet_ticks();
  r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string p1 = prometheus_metrics();
  double overruns1 = 0;
  std::map<double, double> buckets1 = query_buckets(fleet_metrics(&overruns1));

  r.prometheus_cpu = 100.0 * static_cast<double>(cpu1 - cpu0) / static_cast<double>(hz) / r.wall;
  r.fleet_cpu = 100.0 * static_cast<double>(fleet1 - fleet0) / static_cast<double>(hz) / r.wall;
  const std::vector<std::pair<std::string, std::string>> query_handler{{"handler", "/api/v1/query"}};
  r.queries_per_second = (exposition_sum(p1, "prometheus_http_requests_total", query_handler) -
                          exposition_sum(p0, "prometheus_http_requests_total", query_handler)) /
                         r.wall;
  r.rule_evals_per_second = (exposition_sum(p1, "prometheus_rule_evaluations_total") -
                             exposition_sum(p0, "prometheus_rule_evaluations_total")) /
                            r.wall;
  for (auto& [bound, n] : buckets1) n -= buckets0.count(bound) ? buckets0.at(bound) : 0;
  r.p50 = histogram_quantile(0.5, buckets1);
  r.p99 = histogram_quantile(0.99, buckets1);
  r.prom_p50 =
      exposition_sum(p1, "prometheus_engine_query_duration_seconds", {{"slice", "inner_eval"}, {"quantile", "0.5"}});
  r.prom_p99 =
      exposition_sum(p1, "prometheus_engine_query_duration_seconds", {{"slice", "inner_eval"}, {"quantile", "0.99"}});
  r.overruns = overruns1;
  r.overruns_in_window = overruns1 - overruns0;
  for (auto& s : fleet) {
    const nlohmann::json status = rs::bench::get_json(s.url() + "/api/v1/status");
    if (!status.is_object()) continue;
    std::string states;
    for (const auto& rule : status["rules"]) states += " " + rule.value("name", "?") + "=" + rule.value("state", "?");
    ++r.states[states];
  }
  // After the window and with the fleet stopped: these queries are not part of the measured load,
  // and an overloaded Prometheus answers them in time.
  for (auto& s : fleet) s.process->stop();
  const auto [distinct, samples] = samples_of_one_tick(prometheus.url(), sample_config, &r.slots);
  r.sent_per_tick = distinct;
  r.samples_per_tick = samples;
  r.samples_per_query = distinct ? samples / static_cast<double>(distinct) : 0;
  if (mode != Mode::kRaw) return r;
  // raw: every slot is a request, the repeated ones too (they scan as much as their first copy).
  r.sent_per_tick = r.slots;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    rs::bench::Options opt(argc, argv);
    if (opt.help()) {
      std::cout << "usage: bench_fleet [--sidecars 100] [--duration 60] [--warmup 10] [--rate 20]\n"
                   "                   [--modes raw,dedupe,recorded] [--max-connections N]\n";
      return 0;
    }
    const int sidecars = static_cast<int>(opt.num("sidecars", "RS_BENCH_SIDECARS", 100));
    const double duration = opt.num("duration", "RS_BENCH_DURATION", 60);
    const double warmup = opt.num("warmup", "RS_BENCH_WARMUP", 10);
    const double rate = opt.num("rate", "RS_BENCH_RATE", 20);
    // 0: Prometheus's default (512). Each sidecar holds one connection per query of its batch.
    const int max_connections = static_cast<int>(opt.num("max-connections", "RS_BENCH_MAX_CONNECTIONS", 0));
    const std::vector<Mode> modes = parse_modes(opt.str("modes", "RS_BENCH_MODES", "raw,dedupe,recorded"));
    if (!rs::bench::require_tools({"prometheus"})) return 2;
    if (!rs::bench::require_binaries({rs::bench::kSidecarBinary, rs::bench::kWorkloadBinary})) return 2;

    TempDir dir;
    rs::bench::Workload stable(dir, "v1"), canary(dir, "v2");
    rs::testing::FakeHttpServer probe;
    // probe_success for the health rule, scraped as the harness's own job (its readiness probe).
    probe.set_metrics("probe_success{service=\"checkout\",version=\"v2\"} 1\n");
    const std::string scrape_configs =
        "  - job_name: demo\n    static_configs:\n"
        "      - targets: ['" +
        stable.address() +
        "']\n        labels: {service: checkout, version: v1}\n"
        "      - targets: ['" +
        canary.address() + "']\n        labels: {service: checkout, version: v2}\n";
    std::vector<std::unique_ptr<Process>> load;
    for (const auto* w : {&stable, &canary}) {
      load.push_back(std::make_unique<Process>(
          std::vector<std::string>{rs::bench::kWorkloadBinary, "load", "--url", w->url() + "/", "--rate",
                                   fixed(rate / 2, 2), "--concurrency", "2", "--report-interval", "60s"},
          dir.file("load-" + std::to_string(load.size()) + ".log")));
    }

    std::cout << "bench_fleet: " << sidecars << " sidecars (policies/default.yml + 3 notify twins sharing queries, "
              << "evaluation_interval 1s, dry_run) against one Prometheus (scrape 1s), load " << rate << " rps, "
              << fixed(duration, 0) << " s measured after " << fixed(warmup, 0) << " s warm-up, "
              << std::thread::hardware_concurrency() << " CPUs, Prometheus --web.max-connections "
              << (max_connections > 0 ? std::to_string(max_connections) : std::string("512 (default)")) << "\n";
    std::cout << "| mode | slots/tick | sent/tick | Prometheus CPU % | queries/s | rule evals/s | sidecar query p50 / "
                 "p99 ms | Prometheus inner_eval p50 / p99 ms | samples/tick | samples/query | overruns (window / "
                 "total) | fleet CPU % |\n";
    std::cout << "|---|---|---|---|---|---|---|---|---|---|---|---|\n" << std::flush;
    std::vector<Result> results;
    for (Mode mode : modes) {  // each row as soon as its mode is done: a later failure keeps it
      std::cerr << "bench_fleet: " << mode_name(mode) << ": starting Prometheus and " << sidecars << " sidecars\n";
      results.push_back(run_mode(mode, sidecars, warmup, duration, dir, scrape_configs, probe.port(), max_connections));
      const Result& r = results.back();
      std::cout << "| " << mode_name(r.mode) << " | " << r.slots << " | " << r.sent_per_tick << " | "
                << fixed(r.prometheus_cpu, 1) << " | " << fixed(r.queries_per_second, 1) << " | "
                << fixed(r.rule_evals_per_second, 1) << " | " << fixed(r.p50 * 1000, 1) << " / "
                << fixed(r.p99 * 1000, 1) << " | " << fixed(r.prom_p50 * 1000, 2) << " / "
                << fixed(r.prom_p99 * 1000, 2) << " | " << fixed(r.samples_per_tick, 0) << " | "
                << fixed(r.samples_per_query, 1) << " | " << fixed(r.overruns_in_window, 0) << " / "
                << fixed(r.overruns, 0) << " | " << fixed(r.fleet_cpu, 1) << " |\n"
                << std::flush;
    }
    // The modes must judge alike: the same states everywhere (a sequential test stays
    // insufficient until it has seen enough requests).
    std::cout << "rule states after the window:\n";
    for (const auto& r : results) {
      for (const auto& [states, n] : r.states) {
        std::cout << "  " << mode_name(r.mode) << ", " << n << " sidecar(s):" << states << "\n";
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
