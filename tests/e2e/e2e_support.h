// Helpers shared by the end-to-end tests: the demo workload as a real process, the HAProxy
// config in front of a stable and a canary, reading Prometheus text exposition, and bounded
// waits that explain themselves. Header-only (the e2e folder globs *.cpp into one binary).
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/harness.h"

namespace rs::e2e {

using namespace std::chrono_literals;

inline const std::string kSidecarBinary = std::string(RS_BINARY_DIR) + "/sidecar/rollback-sidecar";
inline const std::string kWorkloadBinary = std::string(RS_BINARY_DIR) + "/docker/workload/demo-workload";

// The last `n` characters of a log, for failure messages.
inline std::string tail(const std::string& text, std::size_t n = 3000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

// "exit 0", "signal 9", "not reaped": a wait status for failure messages.
inline std::string describe_status(int status) {
  if (status == -1) return "not reaped";
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// One `demo-workload serve` instance on a free port, ready (GET /health answers 200) when the
// constructor returns. Throws with the log when it does not come up.
class Workload {
 public:
  Workload(const rs::testing::TempDir& dir, const std::string& version) : version_(version) {
    port_ = rs::testing::free_port();
    process_ = std::make_unique<rs::testing::Process>(
        std::vector<std::string>{kWorkloadBinary, "serve", "--listen", "127.0.0.1:" + std::to_string(port_),
                                 "--version", version},
        dir.file("workload-" + version + ".log"));
    std::string why;
    if (!rs::testing::wait_http_ok(url() + "/health", 15s, &why)) {
      throw std::runtime_error("demo-workload " + version + " not healthy within 15s (" + why + "); log:\n" +
                               tail(process_->log()));
    }
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + address(); }
  const std::string& version() const { return version_; }
  // POST /admin/fault with a form body such as "error_ratio=0.5"; returns the HTTP status.
  rs::testing::HttpResult fault(const std::string& form) {
    return rs::testing::http_request("POST", url() + "/admin/fault", form,
                                     {"Content-Type: application/x-www-form-urlencoded"});
  }
  std::string log() const { return process_->log(); }
  rs::testing::Process& process() { return *process_; }

 private:
  std::string version_;
  int port_ = 0;
  std::unique_ptr<rs::testing::Process> process_;
};

// HAProxy: frontend on `front_port` to backend `app` with servers stable and canary (equal
// weights, roundrobin), runtime API on a TCP stats socket at level admin.
inline std::string haproxy_config(int front_port, int admin_port, const std::string& stable_address,
                                  const std::string& canary_address) {
  return rs::testing::haproxy_config(front_port, admin_port, {{"stable", stable_address}, {"canary", canary_address}});
}

// Sends `n` GET / through `url` and counts the answers by body ("ok v1", "ok v2", or
// "HTTP <status>: <error>" for anything else).
inline std::map<std::string, int> answers_by_body(const std::string& url, int n) {
  std::map<std::string, int> seen;
  for (int i = 0; i < n; ++i) {
    auto r = rs::testing::http_get(url);
    std::string body = r.body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    if (r.status != 200) body = "HTTP " + std::to_string(r.status) + ": " + body + r.error;
    ++seen[body];
  }
  return seen;
}

inline std::string describe_counts(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [k, v] : counts) out += (out.empty() ? "" : ", ") + std::string("'") + k + "' x" + std::to_string(v);
  return out.empty() ? "(none)" : out;
}

// Parses one exposition line "name{a="b",c="d"} 1.5" into its name, labels and value.
// Returns false for comments, blank lines and anything it cannot read.
inline bool parse_sample_line(const std::string& line, std::string* name, std::map<std::string, std::string>* labels,
                              double* value) {
  if (line.empty() || line[0] == '#') return false;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  *name = line.substr(0, i);
  labels->clear();
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      std::size_t eq = line.find('=', i);
      if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return false;
      std::string key = line.substr(i, eq - i);
      std::string val;
      std::size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size()) ++j;
        val += line[j];
      }
      if (j >= line.size()) return false;
      (*labels)[key] = val;
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return false;
    ++i;  // '}'
  }
  while (i < line.size() && line[i] == ' ') ++i;
  if (i >= line.size()) return false;
  std::string text = line.substr(i, line.find(' ', i) - i);
  if (text == "NaN")
    *value = std::nan("");
  else if (text == "+Inf")
    *value = HUGE_VAL;
  else if (text == "-Inf")
    *value = -HUGE_VAL;
  else {
    char* end = nullptr;
    *value = std::strtod(text.c_str(), &end);
    if (end == text.c_str()) return false;
  }
  return true;
}

// Sum of every sample of `name` whose labels include `match`; NaN when there is none (so a
// missing series never passes for a zero).
inline double metric_sum(const std::string& exposition, const std::string& name,
                         const std::map<std::string, std::string>& match = {}) {
  std::istringstream in(exposition);
  std::string line, sample_name;
  std::map<std::string, std::string> labels;
  double value = 0, sum = 0;
  bool found = false;
  while (std::getline(in, line)) {
    if (!parse_sample_line(line, &sample_name, &labels, &value) || sample_name != name) continue;
    bool all = true;
    for (const auto& [k, v] : match) {
      auto it = labels.find(k);
      if (it == labels.end() || it->second != v) all = false;
    }
    if (!all) continue;
    found = true;
    sum += value;
  }
  return found ? sum : std::nan("");
}

// For counters whose label sets appear on first use: absent counts as 0.
inline double or_zero(double v) { return std::isnan(v) ? 0 : v; }

// GET url as JSON; null when the request or the parse fails (callers poll).
inline nlohmann::json get_json(const std::string& url) {
  auto r = rs::testing::http_get(url);
  if (r.status != 200) return nullptr;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

// "12 (initial 100)" -> 12; -1 when HAProxy answers something else.
inline int haproxy_weight(int admin_port, const std::string& server) {
  std::string reply = rs::testing::HaproxyServer::runtime_command(admin_port, "get weight app/" + server);
  char* end = nullptr;
  long w = std::strtol(reply.c_str(), &end, 10);
  return end == reply.c_str() ? -1 : static_cast<int>(w);
}

}  // namespace rs::e2e
