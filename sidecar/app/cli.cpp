#include "sidecar/app/cli.h"

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
#include <map>
#include <set>
#include <thread>

#include "common/duration.h"
#include "common/http/call_policy.h"
#include "common/http/http_transport.h"
#include "common/json_text.h"
#include "sidecar/api/tls_context.h"
#include "sidecar/core/engine.h"
#include "sidecar/core/rule_queries.h"
#include "sidecar/app/backtest_command.h"
#include "sidecar/app/gate.h"
#include "sidecar/app/logging.h"
#include "sidecar/app/prometheus_rules.h"
#include "sidecar/app/sidecar.h"
#include "sidecar/app/version.h"

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
    "  rollback-sidecar gate --config FILE --bake D [--junit F] [--json F] [--no-rollback]\n"
    "                                           judge a deployment as a pipeline step: exit 0 pass,\n"
    "                                           1 fail (rolled back), 2 inconclusive, 3 could not judge\n"
    "                                           (rollback-sidecar gate --help)\n"
    "  rollback-sidecar backtest --config FILE --start T --end T [--step D] [--format text|json]\n"
    "                                           replay the policy over Prometheus history and report\n"
    "                                           every decision it would have taken (exit 0 it ran,\n"
    "                                           1 config error; rollback-sidecar backtest --help)\n"
    "  rollback-sidecar rules --config FILE     print the rules as a Prometheus rule file\n"
    "  rollback-sidecar rollback --address HOST:PORT --token-file F --reason TEXT [--actor WHO]\n"
    "  rollback-sidecar freeze   --address HOST:PORT --token-file F --reason TEXT [--actor WHO]\n"
    "  rollback-sidecar unfreeze --address HOST:PORT --token-file F [--actor WHO]\n"
    "                                           ask a running sidecar to roll back / (un)freeze\n\n"
    "Options";

std::optional<LoadedConfig> load_or_report(const std::string& path, Env& env, const LoadOptions& options) {
  notifiers::Environment notifier_env;
  notifier_env.make_transport = env.make_http;
  LoadResult result = load_config_file(path, actuators::Registry::builtin(), notifiers::Registry::builtin(),
                                       notifier_env, env, options);
  for (const auto& e : result.errors) std::cerr << e.to_string(path) << "\n";
  for (const auto& w : result.warnings) std::cerr << "warning: " << w.to_string(path) << "\n";
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
            << "prometheus " << c.prometheus.url << ", every " << common::format_duration(c.evaluation_interval)
            << ", listen " << c.listen << "\n";
  for (const auto& r : c.rules) {
    const std::string how_long = format_timing(r);
    if (r.test) {
      std::cout << "rule " << r.name << ": " << action_name(r.action) << " when its " << test_type_name(r.test->type)
                << " test fails (canary worse than " << format_value(r.test->spec.max_ratio)
                << "x the baseline, false_rollback_rate " << format_value(r.test->spec.false_rollback_rate)
                << ", passes below " << format_value(r.test->spec.pass_ratio) << "x) " << how_long << ", delay "
                << common::format_duration(r.delay) << ", " << r.severity
                << (r.stage_override.empty() ? "" : " (stage " + r.stage_override + " override)") << "\n";
      for (int i = 0; i < 4; ++i)
        std::cout << "  " << test_counter_key(r.test->type, i) << ": " << r.test->queries[i] << "\n";
      continue;
    }
    if (r.slo) {
      std::cout << "rule " << r.name << ": " << action_name(r.action) << " when it burns the "
                << common::format_duration(r.slo->period) << " error budget of SLO " << format_value(r.slo->objective)
                << " too fast " << how_long << ", delay " << common::format_duration(r.delay) << ", missing "
                << missing_name(r.missing) << ", " << r.severity
                << (r.stage_override.empty() ? "" : " (stage " + r.stage_override + " override)") << "\n";
      for (const auto& w : r.slo->windows) {
        std::cout << "  burn rate > " << format_value(w.burn_rate) << " over " << common::format_duration(w.long_window)
                  << " and " << common::format_duration(w.short_window) << " (" << format_value(w.budget_share * 100)
                  << "% of the budget in " << common::format_duration(w.long_window) << ")\n"
                  << "    long: " << w.long_query << "\n    short: " << w.short_query << "\n";
      }
      if (r.min_samples) {
        std::cout << "  min_samples (at least " << format_value(r.min_samples->at_least)
                  << "): " << r.min_samples->query << "\n";
      }
      continue;
    }
    std::cout << "rule " << r.name << ": " << action_name(r.action) << " when " << comparison_name(r.comparison) << " "
              << format_value(r.threshold) << (r.baseline ? " and worse than the baseline" : "") << " " << how_long
              << ", delay " << common::format_duration(r.delay) << ", missing " << missing_name(r.missing) << ", "
              << r.severity << (r.stage_override.empty() ? "" : " (stage " + r.stage_override + " override)") << "\n"
              << "  query: " << r.query << "\n";
    if (r.baseline) {
      std::cout << "  baseline (max_ratio " << format_value(r.baseline->max_ratio) << ", min_difference "
                << format_value(r.baseline->min_difference) << "): " << r.baseline->query << "\n";
    }
    if (r.min_samples) {
      std::cout << "  min_samples (at least " << format_value(r.min_samples->at_least) << "): " << r.min_samples->query
                << "\n";
    }
  }
  if (!c.web.file.empty()) {
    std::cout << "web config " << c.web.file << ": ";
    if (c.web.tls.enabled) {
      std::cout << "HTTPS " << tls_version_name(c.web.tls.min_version) << "-" << tls_version_name(c.web.tls.max_version)
                << ", client certificates " << client_auth_name(c.web.tls.client_auth);
    } else {
      std::cout << "plain HTTP";
    }
    std::cout << ", basic auth "
              << (c.web.basic_auth_users.empty() ? std::string("off")
                                                 : std::to_string(c.web.basic_auth_users.size()) + " user(s)")
              << "\n";
  }
  for (const auto& a : loaded.actuators) std::cout << "actuator " << a->describe() << "\n";
  for (std::size_t i = 0; i < loaded.notifiers.size(); ++i) {
    std::string messages;
    for (const auto& m : c.notifier_specs[i].messages) messages += (messages.empty() ? "" : ", ") + m;
    std::cout << "notifier " << loaded.notifiers[i]->describe() << ": " << messages << "\n";
  }
}

// use_recording_rules: the recorded series must be there wherever the expression has data (else
// the rule file is not loaded, not evaluated yet, or stale), and the expression's series must stay
// distinct once the recording rule replaces their metric name. Prints what is wrong; false then.
bool check_recorded(const RuleQueries& queries, const std::vector<promql::QueryOutcome>& recorded,
                    promql::Client& client, const Config& c) {
  std::vector<std::string> expressions;
  for (std::size_t i = 0; i < queries.size(); ++i) expressions.push_back(queries.expression_of(i));
  const auto raw = client.query_all(expressions);
  bool ok = true;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    const std::string label = "query " + c.rules[queries.rule_of(i)].name + " " + queries.key_of(i);
    const auto* expression = std::get_if<promql::QueryData>(&raw[i]);
    const auto* series = std::get_if<promql::QueryData>(&recorded[i]);
    if (!expression || !series) continue;  // the error is printed with the recorded answer below
    std::set<std::map<std::string, std::string>> distinct;
    for (auto s : expression->samples) {
      s.labels.erase("__name__");
      distinct.insert(std::move(s.labels));
    }
    if (distinct.size() != expression->samples.size()) {
      std::cout << label << ": cannot be recorded: its series differ only in their metric name, which the recording "
                << "rule replaces with " << kRecordedMetric << " (aggregate or relabel them in the query)\n";
      ok = false;
    }
    if (series->samples.empty() && !expression->samples.empty()) {
      std::cout << label << ": no recorded series " << queries.queries()[i] << " while the expression has "
                << expression->samples.size() << " series: load `rollback-sidecar rules --config " << c.source_path
                << "` into Prometheus (and wait one evaluation_interval) before use_recording_rules: true\n";
      ok = false;
    }
  }
  return ok;
}

// Runs each query once and probes each actuator and notifier. Any query error or probe failure
// is invalid.
bool check_online(LoadedConfig& loaded, Env& env) {
  const Config& c = loaded.config;
  promql::Client client(c.prometheus, env.make_http());
  const RuleQueries queries = rule_queries_for(c);
  auto outcomes = client.query_all(queries.queries());
  bool ok = true;
  if (queries.source() == QuerySource::kRecordedSeries) ok = check_recorded(queries, outcomes, client, c);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    const RuleConfig& r = c.rules[queries.rule_of(i)];
    const RuleQueries::Kind kind = queries.kind_of(i);
    // "query error-rate", "query error-rate baseline", "query error-rate canary_errors"
    const std::string label = r.name + (kind == RuleQueries::Kind::kRule ? "" : std::string(" ") + queries.name_of(i));
    if (auto* error = std::get_if<promql::QueryError>(&outcomes[i])) {
      std::cout << "query " << label << ": ERROR (" << promql::error_reason_name(error->reason)
                << "): " << error->message << "\n";
      ok = false;
      continue;
    }
    const auto& data = std::get<promql::QueryData>(outcomes[i]);
    if (kind != RuleQueries::Kind::kRule) {  // judged with the rule's value at run time; shown as read
      if (data.samples.empty()) std::cout << "query " << label << ": no data\n";
      for (const auto& s : data.samples) std::cout << "query " << label << ": " << format_value(s.value) << "\n";
      for (const auto& w : data.warnings) std::cout << "query " << label << ": Prometheus warning: " << w << "\n";
      continue;
    }
    if (data.samples.empty()) {
      std::cout << "query " << r.name << ": no data (counts as missing: " << missing_name(r.missing) << ")\n";
    }
    for (const auto& s : data.samples) {
      bool breach = breaches(r.comparison, s.value, r.threshold);
      std::string labels;
      for (const auto& [k, v] : s.labels) labels += (labels.empty() ? "" : ",") + k + "=\"" + v + "\"";
      std::cout << "query " << r.name << ": " << format_value(s.value) << (labels.empty() ? "" : " {" + labels + "}")
                << " (" << comparison_name(r.comparison) << " " << format_value(r.threshold)
                << (std::isnan(s.value) ? ": no data"
                    : r.baseline ? (breach ? ": floor crossed; judged against the baseline" : ": floor not crossed")
                    : breach     ? ": BREACHING"
                                 : ": ok")
                << ")\n";
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

int run_sidecar(LoadedConfig& loaded, SystemEnv& env) {
  // Signals are taken by one thread with sigwait, so no handler runs inside library code.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  // SIGHUP's default action ends the process without a clean stop; a daemon that cannot reload
  // should neither reload half-way nor exit by surprise, so it says so and carries on.
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<Sidecar> sidecar = Sidecar::create(loaded, env);
  std::string error;
  if (!sidecar->start(&error)) {
    spdlog::critical("{}", error);
    return 1;
  }
  std::thread signal_thread([&] {
    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
      spdlog::warn("SIGHUP: configuration reload is not supported; restart the sidecar to apply a new config");
    }
    spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    sidecar->stop();
  });
  sidecar->run();
  // run() only returns after stop(); wake the signal thread if something else ended it.
  pthread_kill(signal_thread.native_handle(), SIGTERM);
  signal_thread.join();
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
  rs::CallPolicy policy;
  std::string error;
  if (!policy.read_bearer_token_file(vm["token-file"].as<std::string>(), &error, "token")) {
    std::cerr << "rollback-sidecar: " << error << "\n";
    return 1;
  }
  nlohmann::json body = {{"actor", actor}};
  if (vm.count("reason")) body["reason"] = vm["reason"].as<std::string>();
  rs::HttpRequest request;
  request.method = command == "rollback" ? "POST" : command == "freeze" ? "PUT" : "DELETE";
  // host:port is plain HTTP; https://host:port for a sidecar with tls_server_config (web_config_file).
  std::string base = vm["address"].as<std::string>();
  if (base.rfind("https://", 0) != 0 && base.rfind("http://", 0) != 0) base = "http://" + base;
  while (!base.empty() && base.back() == '/') base.pop_back();
  request.url = base + (command == "rollback" ? "/api/v1/rollback" : "/api/v1/freeze");
  if (vm.count("ca-file")) request.tls.ca_file = vm["ca-file"].as<std::string>();
  if (vm.count("cert-file")) request.tls.cert_file = vm["cert-file"].as<std::string>();
  if (vm.count("key-file")) request.tls.key_file = vm["key-file"].as<std::string>();
  request.body = common::dump_json(body);
  request.timeout = std::chrono::seconds(10);
  request.headers = {{"Content-Type", "application/json"}};
  policy.apply(&request);
  auto response = rs::make_http_transport()->perform(request);
  if (response.error != rs::TransportError::kNone) {
    std::cerr << "rollback-sidecar " << command << ": " << policy.describe_failure(response) << "\n";
    return 1;
  }
  // The server's whole answer (the record, or why not) goes to stdout, uncut: the operator asked for it.
  std::string answer = response.body;
  policy.redact(&answer);
  std::cout << answer;
  if (!rs::call_succeeded(response)) {
    std::cerr << "rollback-sidecar " << command << ": HTTP " << response.status << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int run_cli(int argc, char** argv) {
  // gate parses its own options: its usage errors must exit 3 (2 means "inconclusive" there).
  if (argc > 1 && std::string(argv[1]) == "gate") return run_gate(argc, argv);
  if (argc > 1 && std::string(argv[1]) == "backtest") return run_backtest(argc, argv);
  po::options_description options(kUsage);
  options.add_options()("help,h", "show this help")("version", "print the version")(
      "config,c", po::value<std::string>(), "config file (YAML)")("online",
                                                                  "check: also query Prometheus and probe actuators")(
      "log-level", po::value<std::string>()->default_value("info"), "trace|debug|info|warn|error")(
      "log-format", po::value<std::string>()->default_value("text"), "text|json")(
      "address", po::value<std::string>(),
      "rollback/freeze/unfreeze: the sidecar's listen address (host:port, or "
      "https://host:port when it serves TLS)")(
      "ca-file", po::value<std::string>(),
      "rollback/freeze/unfreeze over https: CA that signs the sidecar's certificate")(
      "cert-file", po::value<std::string>(), "rollback/freeze/unfreeze over https: client certificate (mutual TLS)")(
      "key-file", po::value<std::string>(), "rollback/freeze/unfreeze over https: client key (mutual TLS)")(
      "token-file", po::value<std::string>(), "rollback/freeze/unfreeze: file with the API bearer token")(
      "reason", po::value<std::string>(), "rollback/freeze: why (recorded with the decision)")(
      "actor", po::value<std::string>(), "rollback/freeze/unfreeze: who asks (default $USER@host)")(
      "web.config.file", po::value<std::string>(),
      "run/check: TLS and basic auth for the listen port (Prometheus exporter-toolkit format); replaces "
      "web_config_file from the config");
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
              << "' (run, check, rules, gate, backtest, rollback, freeze, unfreeze)\n";
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
  // The real environment; declared before the config so the plugins built from it die first.
  if (vm.count("web.config.file") && command == "rules") {
    std::cerr << "rollback-sidecar: --web.config.file only applies to run and check\n";
    return 2;
  }
  LoadOptions load_options;
  if (vm.count("web.config.file")) {
    load_options.web_config_file = vm["web.config.file"].as<std::string>();
    if (load_options.web_config_file.empty()) {
      std::cerr << "rollback-sidecar: --web.config.file needs a file name\n";
      return 2;
    }
  }
  SystemEnv env;
  auto loaded = load_or_report(vm["config"].as<std::string>(), env, load_options);
  if (!loaded) return 1;
  // The loader checked the web config's keys and that its files exist; this parses them (the
  // same build start-up does), so `check` fails on a key that does not match its certificate.
  if (loaded->config.web.tls.enabled) {
    std::string tls_error;
    if (!TlsContext::validate(loaded->config.web.tls, &tls_error)) {
      std::cerr << loaded->config.web.file << ": " << tls_error << "\n"
                << vm["config"].as<std::string>() << ": 1 error(s); config is invalid\n";
      return 1;
    }
  }
  if (command == "rules") {
    std::cout << render_prometheus_rules(loaded->config);
    return 0;
  }
  if (command == "check") {
    print_summary(*loaded);
    if (vm.count("online") && !check_online(*loaded, env)) {
      std::cout << "online check FAILED\n";
      return 1;
    }
    return 0;
  }
  return run_sidecar(*loaded, env);
}

}  // namespace rs::sidecar
