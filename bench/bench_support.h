// Shared by the end-to-end benchmark harnesses: options from argv/env, percentiles, /proc
// readers, the demo workload as a process, HAProxy configs and Prometheus API helpers.
// Header-only; built on tests/support/harness.h (real servers on loopback, stopped by PID).
#pragma once

#include <curl/curl.h>
#include <nlohmann/json.hpp>
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace rs::bench {

using namespace std::chrono_literals;

inline const std::string kSidecarBinary = std::string(RS_BINARY_DIR) + "/sidecar/rollback-sidecar";
inline const std::string kWorkloadBinary = std::string(RS_BINARY_DIR) + "/docker/workload/demo-workload";

// "--name value" or "--name=value" on the command line, else the environment variable `env`,
// else `fallback`. `--help` is handled by the caller.
class Options {
 public:
  Options(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) throw std::runtime_error("unexpected argument '" + a + "'");
      a = a.substr(2);
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        values_[a.substr(0, eq)] = a.substr(eq + 1);
      } else if (a == "help") {
        values_["help"] = "1";
      } else if (i + 1 < argc) {
        values_[a] = argv[++i];
      } else {
        throw std::runtime_error("--" + a + " needs a value");
      }
    }
  }
  bool help() const { return values_.count("help") > 0; }
  std::string str(const std::string& name, const char* env, const std::string& fallback) const {
    if (auto it = values_.find(name); it != values_.end()) return it->second;
    if (env && std::getenv(env)) return std::getenv(env);
    return fallback;
  }
  double num(const std::string& name, const char* env, double fallback) const {
    std::string text = str(name, env, "");
    if (text.empty()) return fallback;
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0') throw std::runtime_error("--" + name + ": not a number: '" + text + "'");
    return v;
  }

 private:
  std::map<std::string, std::string> values_;
};

// Nearest-rank percentile of an already sorted vector (p in 0..100).
inline double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return std::nan("");
  std::size_t rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  if (rank < 1) rank = 1;
  return sorted[std::min(rank, sorted.size()) - 1];
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return std::nan("");
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

inline std::string fixed(double v, int decimals = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

inline std::string tail(const std::string& text, std::size_t n = 3000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

inline double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline bool require_tools(const std::vector<std::string>& tools) {
  bool ok = true;
  for (const auto& t : tools) {
    if (rs::testing::find_binary(t).empty()) {
      std::cerr << "error: " << t << " is not installed (scripts/install-deps.sh)\n";
      ok = false;
    }
  }
  return ok;
}

inline bool require_binaries(const std::vector<std::string>& paths) {
  bool ok = true;
  for (const auto& p : paths) {
    if (access(p.c_str(), X_OK) != 0) {
      std::cerr << "error: " << p << " is missing: build it first (ninja rollback-sidecar demo-workload)\n";
      ok = false;
    }
  }
  return ok;
}

// ---- /proc ------------------------------------------------------------------------------

// A "VmRSS:   1234 kB" style field of /proc/<pid>/status, in kB; -1 when absent.
inline long proc_status_kb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return -1;
}

// utime + stime of /proc/<pid>/stat in clock ticks (all threads); -1 on error.
inline long long proc_cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');  // comm may contain spaces
  if (close == std::string::npos) return -1;
  std::istringstream fields(text.substr(close + 2));
  std::vector<std::string> f;
  std::string s;
  while (fields >> s) f.push_back(s);
  // After "pid (comm) ": state is field 3, utime field 14, stime field 15 (1-based, man 5 proc).
  if (f.size() < 13) return -1;
  return std::stoll(f[11]) + std::stoll(f[12]);
}

// Thread names (comm) of a process -> count.
inline std::map<std::string, int> proc_threads(pid_t pid) {
  std::map<std::string, int> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string comm = rs::testing::read_file(dir + "/" + e->d_name + "/comm");
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    ++out[comm];
  }
  closedir(d);
  return out;
}

// ---- processes --------------------------------------------------------------------------

// One `demo-workload serve` instance on a free port, healthy when the constructor returns.
class Workload {
 public:
  Workload(const rs::testing::TempDir& dir, const std::string& version) : version_(version) {
    port_ = rs::testing::free_port();
    process_ = std::make_unique<rs::testing::Process>(
        std::vector<std::string>{kWorkloadBinary, "serve", "--listen", address(), "--version", version},
        dir.file("workload-" + version + ".log"));
    std::string why;
    if (!rs::testing::wait_http_ok(url() + "/health", 15s, &why)) {
      throw std::runtime_error("demo-workload " + version + " not healthy within 15s (" + why + "); log:\n" +
                               tail(process_->log()));
    }
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + address(); }
  rs::testing::HttpResult post(const std::string& path, const std::string& form) {
    return rs::testing::http_request("POST", url() + path, form, {"Content-Type: application/x-www-form-urlencoded"});
  }

 private:
  std::string version_;
  int port_ = 0;
  std::unique_ptr<rs::testing::Process> process_;
};

// HAProxy: optional frontend on `front_port` (0: none) to backend app with servers stable and
// canary (weight 100 each, roundrobin, no health checks), runtime API on TCP and optionally a
// unix socket, both at level admin.
inline std::string haproxy_config(int front_port, int admin_port, const std::string& unix_socket,
                                  const std::string& stable_address, const std::string& canary_address) {
  std::string c = "global\n  stats socket ipv4@127.0.0.1:" + std::to_string(admin_port) + " level admin\n";
  if (!unix_socket.empty()) c += "  stats socket " + unix_socket + " mode 600 level admin\n";
  c += "defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n";
  if (front_port) c += "frontend fe\n  bind 127.0.0.1:" + std::to_string(front_port) + "\n  default_backend app\n";
  c += "backend app\n  balance roundrobin\n  server stable " + stable_address + " weight 100\n  server canary " +
       canary_address + " weight 100\n";
  return c;
}

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n')) ++i;
  return s.substr(i);
}

// "12 (initial 100)" -> 12; -1 for any other reply.
inline int haproxy_weight(int admin_port, const std::string& server, const std::string& backend = "app") {
  std::string reply = rs::testing::HaproxyServer::runtime_command(admin_port, "get weight " + backend + "/" + server);
  char* end = nullptr;
  long w = std::strtol(reply.c_str(), &end, 10);
  return end == reply.c_str() ? -1 : static_cast<int>(w);
}

// ---- Prometheus / sidecar HTTP ----------------------------------------------------------

inline std::string url_encode(const std::string& s) {
  char* enc = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string out(enc);
  curl_free(enc);
  return out;
}

// POST form to a Prometheus API path; the parsed body, or null on any failure (*error says why).
inline nlohmann::json prometheus_api(const std::string& base_url, const std::string& path,
                                     const std::map<std::string, std::string>& form, std::string* error) {
  std::string body;
  for (const auto& [k, v] : form) body += (body.empty() ? "" : "&") + k + "=" + url_encode(v);
  auto r = rs::testing::http_request("POST", base_url + path, body, {"Content-Type: application/x-www-form-urlencoded"},
                                     10000ms);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 200 || j.is_discarded() || j.value("status", "") != "success") {
    if (error) *error = "HTTP " + std::to_string(r.status) + " " + r.error + " " + tail(r.body, 500);
    return nullptr;
  }
  return j["data"];
}

// When `condition` (a `> bool` expression: 1 or 0) became true in Prometheus's own data and then
// held for `for_s` seconds without a gap: query_range over [start, end] at `step` gives the first
// such instant, which is snapped to the raw scrape timestamp of `target` that made it true (so it
// is not quantized to the step); the result is that scrape + for_s. None (and *error) when the
// data never held it.
inline std::optional<double> condition_held_since(const std::string& prometheus_url, const std::string& condition,
                                                  double start, double end, double step, double for_s,
                                                  const std::string& target, std::string* error) {
  nlohmann::json data = prometheus_api(
      prometheus_url, "/api/v1/query_range",
      {{"query", condition}, {"start", fixed(start, 3)}, {"end", fixed(end, 3)}, {"step", fixed(step, 3)}}, error);
  if (data.is_null() || data["result"].empty()) {
    *error = "query_range failed: " + *error;
    return std::nullopt;
  }
  double run_start = NAN, found = NAN, expected_t = start;
  for (const auto& p : data["result"][0]["values"]) {
    const double t = p[0].get<double>();
    const bool v = p[1].get<std::string>() == "1";
    if (!v || t - expected_t > step * 1.5) run_start = NAN;  // a missing point breaks a run too
    if (v && std::isnan(run_start)) run_start = t;
    expected_t = t;
    if (v && t - run_start >= for_s - 1e-9) {
      found = run_start;
      break;
    }
  }
  if (std::isnan(found)) {
    *error = "Prometheus's data never held the condition for " + fixed(for_s, 1) + "s";
    return std::nullopt;
  }
  double s = found;
  nlohmann::json raw =
      prometheus_api(prometheus_url, "/api/v1/query",
                     {{"query", "up{instance=\"" + target + "\"}[2m]"}, {"time", fixed(end, 3)}}, error);
  if (raw.is_object() && !raw["result"].empty()) {
    for (const auto& p : raw["result"][0]["values"]) {
      const double ts = p[0].get<double>();
      if (ts <= found + 1e-9 && ts > found - step - 1e-9) s = ts;
    }
  }
  return s + for_s;
}

inline nlohmann::json get_json(const std::string& url) {
  auto r = rs::testing::http_get(url);
  if (r.status != 200) return nullptr;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

}  // namespace rs::bench
