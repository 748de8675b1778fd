// `rollback-sidecar backtest`: replays the policy over Prometheus history and reports every
// decision it would have taken (the replay itself: backtest.h).
//
//   rollback-sidecar backtest --config F --start T --end T [--step D] [--format text|json]
//
// T: RFC 3339 ("2024-05-01T10:00:00Z") or unix seconds ("1714557600"); D: a Prometheus duration,
// by default the config's evaluation_interval. Exit codes (docs/judging.md "Backtest"):
//   0 it ran (whatever it found: decisions, gaps, no history at all)
//   1 config error: the config is invalid, has no rules, or Prometheus refused one of its queries
//     as bad PromQL (bad_data); the message names the rule and the query
//   2 usage error: an unknown option, a time that does not parse, --start after --end, a step of 0,
//     too many evaluations
//   3 could not replay: Prometheus unreachable or failing (after retries), or an answer that is not
//     a range query answer; the message says why
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.h"
#include "promql/client.h"
#include "promql/range.h"
#include "sidecar/app/backtest.h"
#include "sidecar/config/config.h"

namespace rs::sidecar {

enum BacktestExit { kBacktestRan = 0, kBacktestConfigError = 1, kBacktestUsage = 2, kBacktestCannotReplay = 3 };

// The most evaluations one backtest replays (a longer range needs a longer step).
constexpr std::int64_t kMaxBacktestEvaluations = 5'000'000;

struct BacktestRun {
  int exit_code = kBacktestRan;  // BacktestExit
  std::string error;             // when exit_code != 0
  std::optional<BacktestReport> report;
};

// Fetches the rules' history piece by piece (at most `max_steps_per_request` evaluations per range
// query, every slot of a piece at once) and replays it. A transient failure is retried twice (1 s,
// then 2 s, on `clock`); then any query failure ends the run: exit 1 when Prometheus refused the
// query as bad (bad_data), 3 otherwise.
BacktestRun replay_history(const Config& config, const promql::StepGrid& grid, promql::Client& client, Clock& clock,
                           std::int64_t max_steps_per_request = promql::kMaxStepsPerRequest);

// A time on the command line: RFC 3339, or unix seconds with up to millisecond decimals. nullopt
// and *error when it is neither.
std::optional<std::int64_t> parse_backtest_time(const std::string& text, std::string* error);

// argv[1] is "backtest". Parses its own options (usage errors exit 2).
int run_backtest(int argc, char** argv);

}  // namespace rs::sidecar
