// The two modes of demo-workload. Each parses its own flags (argv[first..]) and returns the exit
// code: 0 clean stop, 1 runtime failure (e.g. cannot listen). Usage errors throw UsageError.
#pragma once

namespace workload {

int run_serve(int argc, char** argv, int first);
int run_load(int argc, char** argv, int first);

extern const char* const kServeUsage;
extern const char* const kLoadUsage;

}  // namespace workload
