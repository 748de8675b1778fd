// `demo-workload load`: a steady open-loop load generator. Requests are scheduled on a fixed
// cadence (t0 + i/rate), independent of how fast responses come back; a pool of `concurrency`
// workers sends them. When every worker is busy, up to one second of scheduled requests waits in
// a queue; beyond that a tick is counted as "dropped" rather than silently slowing the rate.

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "docker/workload/common.h"
#include "docker/workload/modes.h"

namespace workload {

const char* const kLoadUsage =
    R"(Usage: demo-workload load --url URL --rate N [options]

Sends GET requests to URL at a steady rate (open loop: requests are scheduled on a fixed cadence,
not after the previous one returns). Prints one summary line per interval and a final line.

Options:
  --url URL                   target, e.g. http://127.0.0.1:8080/ (http or https; required)
  --rate N                    requests per second, e.g. 50 or 0.5 (required)
  --duration D                stop after D, e.g. 30s or 5m (default: run until SIGTERM/SIGINT)
  --concurrency N             parallel connections/workers (default 4)
  --timeout D                 per-request connect/read/write timeout (default 5s)
  --report-interval D         how often to print a summary line (default 5s)
  -h, --help                  show this help

Summary lines (stdout):
  load: interval=5.0s sent=250 2xx=248 5xx=2 other=0 errors=0 dropped=0 rate=50.0/s
  load: done elapsed=30.0s sent=1500 2xx=1490 5xx=10 other=0 errors=0 dropped=0 rate=50.0/s
sent counts completed requests; other = any non-2xx/5xx status; errors = transport failures
(connect refused, timeout); dropped = ticks skipped because all workers were busy for a second.
Exit 0 after --duration or on SIGTERM/SIGINT.
)";

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct LoadOptions {
  std::string url;
  std::string scheme_host_port;
  std::string path;
  double rate = 0;
  std::optional<milliseconds> duration;
  long long concurrency = 4;
  milliseconds timeout{5000};
  milliseconds report_interval{5000};
};

void parse_url(LoadOptions& o) {
  const std::string& url = o.url;
  auto bad = [&](const std::string& why) { return UsageError("bad --url '" + url + "': " + why); };
  auto sep = url.find("://");
  if (sep == std::string::npos) throw bad("want http://HOST:PORT/PATH");
  std::string scheme = url.substr(0, sep);
  if (scheme != "http" && scheme != "https") throw bad("scheme must be http or https");
  std::string rest = url.substr(sep + 3);
  auto slash = rest.find('/');
  std::string host_port = rest.substr(0, slash);
  if (host_port.empty()) throw bad("no host");
  o.scheme_host_port = scheme + "://" + host_port;
  o.path = slash == std::string::npos ? "/" : rest.substr(slash);
}

std::optional<LoadOptions> parse_load_options(int argc, char** argv, int first) {
  LoadOptions o;
  bool have_rate = false;
  ArgReader args(argc, argv, first);
  while (args.next()) {
    const std::string& f = args.flag();
    if (f == "--help") {
      args.no_value();
      std::cout << kLoadUsage;
      return std::nullopt;
    } else if (f == "--url") {
      o.url = args.value();
    } else if (f == "--rate") {
      o.rate = parse_number(f, args.value(), 0.001, 100000);
      if (o.rate <= 0) throw UsageError("--rate must be positive");
      have_rate = true;
    } else if (f == "--duration") {
      o.duration = parse_duration(f, args.value());
      if (o.duration->count() <= 0) throw UsageError("--duration must be positive");
    } else if (f == "--concurrency") {
      o.concurrency = parse_integer(f, args.value(), 1, 1024);
    } else if (f == "--timeout") {
      o.timeout = parse_duration(f, args.value());
      if (o.timeout.count() <= 0) throw UsageError("--timeout must be positive");
    } else if (f == "--report-interval") {
      o.report_interval = parse_duration(f, args.value());
      if (o.report_interval.count() < 100) throw UsageError("--report-interval must be at least 100ms");
    } else {
      throw UsageError("unknown flag " + f + " for load");
    }
  }
  if (o.url.empty()) throw UsageError("load needs --url URL (e.g. http://127.0.0.1:8080/)");
  if (!have_rate) throw UsageError("load needs --rate N (requests per second)");
  parse_url(o);
  return o;
}

struct Counts {
  std::uint64_t sent = 0, ok = 0, server_error = 0, other = 0, errors = 0, dropped = 0;
};

class LoadRun {
 public:
  explicit LoadRun(const LoadOptions& o)
      : o_(o),
        capacity_(static_cast<size_t>(std::max<double>(static_cast<double>(o.concurrency), std::ceil(o.rate)))) {}

  void start() {
    t0_ = Clock::now();
    for (long long i = 0; i < o_.concurrency; ++i) workers_.emplace_back([this] { worker(); });
    scheduler_ = std::thread([this] { schedule(); });
  }

  bool scheduler_finished() {
    std::lock_guard<std::mutex> lock(mutex_);
    return scheduler_done_;
  }

  // After the schedule ended: let queued and in-flight requests finish, bounded by `grace`.
  // Returns false when the grace ran out (or a signal arrived) before all workers were done.
  bool drain(milliseconds grace) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closing_ = true;
    }
    cv_.notify_all();
    auto deadline = Clock::now() + grace;
    while (Clock::now() < deadline) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (cv_.wait_for(lock, milliseconds(50), [&] { return workers_done_ == workers_.size(); })) return true;
      }
      if (wait_stop_signal(milliseconds(0)) != 0) return false;
    }
    return false;
  }

  // Stops scheduling, discards queued requests, gives in-flight ones `grace`, then cancels them.
  void abort(milliseconds grace) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      aborting_ = true;
      closing_ = true;
      queue_.clear();
    }
    cv_.notify_all();
    std::unique_lock<std::mutex> lock(mutex_);
    if (!cv_.wait_for(lock, grace, [&] { return workers_done_ == workers_.size(); })) {
      for (auto* c : clients_) c->stop();
    }
  }

  void join() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      aborting_ = aborting_ || !closing_;
      closing_ = true;
    }
    cv_.notify_all();
    if (scheduler_.joinable()) scheduler_.join();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  Counts counts() {
    std::lock_guard<std::mutex> lock(mutex_);
    return counts_;
  }
  std::string last_error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_error_;
  }
  Clock::time_point t0() const { return t0_; }

 private:
  void schedule() {
    const double period_s = 1.0 / o_.rate;
    std::unique_lock<std::mutex> lock(mutex_);
    for (std::uint64_t i = 0;; ++i) {
      auto offset = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(period_s * i));
      if (o_.duration && offset >= *o_.duration) break;
      auto due = t0_ + offset;
      if (cv_.wait_until(lock, due, [&] { return aborting_ || closing_; })) break;
      if (queue_.size() >= capacity_) {
        ++counts_.dropped;
      } else {
        queue_.push_back(due);
        cv_.notify_all();
      }
    }
    scheduler_done_ = true;
  }

  void worker() {
    httplib::Client client(o_.scheme_host_port);
    client.set_connection_timeout(o_.timeout);
    client.set_read_timeout(o_.timeout);
    client.set_write_timeout(o_.timeout);
    client.set_keep_alive(true);
    std::unique_lock<std::mutex> lock(mutex_);
    clients_.push_back(&client);
    while (true) {
      cv_.wait(lock, [&] { return aborting_ || !queue_.empty() || (closing_ && scheduler_done_); });
      if (aborting_ || queue_.empty()) break;
      queue_.pop_front();
      lock.unlock();
      auto result = client.Get(o_.path.c_str());
      lock.lock();
      if (!result) {
        if (aborting_) continue;  // cancelled by abort(): not a failure of the target
        ++counts_.sent;
        ++counts_.errors;
        last_error_ = httplib::to_string(result.error());
      } else {
        ++counts_.sent;
        int status = result->status;
        if (status >= 200 && status < 300)
          ++counts_.ok;
        else if (status >= 500 && status < 600)
          ++counts_.server_error;
        else
          ++counts_.other;
      }
    }
    for (auto it = clients_.begin(); it != clients_.end(); ++it) {
      if (*it == &client) {
        clients_.erase(it);
        break;
      }
    }
    ++workers_done_;
    cv_.notify_all();
  }

  const LoadOptions o_;
  const size_t capacity_;
  Clock::time_point t0_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Clock::time_point> queue_;
  bool closing_ = false;   // no new requests will be scheduled
  bool aborting_ = false;  // stop now, discard the queue
  bool scheduler_done_ = false;
  size_t workers_done_ = 0;
  std::vector<httplib::Client*> clients_;
  Counts counts_;
  std::string last_error_;
  std::thread scheduler_;
  std::vector<std::thread> workers_;
};

std::string summary(const char* label, double seconds, const Counts& c, const std::string& last_error) {
  char head[64];
  std::snprintf(head, sizeof head, "load: %s=%.1fs", label, seconds);
  std::ostringstream line;
  line << head << " sent=" << c.sent << " 2xx=" << c.ok << " 5xx=" << c.server_error << " other=" << c.other
       << " errors=" << c.errors << " dropped=" << c.dropped;
  char rate[32];
  std::snprintf(rate, sizeof rate, " rate=%.1f/s", seconds > 0 ? static_cast<double>(c.sent) / seconds : 0.0);
  line << rate;
  if (c.errors > 0 && !last_error.empty()) line << " last_error=\"" << last_error << "\"";
  return line.str();
}

Counts minus(const Counts& a, const Counts& b) {
  return {a.sent - b.sent,   a.ok - b.ok,         a.server_error - b.server_error,
          a.other - b.other, a.errors - b.errors, a.dropped - b.dropped};
}

}  // namespace

int run_load(int argc, char** argv, int first) {
  auto parsed = parse_load_options(argc, argv, first);
  if (!parsed) return 0;
  const LoadOptions o = *parsed;
  {
    httplib::Client probe(o.scheme_host_port);
    if (!probe.is_valid()) throw UsageError("bad --url '" + o.url + "': cannot build a client for it");
  }

  block_stop_signals();  // before any thread exists
  log_line("load", "sending " + format_number(o.rate) + " req/s to " + o.scheme_host_port + o.path +
                       (o.duration ? " for " + std::to_string(o.duration->count()) + "ms" : " until stopped") +
                       " (concurrency " + std::to_string(o.concurrency) + ", timeout " +
                       std::to_string(o.timeout.count()) + "ms)");

  LoadRun run(o);
  run.start();
  Counts reported;
  auto last_report = run.t0();
  auto next_report = run.t0() + o.report_interval;
  int sig = 0;
  while (true) {
    auto now = Clock::now();
    if (now >= next_report) {
      Counts c = run.counts();
      double secs = std::chrono::duration<double>(now - last_report).count();
      std::cout << summary("interval", secs, minus(c, reported), run.last_error()) << std::endl;
      reported = c;
      last_report = now;
      next_report += o.report_interval;
      continue;
    }
    if (run.scheduler_finished()) break;
    auto wait = std::min<milliseconds>(milliseconds(100),
                                       std::chrono::duration_cast<milliseconds>(next_report - now) + milliseconds(1));
    sig = wait_stop_signal(wait);
    if (sig != 0) break;
  }

  if (sig != 0) {
    log_line("load", std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");
    run.abort(std::min(o.timeout, milliseconds(1000)));
  } else if (!run.drain(o.timeout + milliseconds(1000))) {
    run.abort(milliseconds(0));
  }
  run.join();
  Counts total = run.counts();
  double secs = std::chrono::duration<double>(Clock::now() - run.t0()).count();
  std::cout << summary("done elapsed", secs, total, run.last_error()) << std::endl;
  return 0;
}

}  // namespace workload
