#include "sidecar/cli.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <cmath>
#include <iostream>
#include <thread>

#include "promql/duration.h"
#include "promql/http_transport.h"
#include "sidecar/common/json_text.h"
#include "sidecar/api.h"
#include "sidecar/engine.h"
#include "sidecar/http_server.h"
#include "sidecar/logging.h"
#include "sidecar/notification_dispatcher.h"
#include "sidecar/prometheus_rules.h"
#include "sidecar/record_keeper.h"
#include "sidecar/scheduler.h"
#include "sidecar/version.h"

namespace po = boost::program_options;

namespace rs::sidecar {
namespace {

constexpr const char* kUsage =
    "rollback-sidecar: rolls a bad deployment back when its Prometheus signals say it hurts customers.\n\n"
    "Usage:\n"
    "  rollback-sidecar [run] --config FILE     evaluate the policy and roll back when it says so\n"
    "  rollback-sidecar check --config FILE [--online]\n"
    "                                           validate FILE; --online also runs every query once\n"
    "                                           and probes every actuator (exit 0 valid, 1 invalid)\n"
    "  rollback-sidecar rules --config FILE     print the rules as a Prometheus rule file\n"
    "  rollback-sidecar rollback --address HOST:PORT --token-file F --reason TEXT [--actor WHO]\n"
    "  rollback-sidecar freeze   --address HOST:PORT --token-file F --reason TEXT [--actor WHO]\n"
    "  rollback-sidecar unfreeze --address HOST:PORT --token-file F [--actor WHO]\n"
    "                                           ask a running sidecar to roll back / (un)freeze\n\n"
    "Options";

std::optional<LoadedConfig> load_or_report(const std::string& path) {
  LoadResult result = load_config_file(path, actuators::Registry::builtin());
  for (const auto& e : result.errors) std::cerr << e.to_string(path) << "\n";
  if (!result.loaded) {
    std::cerr << path << ": " << result.errors.size() << " error(s); config is invalid\n";
    return std::nullopt;
  }
  return std::move(result.loaded);
}

void print_summary(const LoadedConfig& loaded) {
  const Config& c = loaded.config;
  std::cout << c.source_path << ": valid\n"
            << "deployment " << c.deployment.name << " stage " << c.deployment.stage << " strategy "
            << c.deployment.strategy << (c.dry_run ? " (dry run)" : "") << "\n"
            << "prometheus " << c.prometheus.url << ", every " << promql::format_duration(c.evaluation_interval)
            << ", listen " << c.listen << "\n";
  for (const auto& r : c.rules) {
    std::cout << "rule " << r.name << ": " << action_name(r.action) << " when " << comparison_name(r.comparison) << " "
              << format_value(r.threshold) << " for " << promql::format_duration(r.for_duration) << ", delay "
              << promql::format_duration(r.delay) << ", missing " << missing_name(r.missing) << ", " << r.severity
              << (r.stage_override.empty() ? "" : " (stage " + r.stage_override + " override)") << "\n"
              << "  query: " << r.query << "\n";
  }
  for (const auto& a : loaded.actuators) std::cout << "actuator " << a->describe() << "\n";
  for (std::size_t i = 0; i < loaded.notifiers.size(); ++i) {
    std::string messages;
    for (const auto& m : c.notifier_specs[i].messages) messages += (messages.empty() ? "" : ", ") + m;
    std::cout << "notifier " << loaded.notifiers[i]->describe() << ": " << messages << "\n";
  }
}

// Runs each query once and probes each actuator and notifier. Any query error or probe failure
// is invalid.
bool check_online(LoadedConfig& loaded) {
  const Config& c = loaded.config;
  promql::Client client(c.prometheus, promql::make_curl_transport());
  std::vector<std::string> queries;
  for (const auto& r : c.rules) queries.push_back(r.query);
  auto outcomes = client.query_all(queries);
  bool ok = true;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const RuleConfig& r = c.rules[i];
    if (auto* error = std::get_if<promql::QueryError>(&outcomes[i])) {
      std::cout << "query " << r.name << ": ERROR (" << promql::error_reason_name(error->reason)
                << "): " << error->message << "\n";
      ok = false;
      continue;
    }
    const auto& data = std::get<promql::QueryData>(outcomes[i]);
    if (data.samples.empty()) {
      std::cout << "query " << r.name << ": no data (counts as missing: " << missing_name(r.missing) << ")\n";
    }
    for (const auto& s : data.samples) {
      bool breach = r.comparison == Comparison::kAbove ? s.value > r.threshold : s.value < r.threshold;
      std::string labels;
      for (const auto& [k, v] : s.labels) labels += (labels.empty() ? "" : ",") + k + "=\"" + v + "\"";
      std::cout << "query " << r.name << ": " << format_value(s.value) << (labels.empty() ? "" : " {" + labels + "}")
                << " (" << comparison_name(r.comparison) << " " << format_value(r.threshold)
                << (std::isnan(s.value) ? ": no data" : breach ? ": BREACHING" : ": ok") << ")\n";
    }
    for (const auto& w : data.warnings) std::cout << "query " << r.name << ": Prometheus warning: " << w << "\n";
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto& a : loaded.actuators) {
    auto result = a->probe(deadline);
    std::cout << "actuator " << a->describe() << ": " << (result.ok ? "reachable" : "FAILED") << ": " << result.detail
              << "\n";
    ok &= result.ok;
  }
  for (auto& n : loaded.notifiers) {
    auto result = n->probe(std::chrono::seconds(5));
    std::cout << "notifier " << n->describe() << ": " << (result.ok ? "ok" : "FAILED") << ": " << result.detail << "\n";
    ok &= result.ok;
  }
  return ok;
}

int run_sidecar(LoadedConfig& loaded) {
  const Config& config = loaded.config;
  // Signals are taken by one thread with sigwait, so no handler runs inside library code.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::vector<std::string> rule_names;
  for (const auto& r : config.rules) rule_names.push_back(r.name);
  SelfMetrics metrics(RS_VERSION, rule_names, deployment_state_names());
  SystemClock clock;
  promql::Client client(config.prometheus, promql::make_curl_transport());
  StateStore store(config.state_file);
  std::vector<actuators::Actuator*> actuators;
  for (auto& a : loaded.actuators) actuators.push_back(a.get());
  Engine engine(config, actuators, client, clock, metrics, store);
  std::vector<actuators::Actuator*> cleanup;
  for (auto& a : loaded.cleanup_actuators) cleanup.push_back(a.get());
  engine.set_cleanup_actuators(cleanup);
  std::string error;
  if (!engine.restore(&error)) {
    spdlog::critical("{}", error);
    return 1;
  }
  RecordKeeper records(config, metrics);
  if (!records.start(&error)) {
    spdlog::critical("{}", error);
    return 1;
  }
  engine.add_observer(&records);
  records.record_startup(RS_VERSION, deployment_state_name(engine.state()));
  std::vector<NotificationDispatcher::Target> targets;
  for (std::size_t i = 0; i < loaded.notifiers.size(); ++i)
    targets.push_back({loaded.notifiers[i].get(), config.notifier_specs[i]});
  NotificationDispatcher notifications(config, std::move(targets), metrics, clock,
                                       NotificationDispatcher::outbox_path_for(config.state_file),
                                       [&records](const nlohmann::json& fields) { records.record_notification(fields); });
  notifications.start();
  notifications.recover(engine.last_decision());
  engine.add_observer(&notifications);

  // Liveness: a tick must start at least this often, or the loop is wedged.
  const auto stuck_after = 3 * config.evaluation_interval + config.prometheus.timeout + config.rollback.deadline;
  std::atomic<MonoTime::rep> last_tick{clock.mono().time_since_epoch().count()};
  Api api(config, engine, metrics, [&](std::string* why) {
    const auto since = clock.mono() - MonoTime(MonoTime::duration(last_tick.load()));
    if (since <= stuck_after) return true;
    *why = "no evaluation started for " + promql::format_duration(std::chrono::duration_cast<Duration>(since));
    return false;
  });
  HttpServer server(config.api.max_body_bytes,
                    [&metrics](const std::string& route, int status) { metrics.count_api_request(route, status); });
  api.install(server);
  if (!server.start(config.listen, &error)) {
    spdlog::critical("{}", error);
    return 1;
  }
  spdlog::info("rollback-sidecar {} watching deployment {} (stage {}, strategy {}{}): {} rule(s) every {} against {}; "
               "serving on {}",
               RS_VERSION, config.deployment.name, config.deployment.stage, config.deployment.strategy,
               config.dry_run ? ", DRY RUN" : "", config.rules.size(),
               promql::format_duration(config.evaluation_interval), config.prometheus.url, config.listen);

  Scheduler scheduler(
      clock, config.evaluation_interval,
      [&] {
        last_tick = clock.mono().time_since_epoch().count();
        engine.evaluate_once();
      },
      [&](std::uint64_t skipped) {
        metrics.count_evaluation_overruns(static_cast<double>(skipped));
        spdlog::warn("evaluation took longer than evaluation_interval {}; skipped {} tick(s)",
                     promql::format_duration(config.evaluation_interval), skipped);
      });
  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    scheduler.stop();
  });
  scheduler.run();
  // The scheduler only returns after stop(); wake the signal thread if something else ended it.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
  engine.shutdown();
  server.stop();
  notifications.stop();
  records.record_shutdown(deployment_state_name(engine.state()));
  records.stop();
  spdlog::info("stopped; deployment {} is {}", config.deployment.name, deployment_state_name(engine.state()));
  return 0;
}

// rollback / freeze / unfreeze: one authenticated call to a running sidecar's API.
int run_remote(const std::string& command, const po::variables_map& vm) {
  for (const char* required : {"address", "token-file"}) {
    if (!vm.count(required)) {
      std::cerr << "rollback-sidecar " << command << ": --" << required << " is required\n";
      return 2;
    }
  }
  if (command != "unfreeze" && !vm.count("reason")) {
    std::cerr << "rollback-sidecar " << command << ": --reason is required (it goes into the record)\n";
    return 2;
  }
  std::string actor;
  if (vm.count("actor")) {
    actor = vm["actor"].as<std::string>();
  } else {
    const char* user = std::getenv("USER");
    char host[256] = "";
    ::gethostname(host, sizeof host - 1);
    actor = std::string(user ? user : "unknown") + "@" + host;
  }
  std::string token, error;
  {
    std::ifstream in(vm["token-file"].as<std::string>(), std::ios::binary);
    if (!in) {
      std::cerr << "rollback-sidecar: cannot read token file " << vm["token-file"].as<std::string>() << "\n";
      return 1;
    }
    std::ostringstream content;
    content << in.rdbuf();
    token = content.str();
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  }
  nlohmann::json body = {{"actor", actor}};
  if (vm.count("reason")) body["reason"] = vm["reason"].as<std::string>();
  promql::HttpRequest request;
  request.method = command == "rollback" ? "POST" : command == "freeze" ? "PUT" : "DELETE";
  request.url = "http://" + vm["address"].as<std::string>() + (command == "rollback" ? "/api/v1/rollback" : "/api/v1/freeze");
  request.body = common::dump_json(body);
  request.timeout = std::chrono::seconds(10);
  request.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer " + token}};
  auto response = promql::make_curl_transport()->perform(request);
  if (response.error != promql::TransportError::kNone) {
    std::cerr << "rollback-sidecar " << command << ": " << response.error_message << "\n";
    return 1;
  }
  std::cout << response.body;
  if (response.status / 100 != 2) {
    std::cerr << "rollback-sidecar " << command << ": HTTP " << response.status << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  po::options_description options(kUsage);
  options.add_options()("help,h", "show this help")("version", "print the version")(
      "config,c", po::value<std::string>(), "config file (YAML)")("online", "check: also query Prometheus and probe actuators")(
      "log-level", po::value<std::string>()->default_value("info"), "trace|debug|info|warn|error")(
      "log-format", po::value<std::string>()->default_value("text"), "text|json")(
      "address", po::value<std::string>(), "rollback/freeze/unfreeze: the sidecar's listen address")(
      "token-file", po::value<std::string>(), "rollback/freeze/unfreeze: file with the API bearer token")(
      "reason", po::value<std::string>(), "rollback/freeze: why (recorded with the decision)")(
      "actor", po::value<std::string>(), "rollback/freeze/unfreeze: who asks (default $USER@host)");
  po::options_description hidden;
  hidden.add_options()("command", po::value<std::string>(), "run|check");
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("command", 1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "rollback-sidecar: " << e.what() << "\n(see rollback-sidecar --help)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << options << "\n";
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "rollback-sidecar " << RS_VERSION << "\n";
    return 0;
  }
  const std::string command = vm.count("command") ? vm["command"].as<std::string>() : "run";
  if (command == "rollback" || command == "freeze" || command == "unfreeze") return run_remote(command, vm);
  if (command != "run" && command != "check" && command != "rules") {
    std::cerr << "rollback-sidecar: unknown command '" << command
              << "' (run, check, rules, rollback, freeze, unfreeze)\n";
    return 2;
  }
  if (!vm.count("config")) {
    std::cerr << "rollback-sidecar: --config FILE is required\n(see rollback-sidecar --help)\n";
    return 2;
  }
  if (vm.count("online") && command != "check") {
    std::cerr << "rollback-sidecar: --online only applies to check\n";
    return 2;
  }
  std::string error;
  if (!configure_logging(vm["log-level"].as<std::string>(), vm["log-format"].as<std::string>(), &error)) {
    std::cerr << "rollback-sidecar: " << error << "\n";
    return 2;
  }
  auto loaded = load_or_report(vm["config"].as<std::string>());
  if (!loaded) return 1;
  if (command == "rules") {
    std::cout << render_prometheus_rules(loaded->config);
    return 0;
  }
  if (command == "check") {
    print_summary(*loaded);
    if (vm.count("online") && !check_online(*loaded)) {
      std::cout << "online check FAILED\n";
      return 1;
    }
    return 0;
  }
  return run_sidecar(*loaded);
}

}  // namespace rs::sidecar
