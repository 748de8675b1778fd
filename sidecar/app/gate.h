// `rollback-sidecar gate`: judges a deployment for a bake time as a pipeline step.
//
//   rollback-sidecar gate --config F --bake D [--junit FILE] [--json FILE] [--no-rollback]
//   rollback-sidecar gate --config F --start T --end T [...]   a past window, replayed from
//                   Prometheus history (backtest.h); a rollback that fired in it is carried out now
//
// Exit codes (the contract pipelines rely on; docs/pipelines.md):
//   0 pass          no rule fired by the deadline and the rules had data
//   1 fail          a rule fired; the rollback was carried out through the configured actuators
//                   (with --no-rollback the gate judges in dry run and changes nothing)
//   2 inconclusive  not enough data by the deadline: every rule nodata/insufficient, or fewer
//                   evaluations with data than the longest `for` needs
//   3 could not judge  usage or config error, every query failed throughout (Prometheus
//                   unreachable), or SIGINT/SIGTERM (a rollback in flight finishes first)
#pragma once

namespace rs::sidecar {

// argv[1] is "gate". Parses its own options so that even a usage error exits 3, never 2
// (which a pipeline would read as "inconclusive").
int run_gate(int argc, char** argv);

}  // namespace rs::sidecar
