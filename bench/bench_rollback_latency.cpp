// bench_rollback_latency: decision -> HAProxy state verified, against a real HAProxy.
//
// HAProxy runs with backend app = servers stable + canary (weight 100 each, on free ports,
// no health checks) and its runtime API on a TCP socket and a unix socket (level admin).
// Every iteration first resets the canary (runtime API "set weight app/canary 50", not timed),
// then times one rollback until it returns verified (kChanged). Four variants:
//
//   actuator/tcp, actuator/unix   HaproxyActuator::rollback() alone (read state, set weight 0,
//                                 read state again to verify).
//   decision/tcp, decision/unix   what Engine::execute_rollback() times as
//                                 rollback_duration_seconds: StateStore::save() of the
//                                 rolling_back state (write temp, fsync, rename, fsync dir) +
//                                 RollbackExecutor::run() (actuator call, actuator_calls_total,
//                                 info log line to a file).
//
// Prints p50/p90/p99/max/mean in milliseconds. Target: p99 <= 10 ms. Asserts nothing.
//
// Usage: bench_rollback_latency [--iterations N] [--warmup N] [--state-dir DIR]
//   env: RS_BENCH_ITERATIONS, RS_BENCH_WARMUP, RS_BENCH_STATE_DIR (default: a temp dir;
//   point it at the filesystem that will hold state_file in production: fsync cost differs).
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <functional>
#include <iostream>

#include "actuators/haproxy/haproxy.h"
#include "bench/bench_support.h"
#include "common/clock.h"
#include "sidecar/policy/decision.h"
#include "sidecar/rollback/rollback_executor.h"
#include "sidecar/core/self_metrics.h"
#include "sidecar/core/state_store.h"

namespace {

using rs::bench::fixed;
using rs::bench::percentile;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;
namespace act = rs::actuators;
namespace sc = rs::sidecar;

struct Result {
  std::string name;
  std::vector<double> ms;
  int failures = 0;
  std::string last_failure;
};

void print_header() {
  std::printf("%-16s %6s %5s %9s %9s %9s %9s %9s\n", "variant", "n", "fail", "p50_ms", "p90_ms", "p99_ms", "max_ms",
              "mean_ms");
}

void print_row(Result r) {
  std::sort(r.ms.begin(), r.ms.end());
  double sum = 0;
  for (double v : r.ms) sum += v;
  std::printf("%-16s %6zu %5d %9s %9s %9s %9s %9s\n", r.name.c_str(), r.ms.size(), r.failures,
              fixed(percentile(r.ms, 50)).c_str(), fixed(percentile(r.ms, 90)).c_str(),
              fixed(percentile(r.ms, 99)).c_str(), fixed(r.ms.empty() ? NAN : r.ms.back()).c_str(),
              fixed(r.ms.empty() ? NAN : sum / r.ms.size()).c_str());
  if (r.failures) std::printf("  last failure: %s\n", r.last_failure.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    rs::bench::Options opt(argc, argv);
    if (opt.help()) {
      std::cout << "usage: bench_rollback_latency [--iterations N] [--warmup N] [--state-dir DIR]\n";
      return 0;
    }
    const int iterations = static_cast<int>(opt.num("iterations", "RS_BENCH_ITERATIONS", 1000));
    const int warmup = static_cast<int>(opt.num("warmup", "RS_BENCH_WARMUP", 20));
    if (!rs::bench::require_tools({"haproxy"})) return 2;

    rs::testing::TempDir dir;
    const std::string state_dir = opt.str("state-dir", "RS_BENCH_STATE_DIR", dir.path());
    const int admin_port = rs::testing::free_port();
    const std::string unix_path = dir.file("admin.sock");
    rs::testing::HaproxyServer haproxy(
        rs::bench::haproxy_config(0, admin_port, unix_path, "127.0.0.1:" + std::to_string(rs::testing::free_port()),
                                  "127.0.0.1:" + std::to_string(rs::testing::free_port())));
    haproxy.start({admin_port});
    if (!rs::testing::wait_until([&] { return access(unix_path.c_str(), F_OK) == 0; }, 10s, 10ms)) {
      std::cerr << "error: HAProxy did not create " << unix_path << "\n" << haproxy.log();
      return 1;
    }

    // The executor logs at info like the daemon; to a file here so stdout keeps the numbers.
    auto logger = spdlog::basic_logger_mt("bench", dir.file("sidecar.log"));
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::info);

    std::vector<std::string> states = sc::deployment_state_names();
    sc::SelfMetrics metrics("bench", {"error-rate"}, states);
    metrics.declare_actuator("haproxy");
    rs::SystemClock clock;
    sc::StateStore store(state_dir + "/bench-state.json");

    act::DecisionContext context{"checkout",   "prod", "canary", "rule",
                                 "error-rate", "0.31", "0.05",   "error-rate 0.31 > 0.05 for 5m"};
    sc::Decision decision;
    decision.id = 1;
    decision.kind = sc::DecisionKind::kRollback;
    decision.rule = "error-rate";
    decision.severity = "sev1";
    decision.query = "sum(rate(http_requests_total{code=~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))";
    decision.comparison = "above";
    decision.value = 0.31;
    decision.threshold = 0.05;
    decision.reason = context.reason;
    sc::PersistedState persisted;
    persisted.identity = "checkout/v2";
    persisted.state = sc::DeploymentState::kRollingBack;

    auto make_actuator = [&](const std::string& address) {
      std::string error;
      auto parsed = act::haproxy::Address::parse(address, &error);
      if (!parsed) throw std::runtime_error("address " + address + ": " + error);
      act::HaproxyOptions o;
      o.address = *parsed;
      o.backend = "app";
      o.canary = "canary";
      o.stable = "stable";
      return std::make_unique<act::HaproxyActuator>(o);
    };
    auto tcp = make_actuator("127.0.0.1:" + std::to_string(admin_port));
    auto unix_socket = make_actuator("unix:" + unix_path);
    sc::RollbackConfig rollback_config;
    rollback_config.deadline = std::chrono::milliseconds(5000);
    sc::RollbackExecutor tcp_executor({tcp.get()}, rollback_config, clock, metrics.actuator_call_counter());
    sc::RollbackExecutor unix_executor({unix_socket.get()}, rollback_config, clock, metrics.actuator_call_counter());

    auto reset = [&] {
      std::string reply = rs::testing::HaproxyServer::runtime_command(admin_port, "set weight app/canary 50");
      if (!rs::bench::trim(reply).empty()) throw std::runtime_error("reset failed: HAProxy answered '" + reply + "'");
    };

    // One timed call: returns "" when verified (kChanged), else the reason.
    using Call = std::function<std::string()>;
    auto actuator_call = [&](act::HaproxyActuator& a) -> Call {
      return [&a, &context] {
        act::ActResult r = a.rollback(context, Steady::now() + 5s);
        if (!r.ok) return "failure: " + r.detail;
        if (r.change != act::Change::kChanged) return "not changed: " + r.detail;
        return std::string();
      };
    };
    auto decision_call = [&](sc::RollbackExecutor& executor) -> Call {
      return [&executor, &store, &persisted, &decision, &context] {
        decision.decided_at = std::chrono::system_clock::now();
        persisted.last_decision = decision;
        std::string error;
        if (!store.save(persisted, &error)) return "state save: " + error;
        sc::ExecutionReport report = executor.run(context);
        if (report.result != sc::RollbackResult::kSuccess)
          return sc::rollback_result_name(report.result) + std::string(": ") +
                 (report.actuators.empty() ? "" : report.actuators.back().detail);
        return std::string();
      };
    };

    struct Variant {
      std::string name;
      Call call;
    };
    std::vector<Variant> variants = {{"actuator/tcp", actuator_call(*tcp)},
                                     {"actuator/unix", actuator_call(*unix_socket)},
                                     {"decision/tcp", decision_call(tcp_executor)},
                                     {"decision/unix", decision_call(unix_executor)}};

    std::printf("bench_rollback_latency: %d iterations per variant (+%d warm-up), state file in %s\n", iterations,
                warmup, state_dir.c_str());
    print_header();
    for (auto& v : variants) {
      Result r;
      r.name = v.name;
      for (int i = 0; i < warmup + iterations; ++i) {
        reset();
        const auto t0 = Steady::now();
        std::string failure = v.call();
        const double ms = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
        if (i < warmup) continue;
        if (failure.empty()) {
          r.ms.push_back(ms);
        } else {
          ++r.failures;
          r.last_failure = failure;
        }
      }
      print_row(r);
    }
    std::printf("target: p99 <= 10 ms (decision -> HAProxy state verified)\n");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
