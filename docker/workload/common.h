// Shared helpers of the demo workload: hand-written argv parsing (Boost is not linked here),
// value parsers with clear errors, signal waiting and a small stderr logger.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace workload {

// A command-line mistake. main() prints it with a hint to --help and exits 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Walks "--flag value" and "--flag=value" arguments.
class ArgReader {
 public:
  ArgReader(int argc, char** argv, int first) : argc_(argc), argv_(argv), index_(first) {}

  // Advances to the next argument; false when none is left. Throws UsageError when the
  // argument is not a flag (does not start with "--").
  bool next();
  const std::string& flag() const { return flag_; }
  // The flag's value (inline after '=' or the next argument). Throws UsageError when missing.
  std::string value();
  // For flags without a value; throws UsageError when one was given inline.
  void no_value();

 private:
  int argc_;
  char** argv_;
  int index_;
  std::string flag_;
  std::string inline_value_;
  bool has_inline_ = false;
};

// Prometheus-style duration: one or more <integer><unit> with unit ms, s, m, h, d ("500ms", "30s",
// "1h30m"). Throws UsageError naming `what` and the bad text.
std::chrono::milliseconds parse_duration(const std::string& what, const std::string& text);

// A finite decimal number in [min, max]; the whole text must be consumed.
double parse_number(const std::string& what, const std::string& text, double min, double max);

// An integer in [min, max]; the whole text must be consumed.
long long parse_integer(const std::string& what, const std::string& text, long long min, long long max);

// Bytes: a plain integer or one with a binary suffix Ki, Mi, Gi ("268435456", "256Mi").
std::uint64_t parse_bytes(const std::string& what, const std::string& text);

struct HostPort {
  std::string host;
  int port = 0;
};
// "127.0.0.1:8080", "0.0.0.0:8080", ":8080" (all interfaces), "[::1]:8080", "localhost:0".
HostPort parse_host_port(const std::string& what, const std::string& text);

// Blocks SIGINT and SIGTERM in the calling thread; call it before starting any thread so every
// thread inherits the mask and only wait_signal() receives them. Also ignores SIGPIPE.
void block_stop_signals();
// Waits up to `timeout` for SIGINT/SIGTERM; returns the signal number or 0 on timeout.
int wait_stop_signal(std::chrono::milliseconds timeout);

// One line on stderr: "<UTC time> <component>: <message>" (thread-safe).
void log_line(const std::string& component, const std::string& message);

// Shortest round-tripping text for a double ("0.5", "300", "1e-05").
std::string format_number(double value);

}  // namespace workload
