#include "docker/workload/common.h"

#include <pthread.h>
#include <signal.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <mutex>
#include <sstream>

namespace workload {

bool ArgReader::next() {
  if (index_ >= argc_) return false;
  std::string arg = argv_[index_++];
  if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
    if (arg == "-h") {
      flag_ = "--help";
      has_inline_ = false;
      return true;
    }
    throw UsageError("unexpected argument '" + arg + "' (flags look like --name value)");
  }
  auto eq = arg.find('=');
  has_inline_ = eq != std::string::npos;
  flag_ = has_inline_ ? arg.substr(0, eq) : arg;
  inline_value_ = has_inline_ ? arg.substr(eq + 1) : std::string();
  return true;
}

std::string ArgReader::value() {
  if (has_inline_) {
    has_inline_ = false;
    return inline_value_;
  }
  if (index_ >= argc_) throw UsageError(flag_ + " needs a value");
  return argv_[index_++];
}

void ArgReader::no_value() {
  if (has_inline_) throw UsageError(flag_ + " takes no value (got '" + inline_value_ + "')");
}

std::chrono::milliseconds parse_duration(const std::string& what, const std::string& text) {
  auto bad = [&](const std::string& why) {
    return UsageError("bad duration for " + what + ": '" + text + "' (" + why + "; use e.g. 500ms, 30s, 5m, 1h30m)");
  };
  if (text.empty()) throw bad("empty");
  long long total_ms = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start) throw bad("expected a number at position " + std::to_string(start + 1));
    if (i - start > 12) throw bad("number too large");
    long long n = std::stoll(text.substr(start, i - start));
    size_t unit_start = i;
    while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z'))) ++i;
    std::string unit = text.substr(unit_start, i - unit_start);
    long long scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60 * 1000;
    else if (unit == "h")
      scale = 3600 * 1000;
    else if (unit == "d")
      scale = 24 * 3600 * 1000LL;
    else if (unit.empty())
      throw bad("missing unit after " + std::to_string(n));
    else
      throw bad("unknown unit '" + unit + "'");
    total_ms += n * scale;
    if (total_ms > 366LL * 24 * 3600 * 1000) throw bad("longer than a year");
  }
  return std::chrono::milliseconds(total_ms);
}

double parse_number(const std::string& what, const std::string& text, double min, double max) {
  auto bad = [&] {
    return UsageError("bad value for " + what + ": '" + text + "' (want a number in " + format_number(min) + ".." +
                      format_number(max) + ")");
  };
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) throw bad();
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v)) throw bad();
  if (v < min || v > max) throw bad();
  return v;
}

long long parse_integer(const std::string& what, const std::string& text, long long min, long long max) {
  auto bad = [&] {
    return UsageError("bad value for " + what + ": '" + text + "' (want an integer in " + std::to_string(min) + ".." +
                      std::to_string(max) + ")");
  };
  if (text.empty() || std::isspace(static_cast<unsigned char>(text[0]))) throw bad();
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (end != text.c_str() + text.size() || errno == ERANGE) throw bad();
  if (v < min || v > max) throw bad();
  return v;
}

std::uint64_t parse_bytes(const std::string& what, const std::string& text) {
  std::string digits = text;
  std::uint64_t scale = 1;
  auto ends_with = [&](const char* suffix) {
    std::string s(suffix);
    return digits.size() > s.size() && digits.compare(digits.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with("Ki"))
    scale = 1ULL << 10;
  else if (ends_with("Mi"))
    scale = 1ULL << 20;
  else if (ends_with("Gi"))
    scale = 1ULL << 30;
  if (scale != 1) digits.resize(digits.size() - 2);
  long long max = static_cast<long long>((1ULL << 50) / scale);
  try {
    return static_cast<std::uint64_t>(parse_integer(what, digits, 1, max)) * scale;
  } catch (const UsageError&) {
    throw UsageError("bad value for " + what + ": '" + text +
                     "' (want a positive number of bytes, optionally with suffix Ki, Mi or Gi)");
  }
}

HostPort parse_host_port(const std::string& what, const std::string& text) {
  auto bad = [&](const std::string& why) {
    return UsageError("bad address for " + what + ": '" + text + "' (" + why + "; want HOST:PORT)");
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos) throw bad("no port");
  HostPort hp;
  hp.host = text.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  } else if (hp.host.find(':') != std::string::npos) {
    throw bad("IPv6 addresses need brackets");
  }
  if (hp.host.empty()) hp.host = "0.0.0.0";
  std::string port = text.substr(colon + 1);
  try {
    hp.port = static_cast<int>(parse_integer(what, port, 0, 65535));
  } catch (const UsageError&) {
    throw bad("port must be 0..65535");
  }
  return hp;
}

void block_stop_signals() {
  std::signal(SIGPIPE, SIG_IGN);
  // A parent may have left them ignored; ignored signals are never delivered to sigwait.
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGINT, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_stop_signal(std::chrono::milliseconds timeout) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1000000);
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

void log_line(const std::string& component, const std::string& message) {
  static std::mutex mutex;
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char line_start[48];
  std::snprintf(line_start, sizeof line_start, "%s.%03dZ ", buf, static_cast<int>(ms));
  std::lock_guard<std::mutex> lock(mutex);
  std::cerr << line_start << component << ": " << message << std::endl;
}

std::string format_number(double value) {
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

}  // namespace workload
