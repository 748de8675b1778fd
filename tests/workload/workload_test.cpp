// Tests of the demo workload binary (docker/workload): the real `demo-workload` is started as a
// child process on 127.0.0.1 with a kernel-chosen port, driven over HTTP, and stopped by PID.

#include <gtest/gtest.h>
#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.h"

namespace {

using namespace std::chrono_literals;
using rs::testing::HttpResult;
using rs::testing::Process;
using rs::testing::TempDir;

const std::string kBinary = RS_BINARY_DIR "/docker/workload/demo-workload";
constexpr double kMiB = 1024.0 * 1024.0;

// ---- exposition parsing ---------------------------------------------------------------------

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

std::vector<Sample> parse_exposition(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        std::string key = line.substr(i, eq - i);
        i = eq + 2;  // skip ="
        std::string value;
        while (i < line.size() && line[i] != '"') {
          if (line[i] == '\\' && i + 1 < line.size()) ++i;
          value += line[i++];
        }
        ++i;  // closing quote
        if (i < line.size() && line[i] == ',') ++i;
        s.labels[key] = value;
      }
      ++i;  // }
    }
    std::string value = line.substr(i + 1);
    value = value.substr(0, value.find(' '));
    if (value == "+Inf")
      s.value = std::numeric_limits<double>::infinity();
    else
      s.value = std::stod(value);
    out.push_back(s);
  }
  return out;
}

// The value of the one sample named `name` whose labels include `labels`; nullopt when there is
// no such sample or more than one.
std::optional<double> find_sample(const std::string& text, const std::string& name,
                                  const std::map<std::string, std::string>& labels = {}) {
  std::optional<double> found;
  int matches = 0;
  for (const auto& s : parse_exposition(text)) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) ok = false;
    }
    if (ok) {
      found = s.value;
      ++matches;
    }
  }
  return matches == 1 ? found : std::nullopt;
}

// Sends `request` verbatim over a fresh TCP connection and returns everything read until the
// server closes it (bounded by a 3 s receive timeout).
std::string raw_http(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "socket failed";
  timeval tv{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[1024];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return reply;
}

int exit_code(int wait_status) { return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1000 - wait_status; }

// Runs the binary to completion (bounded) and returns its exit code; the output goes to *log.
int run_to_exit(const TempDir& dir, const std::vector<std::string>& args, std::string* log,
                std::chrono::milliseconds timeout = 10s) {
  std::vector<std::string> argv{kBinary};
  argv.insert(argv.end(), args.begin(), args.end());
  static int counter = 0;
  std::string log_path = dir.file("run" + std::to_string(counter++) + ".log");
  Process p(argv, log_path);
  int status = p.wait_exit(timeout);
  if (status == -1) {
    p.kill9();
    *log = p.log();
    return -1;
  }
  *log = p.log();
  return exit_code(status);
}

// ---- a running `demo-workload serve` ----------------------------------------------------------

class WorkloadServer {
 public:
  // Starts `serve --listen 127.0.0.1:0 --version v2 <extra>`, learns the port from the log and
  // waits for /health. Returns false with the reason (and the log) in *why.
  bool start(const std::vector<std::string>& extra, std::string* why) {
    std::vector<std::string> argv{kBinary, "serve", "--listen", "127.0.0.1:0", "--version", "v2"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<Process>(argv, dir_.file("serve.log"));
    const std::regex listening(R"(listening on 127\.0\.0\.1:(\d+))");
    bool have_port = rs::testing::wait_until(
        [&] {
          std::smatch m;
          std::string log = process_->log();
          if (!std::regex_search(log, m, listening)) return false;
          port_ = std::stoi(m[1]);
          return true;
        },
        10s);
    if (!have_port) {
      *why = "no 'listening on' line within 10s; log:\n" + process_->log();
      return false;
    }
    std::string last;
    if (!rs::testing::wait_http_ok(url("/health"), 10s, &last)) {
      *why = "/health not OK within 10s (" + last + "); log:\n" + process_->log();
      return false;
    }
    return true;
  }

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int port() const { return port_; }
  Process& process() { return *process_; }
  const TempDir& dir() const { return dir_; }

  HttpResult get(const std::string& path, std::chrono::milliseconds timeout = 5000ms) {
    return rs::testing::http_request("GET", url(path), "", {}, timeout);
  }
  HttpResult post(const std::string& path, const std::string& form = "") {
    return rs::testing::http_request("POST", url(path), form, {}, 5000ms);
  }
  std::string metrics() {
    auto r = get("/metrics");
    EXPECT_EQ(r.status, 200) << r.error;
    return r.body;
  }
  // A sample from /metrics; NaN (and a test failure) when it is missing or ambiguous.
  double metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    auto text = metrics();
    auto v = find_sample(text, name, labels);
    if (!v) {
      ADD_FAILURE() << "no unique sample " << name << " in /metrics:\n" << text;
      return std::nan("");
    }
    return *v;
  }
  nlohmann::json faults() {
    auto r = get("/admin/fault");
    EXPECT_EQ(r.status, 200) << r.error;
    return nlohmann::json::parse(r.body);
  }

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

class WorkloadTest : public ::testing::Test {
 protected:
  void start(const std::vector<std::string>& extra = {}) {
    std::string why;
    ASSERT_TRUE(server_.start(extra, &why)) << why;
  }
  WorkloadServer server_;
};

const std::map<std::string, std::string> kGet500{{"code", "500"}, {"method", "GET"}, {"version", "v2"}};
const std::map<std::string, std::string> kGet200{{"code", "200"}, {"method", "GET"}, {"version", "v2"}};

// ---- serve ------------------------------------------------------------------------------------

TEST_F(WorkloadTest, BusinessEndpointAnswersWithItsVersion) {
  start();
  for (const char* path : {"/", "/checkout", "/api/v1/items?id=3"}) {
    auto r = server_.get(path);
    EXPECT_EQ(r.status, 200) << path << " " << r.error;
    EXPECT_EQ(r.body, "ok v2\n") << path;
  }
  EXPECT_EQ(server_.metric("http_requests_total", kGet200), 3);
  EXPECT_EQ(server_.metric("workload_build_info", {{"version", "v2"}}), 1);
}

TEST_F(WorkloadTest, HealthFaultFailsHealthUntilReset) {
  start();
  auto ok = server_.get("/health");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body.rfind("healthy", 0), 0u) << ok.body;

  auto set = server_.post("/admin/fault", "health=fail");
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(server_.get("/health").status, 503);
  EXPECT_EQ(server_.faults()["health"], "fail");
  EXPECT_EQ(server_.metric("workload_fault_active", {{"fault", "health"}}), 1);
  // The business endpoint is unaffected by the health fault.
  EXPECT_EQ(server_.get("/").status, 200);

  ASSERT_EQ(server_.post("/admin/reset").status, 200);
  EXPECT_EQ(server_.get("/health").status, 200);
  EXPECT_EQ(server_.faults()["health"], "ok");
  EXPECT_EQ(server_.metric("workload_fault_active", {{"fault", "health"}}), 0);
}

TEST_F(WorkloadTest, ErrorRatioOneFailsEveryRequestAndCountsThem) {
  start();
  ASSERT_EQ(server_.post("/admin/fault", "error_ratio=1").status, 200);
  const int n = 20;
  for (int i = 0; i < n; ++i) {
    auto r = server_.get("/");
    EXPECT_EQ(r.status, 500) << "request " << i << ": " << r.body << r.error;
  }
  EXPECT_EQ(server_.metric("http_requests_total", kGet500), n);
  EXPECT_EQ(server_.metric("http_requests_total", kGet200), 0);
  EXPECT_EQ(server_.metric("workload_fault_active", {{"fault", "error_ratio"}}), 1);
  // Admin, health and metrics requests are not business traffic.
  server_.get("/health");
  EXPECT_EQ(server_.metric("http_requests_total", kGet500), n);
  EXPECT_EQ(server_.metric("http_request_duration_seconds_count", {{"version", "v2"}}), n);

  ASSERT_EQ(server_.post("/admin/fault", "error_ratio=0").status, 200);
  auto r = server_.get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok v2\n");
}

TEST_F(WorkloadTest, InjectedLatencyDelaysRequestsAndLandsInItsHistogramBucket) {
  start();
  ASSERT_EQ(server_.post("/admin/fault", "latency_ms=300").status, 200);
  auto t0 = std::chrono::steady_clock::now();
  auto r = server_.get("/", 10s);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_GE(elapsed, 300ms);

  auto text = server_.metrics();
  const std::map<std::string, std::string> v2{{"version", "v2"}};
  ASSERT_EQ(find_sample(text, "http_request_duration_seconds_count", v2), 1.0) << text;
  double seconds = find_sample(text, "http_request_duration_seconds_sum", v2).value_or(-1);
  EXPECT_GE(seconds, 0.3);
  EXPECT_LT(seconds, 5.0);
  // The one observation is absent from every bucket below its value and present from the first
  // bucket at or above it: 0.25 never holds it, and (normally) 0.5 does.
  const std::vector<std::string> bounds{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                                        "1",     "2",    "2.5",   "5",    "10",  "+Inf"};
  for (const auto& le : bounds) {
    auto count = find_sample(text, "http_request_duration_seconds_bucket", {{"version", "v2"}, {"le", le}});
    ASSERT_TRUE(count.has_value()) << "missing bucket le=" << le << "\n" << text;
    double bound = le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le);
    EXPECT_EQ(*count, bound >= seconds ? 1.0 : 0.0) << "bucket le=" << le << " for an observation of " << seconds;
  }
  EXPECT_EQ(find_sample(text, "http_request_duration_seconds_bucket", {{"version", "v2"}, {"le", "0.25"}}), 0.0);
}

TEST_F(WorkloadTest, MemoryGrowthRaisesResidentMemoryAndResetFreesIt) {
  start();
  double baseline = server_.metric("process_resident_memory_bytes");
  ASSERT_GT(baseline, 0);
  ASSERT_EQ(server_.post("/admin/fault", "memory_growth_mb_per_s=64").status, 200);
  double rss = 0;
  bool grew = rs::testing::wait_until(
      [&] {
        rss = server_.metric("process_resident_memory_bytes");
        return rss >= baseline + 32 * kMiB;
      },
      20s, 100ms);
  EXPECT_TRUE(grew) << "RSS " << rss << " did not reach baseline " << baseline << " + 32 MiB";
  EXPECT_GT(server_.metric("workload_grown_memory_bytes"), 0);
  EXPECT_EQ(server_.metric("workload_fault_active", {{"fault", "memory_growth"}}), 1);

  ASSERT_EQ(server_.post("/admin/reset").status, 200);
  EXPECT_EQ(server_.metric("workload_grown_memory_bytes"), 0);
  bool shrank = rs::testing::wait_until(
      [&] {
        rss = server_.metric("process_resident_memory_bytes");
        return rss < baseline + 16 * kMiB;
      },
      10s, 100ms);
  EXPECT_TRUE(shrank) << "RSS " << rss << " stayed above baseline " << baseline << " + 16 MiB after reset";
}

TEST_F(WorkloadTest, MemoryGrowthStopsAtTheMemoryLimit) {
  start({"--memory-limit-bytes", "48Mi"});
  EXPECT_EQ(server_.metric("workload_memory_limit_bytes"), 48 * kMiB);
  ASSERT_EQ(server_.post("/admin/fault", "memory_growth_mb_per_s=200").status, 200);
  double rss = 0;
  bool reached = rs::testing::wait_until(
      [&] {
        rss = server_.metric("process_resident_memory_bytes");
        return rss >= 40 * kMiB;
      },
      20s, 100ms);
  ASSERT_TRUE(reached) << "RSS " << rss << " never approached the 48 MiB limit";
  // At 200 MiB/s an uncapped grower is past 100 MiB within half a second. The cap is the
  // grower's: it adds only while RSS is under the limit, so what it holds never exceeds the limit.
  // RSS itself gets a wide margin, because the allocator (ASan's quarantine above all) keeps freed
  // scrape buffers resident on its own, and the grower may top up when that memory is returned.
  for (int i = 0; i < 15; ++i) {
    const double held = server_.metric("workload_grown_memory_bytes");
    EXPECT_GT(held, 0) << "observation " << i;
    EXPECT_LE(held, 48 * kMiB) << "observation " << i;
    rss = server_.metric("process_resident_memory_bytes");
    EXPECT_LE(rss, 64 * kMiB) << "observation " << i;
    std::this_thread::sleep_for(100ms);
  }
}

TEST_F(WorkloadTest, CpuBurnConsumesCpuTime) {
  start({"--cpu-limit-cores", "0.5"});
  EXPECT_EQ(server_.metric("workload_cpu_limit_cores"), 0.5);
  double before = server_.metric("process_cpu_seconds_total");
  ASSERT_EQ(server_.post("/admin/fault", "cpu_burn=1").status, 200);
  EXPECT_EQ(server_.metric("workload_fault_active", {{"fault", "cpu_burn"}}), 1);
  double now = before;
  bool burned = rs::testing::wait_until(
      [&] {
        now = server_.metric("process_cpu_seconds_total");
        return now >= before + 0.3;
      },
      20s, 100ms);
  EXPECT_TRUE(burned) << "CPU seconds went from " << before << " to " << now;
  ASSERT_EQ(server_.post("/admin/reset").status, 200);
  EXPECT_EQ(server_.metric("workload_fault_active", {{"fault", "cpu_burn"}}), 0);
  EXPECT_EQ(server_.faults()["cpu_burn"], 0);
}

TEST_F(WorkloadTest, AdminAcceptsQueryParametersAndReportsFaultsAsJson) {
  start();
  auto r = server_.post("/admin/fault?error_ratio=0.25&latency_ms=10");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = server_.faults();
  EXPECT_EQ(j["version"], "v2");
  EXPECT_DOUBLE_EQ(j["error_ratio"].get<double>(), 0.25);
  EXPECT_EQ(j["latency_ms"], 10);
  EXPECT_EQ(j["health"], "ok");
  EXPECT_EQ(j["memory_growth_mb_per_s"], 0);
  EXPECT_EQ(j["cpu_burn"], 0);
  EXPECT_EQ(j["memory_limit_bytes"], 256 * 1024 * 1024);
  // A POST without Content-Length (what `curl -X POST URL` sends) has an empty body and must be
  // answered at once, not after a read timeout.
  auto t0 = std::chrono::steady_clock::now();
  std::string reply = raw_http(server_.port(), "POST /admin/reset HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(server_.faults()["error_ratio"], 0);
}

TEST_F(WorkloadTest, BadAdminParametersAreRejectedWith400NamingThem) {
  start();
  struct Case {
    std::string form;
    std::vector<std::string> mentions;
  };
  const std::vector<Case> cases{
      {"error_ratio=2", {"error_ratio", "2"}},
      {"error_ratio=abc", {"error_ratio", "abc"}},
      {"latency_ms=-5", {"latency_ms", "-5"}},
      {"latency_ms=1.5", {"latency_ms", "1.5"}},
      {"health=maybe", {"health", "maybe"}},
      {"memory_growth_mb_per_s=lots", {"memory_growth_mb_per_s", "lots"}},
      {"cpu_burn=7", {"cpu_burn", "7"}},
      {"bogus=1", {"bogus"}},
      {"", {"no fault parameters"}},
      // One bad parameter rejects the whole request: error_ratio must stay 0.
      {"error_ratio=0.5&cpu_burn=nan", {"cpu_burn", "nan"}},
  };
  for (const auto& c : cases) {
    auto r = server_.post("/admin/fault", c.form);
    EXPECT_EQ(r.status, 400) << "form '" << c.form << "' got: " << r.body;
    for (const auto& m : c.mentions) EXPECT_NE(r.body.find(m), std::string::npos) << "'" << c.form << "' -> " << r.body;
  }
  auto j = server_.faults();
  EXPECT_EQ(j["error_ratio"], 0);
  EXPECT_EQ(j["cpu_burn"], 0);
  EXPECT_EQ(server_.get("/admin/nothing").status, 404);
  EXPECT_EQ(server_.post("/health").status, 405);
}

TEST_F(WorkloadTest, MetricsPassPromtoolCheck) {
  start();
  std::string promtool = rs::testing::find_binary("promtool");
  ASSERT_FALSE(promtool.empty()) << "promtool not installed (apt-get install prometheus)";
  server_.get("/");
  ASSERT_EQ(server_.post("/admin/fault", "error_ratio=1&health=fail&latency_ms=1").status, 200);
  server_.get("/");
  std::string text = server_.metrics();

  for (const char* family : {"# TYPE http_requests_total counter", "# TYPE http_request_duration_seconds histogram",
                             "# TYPE http_requests_in_flight gauge", "# TYPE process_cpu_seconds_total counter",
                             "# TYPE process_resident_memory_bytes gauge", "# TYPE workload_memory_limit_bytes gauge",
                             "# TYPE workload_cpu_limit_cores gauge", "# TYPE workload_fault_active gauge",
                             "# TYPE workload_build_info gauge"}) {
    EXPECT_NE(text.find(family), std::string::npos) << "missing '" << family << "' in:\n" << text;
  }
  for (const char* fault : {"error_ratio", "latency", "health", "memory_growth", "cpu_burn"}) {
    EXPECT_TRUE(find_sample(text, "workload_fault_active", {{"fault", fault}}).has_value()) << fault;
  }

  std::string path = server_.dir().file("metrics.txt");
  rs::testing::write_file(path, text);
  std::string cmd = promtool + " check metrics < '" + path + "' 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  int status = pclose(pipe);
  EXPECT_EQ(exit_code(status), 0) << output;
  EXPECT_EQ(output, "") << "promtool found problems:\n" << output << "\nin:\n" << text;
}

TEST_F(WorkloadTest, SigtermStopsPromptlyWithSlowAndIdleConnections) {
  start();
  // An idle keep-alive connection...
  httplib::Client idle("127.0.0.1", server_.port());
  idle.set_keep_alive(true);
  auto first = idle.Get("/");
  ASSERT_TRUE(first) << httplib::to_string(first.error());
  // ...and a request stuck in a 10 s injected delay.
  ASSERT_EQ(server_.post("/admin/fault", "latency_ms=10000").status, 200);
  HttpResult slow;
  std::thread slow_client([&] { slow = server_.get("/", 15s); });
  bool in_flight = rs::testing::wait_until([&] { return server_.metric("http_requests_in_flight") >= 1; }, 10s);
  EXPECT_TRUE(in_flight);

  auto t0 = std::chrono::steady_clock::now();
  int status = server_.process().stop(10s);
  auto took = std::chrono::steady_clock::now() - t0;
  slow_client.join();
  EXPECT_EQ(exit_code(status), 0) << server_.process().log();
  EXPECT_LT(took, 3s) << "SIGTERM took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << " ms";
  EXPECT_EQ(slow.status, 200) << "the in-flight request should be answered on shutdown: " << slow.error;
  EXPECT_NE(server_.process().log().find("received SIGTERM"), std::string::npos);
}

// ---- load -------------------------------------------------------------------------------------

std::optional<long> summary_field(const std::string& line, const std::string& key) {
  std::smatch m;
  std::regex re("(^| )" + key + "=(\\d+)");
  if (!std::regex_search(line, m, re)) return std::nullopt;
  return std::stol(m[2]);
}

std::string done_line(const std::string& log) {
  auto pos = log.rfind("load: done");
  if (pos == std::string::npos) return "";
  return log.substr(pos, log.find('\n', pos) - pos);
}

TEST_F(WorkloadTest, LoadModeSendsAtTheRequestedRate) {
  start();
  Process load({kBinary, "load", "--url", server_.url("/"), "--rate", "20", "--duration", "2s"},
               server_.dir().file("load.log"));
  int status = load.wait_exit(30s);
  ASSERT_NE(status, -1) << "load did not exit within 30s:\n" << load.log();
  EXPECT_EQ(exit_code(status), 0) << load.log();
  std::string line = done_line(load.log());
  ASSERT_FALSE(line.empty()) << load.log();
  auto sent = summary_field(line, "sent");
  ASSERT_TRUE(sent.has_value()) << line;
  EXPECT_GE(*sent, 30) << line;
  EXPECT_LE(*sent, 50) << line;
  EXPECT_EQ(summary_field(line, "2xx"), sent) << line;
  EXPECT_EQ(summary_field(line, "5xx"), 0) << line;
  EXPECT_EQ(summary_field(line, "errors"), 0) << line;
  double served = server_.metric("http_requests_total", kGet200);
  EXPECT_GE(served, 30);
  EXPECT_LE(served, 50);
  EXPECT_EQ(served, static_cast<double>(*sent));
}

TEST_F(WorkloadTest, LoadModeCountsServerErrors) {
  start();
  ASSERT_EQ(server_.post("/admin/fault", "error_ratio=1").status, 200);
  Process load({kBinary, "load", "--url", server_.url("/orders"), "--rate", "20", "--duration", "1s"},
               server_.dir().file("load.log"));
  int status = load.wait_exit(30s);
  ASSERT_NE(status, -1) << load.log();
  EXPECT_EQ(exit_code(status), 0) << load.log();
  std::string line = done_line(load.log());
  auto sent = summary_field(line, "sent");
  ASSERT_TRUE(sent.has_value()) << load.log();
  EXPECT_GE(*sent, 10) << line;
  EXPECT_EQ(summary_field(line, "5xx"), sent) << line;
  EXPECT_EQ(summary_field(line, "2xx"), 0) << line;
  EXPECT_EQ(server_.metric("http_requests_total", kGet500), static_cast<double>(*sent));
}

TEST_F(WorkloadTest, LoadModeReportsPeriodicallyAndStopsCleanlyOnSigterm) {
  start();
  Process load({kBinary, "load", "--url", server_.url("/"), "--rate", "50", "--report-interval", "200ms"},
               server_.dir().file("load.log"));
  bool reported = rs::testing::wait_until([&] { return load.log().find("load: interval=") != std::string::npos; }, 10s);
  EXPECT_TRUE(reported) << load.log();
  bool flowing =
      rs::testing::wait_until([&] { return server_.metric("http_requests_total", kGet200) >= 10; }, 10s, 100ms);
  EXPECT_TRUE(flowing) << load.log();
  auto t0 = std::chrono::steady_clock::now();
  int status = load.stop(10s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(exit_code(status), 0) << load.log();
  std::string line = done_line(load.log());
  ASSERT_FALSE(line.empty()) << load.log();
  EXPECT_GE(summary_field(line, "sent").value_or(0), 10) << line;
}

TEST(WorkloadLoadTest, UnreachableTargetCountsErrorsAndStillExitsZero) {
  TempDir dir;
  int port = rs::testing::free_port();  // nothing listens there
  std::string log;
  int code = run_to_exit(dir,
                         {"load", "--url", "http://127.0.0.1:" + std::to_string(port) + "/", "--rate", "10",
                          "--duration", "500ms", "--timeout", "1s"},
                         &log, 30s);
  EXPECT_EQ(code, 0) << log;
  std::string line = done_line(log);
  ASSERT_FALSE(line.empty()) << log;
  EXPECT_GE(summary_field(line, "errors").value_or(0), 1) << line;
  EXPECT_EQ(summary_field(line, "2xx"), 0) << line;
}

// ---- command line -------------------------------------------------------------------------------

TEST(WorkloadCliTest, HelpAndUsageErrors) {
  TempDir dir;
  std::string log;
  EXPECT_EQ(run_to_exit(dir, {"--help"}, &log), 0);
  EXPECT_NE(log.find("serve"), std::string::npos) << log;
  EXPECT_EQ(run_to_exit(dir, {"serve", "--help"}, &log), 0);
  EXPECT_NE(log.find("--memory-limit-bytes"), std::string::npos) << log;
  EXPECT_EQ(run_to_exit(dir, {"load", "--help"}, &log), 0);
  EXPECT_NE(log.find("--concurrency"), std::string::npos) << log;

  EXPECT_EQ(run_to_exit(dir, {}, &log), 2);
  EXPECT_EQ(run_to_exit(dir, {"dance"}, &log), 2);
  EXPECT_NE(log.find("dance"), std::string::npos) << log;
  EXPECT_EQ(run_to_exit(dir, {"serve", "--listen", "127.0.0.1:0"}, &log), 2);
  EXPECT_NE(log.find("--version"), std::string::npos) << log;
  EXPECT_EQ(run_to_exit(dir, {"serve", "--version", "v2", "--frobnicate", "1"}, &log), 2);
  EXPECT_NE(log.find("--frobnicate"), std::string::npos) << log;
  EXPECT_EQ(run_to_exit(dir, {"serve", "--version", "v2", "--listen", "127.0.0.1:99999"}, &log), 2);
  EXPECT_NE(log.find("99999"), std::string::npos) << log;
  EXPECT_EQ(run_to_exit(dir, {"serve", "--version", "v2", "--cpu-limit-cores", "lots"}, &log), 2);
  EXPECT_NE(log.find("lots"), std::string::npos) << log;
  EXPECT_EQ(run_to_exit(dir, {"load", "--url", "http://127.0.0.1:1/", "--rate", "5", "--duration", "10"}, &log), 2);
  EXPECT_NE(log.find("missing unit"), std::string::npos) << log;
  EXPECT_EQ(run_to_exit(dir, {"load", "--url", "ftp://x/", "--rate", "5"}, &log), 2);
  EXPECT_NE(log.find("ftp://x/"), std::string::npos) << log;
  EXPECT_EQ(run_to_exit(dir, {"load", "--url", "http://127.0.0.1:1/"}, &log), 2);
  EXPECT_NE(log.find("--rate"), std::string::npos) << log;
}

TEST_F(WorkloadTest, ServeFailsClearlyWhenThePortIsTaken) {
  start();
  std::string log;
  int code = run_to_exit(server_.dir(),
                         {"serve", "--version", "v1", "--listen", "127.0.0.1:" + std::to_string(server_.port())}, &log);
  EXPECT_EQ(code, 1) << log;
  EXPECT_NE(log.find("cannot listen"), std::string::npos) << log;
}

}  // namespace
