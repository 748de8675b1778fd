// demo-workload: the demo service of rollback-sidecar (serve) and its load generator (load).
// See docker/workload/README.md.

#include <exception>
#include <iostream>
#include <string>

#include "docker/workload/common.h"
#include "docker/workload/modes.h"

namespace {

const char* const kUsage =
    R"(Usage: demo-workload MODE [options]

Modes:
  serve   the demo HTTP service with Prometheus metrics and run-time fault injection
  load    a steady open-loop load generator

Run 'demo-workload MODE --help' for the options of a mode.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  std::string mode = argv[1];
  if (mode == "--help" || mode == "-h" || mode == "help") {
    std::cout << kUsage;
    return 0;
  }
  try {
    if (mode == "serve") return workload::run_serve(argc, argv, 2);
    if (mode == "load") return workload::run_load(argc, argv, 2);
    std::cerr << "demo-workload: error: unknown mode '" << mode << "' (want serve or load)\n\n" << kUsage;
    return 2;
  } catch (const workload::UsageError& e) {
    std::cerr << "demo-workload " << mode << ": error: " << e.what() << "\nRun 'demo-workload " << mode
              << " --help' for usage.\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "demo-workload " << mode << ": fatal: " << e.what() << "\n";
    return 1;
  }
}
