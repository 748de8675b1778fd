#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace rs::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/rs-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed: " + std::string(strerror(errno)));
  path_ = buf.data();
}

TempDir::~TempDir() {
  const char* keep = std::getenv("RS_KEEP_TEST_DIRS");
  if (keep && std::string(keep) == "1") return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    throw std::runtime_error("bind() failed");
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

int listen_loopback(int* port, int backlog) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || ::listen(fd, backlog) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

int connect_loopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path);
  out << content;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Process::Process(std::vector<std::string> argv, const std::string& log_path,
                 std::map<std::string, std::string> extra_env, const std::string& cwd)
    : log_path_(log_path) {
  if (argv.empty()) throw std::runtime_error("Process: empty argv");
  int exec_pipe[2];
  if (pipe2(exec_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setpgid(0, 0);
    close(exec_pipe[0]);
    int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
      close(log_fd);
    }
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(127);
    for (auto& [k, v] : extra_env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    int err = errno;
    (void)!write(exec_pipe[1], &err, sizeof err);
    _exit(127);
  }
  setpgid(pid_, pid_);
  close(exec_pipe[1]);
  int err = 0;
  ssize_t n = read(exec_pipe[0], &err, sizeof err);
  close(exec_pipe[0]);
  if (n == sizeof err) {
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    throw std::runtime_error("cannot exec " + argv[0] + ": " + strerror(err));
  }
}

Process::~Process() { stop(); }

bool Process::alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = status;
    pid_ = -1;
    return false;
  }
  return true;
}

int Process::wait_exit(std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (!alive()) return status_;
    std::this_thread::sleep_for(10ms);
  }
  return -1;
}

int Process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return status_;
  kill(-pid_, SIGTERM);
  kill(pid_, SIGTERM);
  if (wait_exit(grace) != -1 || pid_ <= 0) return status_;
  kill9();
  return status_;
}

void Process::kill9() {
  if (pid_ <= 0) return;
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  status_ = status;
  pid_ = -1;
}

namespace {
size_t collect(char* ptr, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(ptr, size * nmemb);
  return size * nmemb;
}
}  // namespace

HttpResult http_request(const std::string& method, const std::string& url, const std::string& body,
                        const std::vector<std::string>& headers, std::chrono::milliseconds timeout) {
  HttpResult result;
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!body.empty() || method == "POST" || method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    result.error = curl_easy_strerror(rc);
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return result;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout, std::chrono::milliseconds poll) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(poll);
  }
}

bool wait_http_ok(const std::string& url, std::chrono::milliseconds timeout, std::string* why) {
  std::string last;
  bool ok = wait_until(
      [&] {
        auto r = http_request("GET", url, "", {}, 1000ms);
        if (r.status >= 200 && r.status < 300) return true;
        last = r.status ? "HTTP " + std::to_string(r.status) : r.error;
        return false;
      },
      timeout, 100ms);
  if (!ok && why) *why = last;
  return ok;
}

std::string find_binary(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/"}) {
    std::string p = std::string(dir) + name;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

namespace {
std::string tail(const std::string& text, size_t n = 3000) {
  return text.size() <= n ? text : text.substr(text.size() - n);
}
}  // namespace

ScrapingServer::ScrapingServer(Options options, std::string name)
    : options_(std::move(options)), name_(std::move(name)), port_(free_port()) {}
ScrapingServer::~ScrapingServer() { stop(); }

void ScrapingServer::stop() { process_.reset(); }

std::string ScrapingServer::log() const { return read_file(dir_.file("server.log")); }

std::string ScrapingServer::scrape_configs_yaml() const {
  std::ostringstream cfg;
  cfg << "scrape_configs:\n";
  if (!options_.targets.empty()) {
    cfg << "  - job_name: " << options_.job << "\n    static_configs:\n      - targets: [";
    for (size_t i = 0; i < options_.targets.size(); ++i) cfg << (i ? ", " : "") << "'" << options_.targets[i] << "'";
    cfg << "]\n";
  }
  cfg << options_.extra_scrape_configs << "\n";
  return cfg.str();
}

void ScrapingServer::launch(const std::vector<std::string>& argv, const std::string& ready_path,
                            std::chrono::milliseconds timeout) {
  process_ = std::make_unique<Process>(argv, dir_.file("server.log"));
  std::string why;
  if (!wait_http_ok(url() + ready_path, timeout, &why)) {
    throw std::runtime_error(name_ + " not ready within " + std::to_string(timeout.count() / 1000) + "s (" + why +
                             "); log:\n" + tail(log()));
  }
}

std::string ScrapingServer::query_value(const std::string& promql) {
  char* enc = curl_easy_escape(nullptr, promql.c_str(), static_cast<int>(promql.size()));
  auto r = http_request("POST", url() + "/api/v1/query", std::string("query=") + enc,
                        {"Content-Type: application/x-www-form-urlencoded"});
  curl_free(enc);
  // Extract the first "value":[ts,"v"] without a JSON dependency in the harness.
  auto pos = r.body.find("\"value\":[");
  if (pos == std::string::npos) return "";
  auto q1 = r.body.find('"', r.body.find(',', pos) + 1);
  auto q2 = r.body.find('"', q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos) return "";
  return r.body.substr(q1 + 1, q2 - q1 - 1);
}

bool ScrapingServer::wait_scraped(std::chrono::milliseconds timeout) {
  return wait_until([&] { return query_value("up{job=\"" + options_.job + "\"} == 1") == "1"; }, timeout, 200ms);
}

void PrometheusServer::start() {
  std::string bin = find_binary("prometheus");
  if (bin.empty()) throw std::runtime_error("prometheus not installed (apt-get install prometheus)");
  std::ostringstream cfg;
  cfg << "global:\n  scrape_interval: " << options_.scrape_interval
      << "\n  evaluation_interval: " << options_.evaluation_interval << "\n";
  if (!options_.rule_files.empty()) {
    cfg << "rule_files:\n";
    for (size_t i = 0; i < options_.rule_files.size(); ++i) {
      std::string dst = dir_.file("rules" + std::to_string(i) + ".yml");
      write_file(dst, read_file(options_.rule_files[i]));
      cfg << "  - " << dst << "\n";
    }
  }
  cfg << options_.extra_config << "\n";
  cfg << scrape_configs_yaml();
  write_file(dir_.file("prometheus.yml"), cfg.str());
  if (!options_.openmetrics_history.empty()) {
    std::string promtool = find_binary("promtool");
    if (promtool.empty()) throw std::runtime_error("promtool not installed (apt-get install prometheus)");
    write_file(dir_.file("history.om"), options_.openmetrics_history);
    Process backfill(
        {promtool, "tsdb", "create-blocks-from", "openmetrics", dir_.file("history.om"), dir_.file("data")},
        dir_.file("backfill.log"));
    const int status = backfill.wait_exit(120s);
    if (status != 0) {
      throw std::runtime_error("promtool tsdb create-blocks-from openmetrics failed (wait status " +
                               std::to_string(status) + "):\n" + tail(read_file(dir_.file("backfill.log"))));
    }
  }
  std::vector<std::string> argv{bin,
                                "--config.file=" + dir_.file("prometheus.yml"),
                                "--storage.tsdb.path=" + dir_.file("data"),
                                "--web.listen-address=127.0.0.1:" + std::to_string(port()),
                                "--storage.tsdb.retention.time=" + options_.retention,
                                "--log.level=warn",
                                "--web.enable-lifecycle"};
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  launch(argv, "/-/ready", 30s);
}

void VictoriaMetricsServer::start() {
  std::string bin = find_binary("victoria-metrics");
  if (bin.empty()) throw std::runtime_error("victoria-metrics not installed (apt-get install victoria-metrics)");
  if (!options_.openmetrics_history.empty())
    throw std::runtime_error("openmetrics_history is Prometheus only (promtool writes Prometheus's TSDB)");
  if (!options_.rule_files.empty() || !options_.extra_config.empty())
    throw std::runtime_error("VictoriaMetrics evaluates no rules: rule_files and extra_config are Prometheus only");
  // -promscrape.config is parsed strictly: Prometheus-only keys such as global.evaluation_interval
  // are refused ("field evaluation_interval not found in type promscrape.GlobalConfig").
  write_file(dir_.file("scrape.yml"),
             "global:\n  scrape_interval: " + options_.scrape_interval + "\n" + scrape_configs_yaml());
  launch({bin, "-httpListenAddr=127.0.0.1:" + std::to_string(port()), "-storageDataPath=" + dir_.file("data"),
          "-promscrape.config=" + dir_.file("scrape.yml"),
          // Instant queries at "now" are otherwise answered with the data of 30 s ago.
          "-search.latencyOffset=1s", "-retentionPeriod=1d", "-loggerLevel=WARN"},
         "/health", 30s);
}

std::string haproxy_config(int front_port, int admin_port, const std::vector<HaproxyBackendServer>& servers) {
  std::string config = "global\n  stats socket ipv4@127.0.0.1:" + std::to_string(admin_port) +
                       " level admin\n"
                       "defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n"
                       "frontend fe\n  bind 127.0.0.1:" +
                       std::to_string(front_port) +
                       "\n  default_backend app\n"
                       "backend app\n  balance roundrobin\n";
  for (const auto& s : servers) {
    config += "  server " + s.name + " " + s.address + " weight " + std::to_string(s.weight) +
              (s.disabled ? " disabled" : "") + "\n";
  }
  return config;
}

HaproxyServer::HaproxyServer(std::string config_text) : config_(std::move(config_text)) {}
HaproxyServer::~HaproxyServer() { stop(); }

void HaproxyServer::start(const std::vector<int>& ports_to_wait_for) {
  std::string bin = find_binary("haproxy");
  if (bin.empty()) throw std::runtime_error("haproxy not installed (apt-get install haproxy)");
  write_file(dir_.file("haproxy.cfg"), config_);
  process_ = std::make_unique<Process>(std::vector<std::string>{bin, "-db", "-f", dir_.file("haproxy.cfg")},
                                       dir_.file("haproxy.log"));
  for (int port : ports_to_wait_for) {
    bool up = wait_until(
        [&] {
          int fd = socket(AF_INET, SOCK_STREAM, 0);
          sockaddr_in addr{};
          addr.sin_family = AF_INET;
          addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          addr.sin_port = htons(static_cast<uint16_t>(port));
          bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
          close(fd);
          return ok;
        },
        15s, 50ms);
    if (!up) throw std::runtime_error("HAProxy port " + std::to_string(port) + " not up in 15s; log:\n" + tail(log()));
  }
}

void HaproxyServer::stop() { process_.reset(); }
std::string HaproxyServer::log() const { return read_file(dir_.file("haproxy.log")); }

std::string HaproxyServer::runtime_command(int admin_port, const std::string& command) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(admin_port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "<connect failed>";
  }
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string line = command + "\n";
  (void)!send(fd, line.data(), line.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  close(fd);
  return reply;
}

struct FakeHttpServer::Impl {
  httplib::Server server;
  std::thread thread;
  std::mutex mu;
  std::string metrics;
  struct Route {
    int status;
    std::string body;
    std::chrono::milliseconds delay;
    std::string content_type;
  };
  std::map<std::string, Route> routes;
  std::vector<Seen> seen;
  std::atomic<bool> listen_returned{false};

  void handle(const httplib::Request& req, httplib::Response& res) {
    Route route{404, "not found", 0ms, "text/plain"};
    {
      std::lock_guard<std::mutex> lock(mu);
      Seen s{req.method, req.path, req.body, {}};
      for (auto& [k, v] : req.headers) s.headers[k] = v;
      seen.push_back(std::move(s));
      if (req.path == "/metrics" && routes.count("/metrics") == 0) {
        route = {200, metrics, 0ms, "text/plain; version=0.0.4"};
      } else if (auto it = routes.find(req.path); it != routes.end()) {
        route = it->second;
      }
    }
    if (route.delay.count() > 0) std::this_thread::sleep_for(route.delay);
    res.status = route.status;
    res.set_content(route.body, route.content_type.c_str());
  }
};

FakeHttpServer::FakeHttpServer() : impl_(std::make_unique<Impl>()) {
  Impl* impl = impl_.get();  // captured instead of `this`, so a leaked Impl stays self-contained
  auto handler = [impl](const httplib::Request& req, httplib::Response& res) { impl->handle(req, res); };
  impl_->server.Get(".*", handler);
  impl_->server.Post(".*", handler);
  impl_->server.Put(".*", handler);
  impl_->server.Delete(".*", handler);
  // httplib's default pool (8 workers) parks a worker on every idle keep-alive connection for
  // up to 5 s, so a 9th concurrent client would stall; give tests plenty of headroom.
  impl_->server.new_task_queue = [] { return new httplib::ThreadPool(64); };
  port_ = impl_->server.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("FakeHttpServer: cannot bind");
  impl_->thread = std::thread([impl] {
    impl->server.listen_after_bind();
    impl->listen_returned = true;
  });
  // httplib's stop() does nothing until the listen loop runs, so a server destroyed right after
  // construction would never stop and the destructor's join() would hang: wait until it runs.
  bool running = wait_until([&] { return impl_->server.is_running() || impl_->listen_returned; }, 30s, 1ms);
  if (!running || !impl_->server.is_running()) {
    impl_->server.stop();
    if (impl_->listen_returned) {
      impl_->thread.join();
    } else {
      impl_->thread.detach();  // cannot be stopped: leak it (and what it uses) rather than hang
      impl_.release();
    }
    throw std::runtime_error("FakeHttpServer: listen loop did not start within 30s");
  }
}

FakeHttpServer::~FakeHttpServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void FakeHttpServer::set_metrics(const std::string& text) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->metrics = text;
}

void FakeHttpServer::set_route(const std::string& path, int status, const std::string& body,
                               std::chrono::milliseconds delay, const std::string& content_type) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->routes[path] = {status, body, delay, content_type};
}

std::vector<FakeHttpServer::Seen> FakeHttpServer::seen() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->seen;
}

}  // namespace rs::testing
