// The rollback-sidecar command line: `run` (default), `check`, `rules`, `gate`, `backtest`, ...
#pragma once

namespace rs::sidecar {

// Exit codes: 0 ok / config valid; 1 config invalid or startup failure; 2 usage error.
int run_cli(int argc, char** argv);

}  // namespace rs::sidecar
