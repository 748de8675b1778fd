// `rollback-sidecar backtest` (contract in backtest_command.h): options, the history fetched
// piece by piece through promql::Client::query_range_all, the pure replay (backtest.h), the report.
#include "sidecar/app/backtest_command.h"

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include <iostream>
#include <variant>

#include "common/duration.h"
#include "common/env/env.h"
#include "common/json_text.h"
#include "sidecar/app/logging.h"

namespace po = boost::program_options;

namespace rs::sidecar {
namespace {

constexpr const char* kUsage =
    "Usage: rollback-sidecar backtest --config FILE --start TIME --end TIME [--step DURATION] [--format text|json]\n\n"
    "Replays the policy in FILE (its rules with the stage overrides, for/breaches, min_samples,\n"
    "baseline, sequential tests, slo burn rates, dry_run) over Prometheus history with range\n"
    "queries, through the same judging code as the running sidecar, and reports every decision it\n"
    "would have taken, with each rule's time per state and the gaps in the history. Nothing is\n"
    "changed anywhere.\n"
    "TIME: RFC 3339 (2024-05-01T10:00:00Z) or unix seconds; DURATION: 15s, 1m, ... (default: the\n"
    "config's evaluation_interval). Exit codes: 0 it ran, 1 config error (also a query Prometheus\n"
    "refuses as bad PromQL), 2 usage error, 3 could not replay (Prometheus unreachable or failing).\n\n"
    "Options";

int usage_error(const std::string& message) {
  std::cerr << "rollback-sidecar backtest: " << message << "\n(see rollback-sidecar backtest --help)\n";
  return kBacktestUsage;
}

double seconds(std::int64_t ms) { return static_cast<double>(ms) / 1000.0; }

// "rule error-rate: baseline query failed (prometheus bad_data, HTTP 400): 1:5: parse error ..."
std::string describe_failure(const Config& config, const RuleQueries& slots, std::size_t slot,
                             const promql::QueryError& error) {
  const std::string what = slots.label_of(slot);
  std::string reason = promql::error_reason_name(error.reason);
  if (!error.error_type.empty()) reason += " " + error.error_type;
  if (error.http_status != 0) reason += ", HTTP " + std::to_string(error.http_status);
  return "rule " + config.rules[slots.rule_of(slot)].name + ": " + what + " failed (" + reason + "): " + error.message +
         "\n  " + what + ": " + slots.queries()[slot];
}

}  // namespace

std::optional<std::int64_t> parse_backtest_time(const std::string& text, std::string* error) {
  // Unix seconds: digits, optionally a fraction (milliseconds kept, the rest truncated).
  std::size_t i = 0;
  std::int64_t whole = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && i < 12; ++i) whole = whole * 10 + (text[i] - '0');
  if (i > 0 && (i == text.size() || text[i] == '.')) {
    std::int64_t ms = 0;
    std::size_t digits = 0;
    bool ok = true;
    if (i < text.size()) {
      for (++i; i < text.size(); ++i, ++digits) {
        if (text[i] < '0' || text[i] > '9') ok = false;
        if (digits < 3) ms = ms * 10 + (text[i] - '0');
      }
      ok &= digits > 0;
    }
    for (; digits < 3; ++digits) ms *= 10;
    const std::int64_t value = whole * 1000 + ms;
    const auto max = std::chrono::duration_cast<std::chrono::milliseconds>(max_rfc3339_time().time_since_epoch());
    if (ok && value <= max.count()) return value;
    if (ok) {
      *error = "'" + text + "' is after " + to_rfc3339(max_rfc3339_time());
      return std::nullopt;
    }
  }
  WallTime t;
  switch (parse_rfc3339_checked(text, &t)) {
    case Rfc3339Result::kOk: return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    case Rfc3339Result::kOutOfRange:
      *error = "'" + text + "' is outside " + to_rfc3339(min_rfc3339_time()) + " .. " + to_rfc3339(max_rfc3339_time());
      return std::nullopt;
    case Rfc3339Result::kMalformed: break;
  }
  *error = "'" + text + "' is neither RFC 3339 (2024-05-01T10:00:00Z) nor unix seconds (1714557600)";
  return std::nullopt;
}

BacktestRun replay_history(const Config& config, const promql::StepGrid& grid, promql::Client& client, Clock& clock,
                           std::int64_t max_steps_per_request) {
  BacktestRun run;
  BacktestReplay replay(config, grid);
  const auto pieces = promql::split_grid(grid, max_steps_per_request);
  for (std::size_t p = 0; p < pieces.size(); ++p) {
    const promql::StepGrid& piece = pieces[p];
    if (pieces.size() > 1) {
      spdlog::info("backtest: piece {} of {}: {}", p + 1, pieces.size(), describe_grid(piece));
    }
    std::vector<promql::RangeOutcome> outcomes;
    for (int attempt = 1;; ++attempt) {
      outcomes = client.query_range_all(replay.queries(), seconds(piece.start_ms), seconds(piece.last_ms()),
                                        seconds(piece.step_ms));
      bool retry = false, fatal = false;
      for (auto& outcome : outcomes) {
        outcome = promql::refuse_partial(std::move(outcome));
        if (const auto* error = std::get_if<promql::QueryError>(&outcome)) {
          (promql::is_transient(*error) ? retry : fatal) = true;
        }
      }
      if (!retry || fatal || attempt == 3) break;
      spdlog::warn("backtest: a range query failed; asking again in {}s (attempt {} of 3)", attempt, attempt + 1);
      clock.sleep_until(clock.mono() + std::chrono::seconds(attempt));
    }
    std::vector<promql::RangeData> answers;
    answers.reserve(outcomes.size());
    for (std::size_t slot = 0; slot < outcomes.size(); ++slot) {
      if (const auto* error = std::get_if<promql::QueryError>(&outcomes[slot])) {
        const bool bad_query = error->reason == promql::ErrorReason::kPrometheus && error->error_type == "bad_data";
        run.exit_code = bad_query ? kBacktestConfigError : kBacktestCannotReplay;
        run.error = describe_failure(config, replay.slots(), slot, *error) + "\n  over " + describe_grid(piece);
        return run;
      }
      answers.push_back(std::move(std::get<promql::RangeData>(outcomes[slot])));
    }
    std::string error;
    if (!replay.feed(piece, answers, &error)) {  // a bug, never the server's answer
      run.exit_code = kBacktestCannotReplay;
      run.error = "internal error: " + error;
      return run;
    }
  }
  run.report = replay.report();
  return run;
}

int run_backtest(int argc, char** argv) {
  po::options_description options(kUsage);
  options.add_options()("help,h", "show this help")("config,c", po::value<std::string>(), "config file (YAML)")(
      "start", po::value<std::string>(), "first evaluation: RFC 3339 or unix seconds")(
      "end", po::value<std::string>(), "last evaluation at or before: RFC 3339 or unix seconds")(
      "step", po::value<std::string>(), "time between evaluations (default: the config's evaluation_interval)")(
      "format", po::value<std::string>()->default_value("text"), "text|json (json: one object on stdout)")(
      "log-level", po::value<std::string>()->default_value("warn"), "trace|debug|info|warn|error")(
      "log-format", po::value<std::string>()->default_value("text"), "text|json");
  po::variables_map vm;
  try {
    // argv[1] is "backtest"; parsing from there makes it the program name.
    po::store(po::command_line_parser(argc - 1, argv + 1).options(options).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
  if (vm.count("help")) {
    std::cout << options << "\n";
    return kBacktestRan;
  }
  for (const char* required : {"config", "start", "end"}) {
    if (!vm.count(required)) return usage_error(std::string("--") + required + " is required");
  }
  const std::string format = vm["format"].as<std::string>();
  if (format != "text" && format != "json") return usage_error("--format " + format + ": must be text or json");
  std::string error;
  const auto start = parse_backtest_time(vm["start"].as<std::string>(), &error);
  if (!start) return usage_error("--start " + error);
  const auto end = parse_backtest_time(vm["end"].as<std::string>(), &error);
  if (!end) return usage_error("--end " + error);
  if (*start > *end) {
    return usage_error("--start " + to_rfc3339(wall_time_of_ms(*start)) + " is after --end " +
                       to_rfc3339(wall_time_of_ms(*end)));
  }
  std::optional<Duration> step;
  if (vm.count("step")) {
    step = common::parse_duration(vm["step"].as<std::string>(), &error);
    if (!step) return usage_error("--step " + vm["step"].as<std::string>() + ": " + error);
    if (*step <= Duration::zero()) return usage_error("--step must be longer than 0s");
  }
  if (!configure_logging(vm["log-level"].as<std::string>(), vm["log-format"].as<std::string>(), &error)) {
    return usage_error(error);
  }

  SystemEnv env;
  const std::string config_path = vm["config"].as<std::string>();
  notifiers::Environment notifier_env;
  notifier_env.make_transport = env.make_http;
  LoadResult result =
      load_config_file(config_path, actuators::Registry::builtin(), notifiers::Registry::builtin(), notifier_env, env);
  for (const auto& e : result.errors) std::cerr << e.to_string(config_path) << "\n";
  if (!result.loaded) {
    std::cerr << config_path << ": " << result.errors.size() << " error(s); config is invalid, nothing was replayed\n";
    return kBacktestConfigError;
  }
  const Config& config = result.loaded->config;
  if (config.rules.empty()) {
    std::cerr << "rollback-sidecar backtest: " << config_path << " has no rules to replay\n";
    return kBacktestConfigError;
  }
  if (!step) step = config.evaluation_interval;
  promql::StepGrid grid;
  if (!promql::make_grid(*start, *end, step->count(), &grid, &error, kMaxBacktestEvaluations)) {
    return usage_error(error);
  }

  promql::Client client(config.prometheus, env.make_http());
  const BacktestRun run = replay_history(config, grid, client, *env.clock);
  if (run.exit_code != kBacktestRan) {
    std::cerr << "rollback-sidecar backtest: " << run.error << "\n";
    if (run.exit_code == kBacktestConfigError) std::cerr << config_path << ": the query is invalid; nothing decided\n";
    return run.exit_code;
  }
  if (format == "json") {
    std::cout << common::dump_json(backtest_json(*run.report, config)) << "\n";
  } else {
    std::cout << backtest_text(*run.report, config);
  }
  return kBacktestRan;
}

}  // namespace rs::sidecar
