#include "common/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>

#include "common/utf8.h"

extern char** environ;

namespace rs {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Keeps the first and last max/2 bytes of a stream; counts what falls in between. Both cuts
// fall on UTF-8 character boundaries (a character they would split is counted as dropped).
class Capture {
 public:
  explicit Capture(size_t max) : head_cap_(max - max / 2), tail_cap_(max / 2) {}

  void append(const char* p, size_t n) {
    size_t h = std::min(n, head_cap_ - head_.size());
    head_.append(p, h);
    p += h;
    n -= h;
    if (n == 0) return;
    if (tail_.empty() && dropped_ == 0) after_head_ = *p;  // tells finish() whether the head split a character
    tail_.append(p, n);
    if (tail_.size() > 2 * tail_cap_ + 4096) trim_tail();  // amortised: trim in batches
  }

  std::string finish(bool* truncated) {
    trim_tail();
    *truncated = dropped_ > 0;
    if (dropped_ == 0) return head_ + tail_;
    std::string head = common::cut_utf8_prefix(head_ + after_head_, head_.size());
    const size_t dropped = dropped_ + head_.size() - head.size();
    return head + "\n[... " + std::to_string(dropped) + " bytes truncated ...]\n" + tail_;
  }

 private:
  void trim_tail() {
    if (tail_.size() <= tail_cap_) return;
    std::string kept = common::cut_utf8_suffix(tail_, tail_cap_);
    dropped_ += tail_.size() - kept.size();
    tail_ = std::move(kept);
  }

  size_t head_cap_, tail_cap_;
  std::string head_, tail_;
  char after_head_ = 0;  // the first byte after the head, once there is one
  size_t dropped_ = 0;
};

struct Stream {
  int fd = -1;
  Capture capture;
  explicit Stream(size_t max) : capture(max) {}
  ~Stream() { close_fd(); }
  void close_fd() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  // Reads what is available without blocking; closes on EOF or error.
  void drain() {
    char buf[16384];
    while (fd >= 0) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        capture.append(buf, static_cast<size_t>(n));
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return;
      } else {
        close_fd();
      }
    }
  }
};

int ms_until(Clock::time_point until) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
}

// Polls the open streams for up to `wait`, then drains whatever is readable.
void pump(Stream& out, Stream& err, std::chrono::milliseconds wait) {
  pollfd fds[2];
  nfds_t n = 0;
  for (Stream* s : {&out, &err})
    if (s->fd >= 0) fds[n++] = {s->fd, POLLIN, 0};
  int ms = static_cast<int>(std::max<long long>(0, wait.count()));
  if (::poll(n ? fds : nullptr, n, ms) > 0) {
    out.drain();
    err.drain();
  }
}

// True once the child has exited, without reaping it: while it is an unreaped zombie its pid
// (= the process group id) cannot be reused, so signalling the group stays safe.
bool exited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return errno != EINTR;
  return info.si_pid == pid;
}

Clock::time_point add(Clock::time_point t, std::chrono::milliseconds d) {
  return (Clock::time_point::max() - t) > d ? t + d : Clock::time_point::max();
}

class PosixProcessRunner final : public ProcessRunner {
 public:
  ProcessResult run(const ProcessSpec& spec) override {
    try {
      return run_impl(spec);
    } catch (const std::exception& e) {  // only std::bad_alloc can get here
      ProcessResult r;
      r.spawn_error = std::string("internal error: ") + e.what();
      return r;
    }
  }

 private:
  ProcessResult run_impl(const ProcessSpec& spec) {
    ProcessResult r;
    const auto start = Clock::now();
    if (spec.argv.empty() || spec.argv[0].empty()) {
      r.spawn_error = "empty command";
      return r;
    }
    if (start >= spec.deadline) {
      r.spawn_error = "deadline passed before start";
      return r;
    }

    Stream out(spec.max_output_bytes), err(spec.max_output_bytes);
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
      r.spawn_error = std::string("pipe: ") + std::strerror(errno);
      return r;
    }
    out.fd = out_pipe[0];
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
      ::close(out_pipe[1]);
      r.spawn_error = std::string("pipe: ") + std::strerror(errno);
      return r;
    }
    err.fd = err_pipe[0];
    ::fcntl(out.fd, F_SETFL, O_NONBLOCK);
    ::fcntl(err.fd, F_SETFL, O_NONBLOCK);

    std::vector<std::string> env_strings;
    for (char** e = environ; e && *e; ++e) {
      std::string entry(*e);
      if (spec.env.count(entry.substr(0, entry.find('='))) == 0) env_strings.push_back(std::move(entry));
    }
    for (const auto& [k, v] : spec.env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, argv;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = spec.argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);

    // dup2 onto 1/2 clears close-on-exec there; every other descriptor we own is O_CLOEXEC,
    // so the child (and threads spawning concurrently) inherit nothing else.
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);  // new group led by the child: one kill() reaches its helpers
    sigset_t mask, defaults;
    sigemptyset(&mask);
    sigfillset(&defaults);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);  // e.g. undo an ignored SIGPIPE of the daemon
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0) {
      r.spawn_error = std::strerror(rc);
      return r;
    }

    // Stop early enough that SIGTERM + grace + SIGKILL still fit before the deadline.
    auto grace = spec.kill_grace;
    auto kill_at = add(start, spec.timeout);
    if (spec.deadline != Clock::time_point::max()) {
      grace = std::min(grace, std::chrono::duration_cast<std::chrono::milliseconds>((spec.deadline - start) / 5));
      kill_at = std::min(kill_at, spec.deadline - grace);
    }

    bool timed_out = false;
    std::optional<Clock::time_point> exit_seen;
    while (true) {
      if (!exit_seen && exited(pid)) exit_seen = Clock::now();
      bool streams_open = out.fd >= 0 || err.fd >= 0;
      if (exit_seen) {
        // Output written just before exit is in the pipes; a helper left running in the
        // background may hold them open forever, so drain only briefly.
        if (!streams_open || Clock::now() >= std::min(*exit_seen + 100ms, spec.deadline)) break;
      } else if (Clock::now() >= kill_at) {
        timed_out = true;
        break;
      }
      auto until = exit_seen ? *exit_seen + 100ms : kill_at;
      // 25ms bounds how late an exit is noticed when the streams stay quiet.
      pump(out, err, std::min<std::chrono::milliseconds>(25ms, std::chrono::milliseconds(ms_until(until))));
    }

    if (timed_out) {
      ::kill(-pid, SIGTERM);
      auto term_until = Clock::now() + grace;
      while (!exited(pid) && Clock::now() < term_until)
        pump(out, err, std::min<std::chrono::milliseconds>(10ms, std::chrono::milliseconds(ms_until(term_until))));
      ::kill(-pid, SIGKILL);  // whatever is left of the group, helpers included
    }

    int status = 0;
    pid_t w;
    do {
      w = ::waitpid(pid, &status, 0);
    } while (w < 0 && errno == EINTR);
    out.drain();
    err.drain();

    r.out = out.capture.finish(&r.out_truncated);
    r.err = err.capture.finish(&r.err_truncated);
    r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (w != pid) {
      r.status = ProcessResult::Status::kSignaled;
      r.err += "[exit status unavailable: " + std::string(std::strerror(errno)) + "]";
    } else if (timed_out) {
      r.status = ProcessResult::Status::kTimedOut;
      r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    } else if (WIFEXITED(status)) {
      r.status = ProcessResult::Status::kExited;
      r.exit_code = WEXITSTATUS(status);
    } else {
      r.status = ProcessResult::Status::kSignaled;
      r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    return r;
  }
};

}  // namespace

std::shared_ptr<ProcessRunner> posix_process_runner() {
  static const std::shared_ptr<ProcessRunner> runner = std::make_shared<PosixProcessRunner>();
  return runner;
}

std::string failure_summary(const ProcessResult& r) {
  auto one_line = [](std::string text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    if (text.size() > 512) text = "..." + common::cut_utf8_suffix(text, 512);
    for (auto& c : text) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    return common::valid_utf8(text);  // goes into actuator details, hence into JSON
  };
  std::string how;
  switch (r.status) {
    case ProcessResult::Status::kSpawnFailed: return "cannot start: " + r.spawn_error;
    case ProcessResult::Status::kExited: how = "exit code " + std::to_string(r.exit_code); break;
    case ProcessResult::Status::kSignaled: how = "killed by signal " + std::to_string(r.signal); break;
    case ProcessResult::Status::kTimedOut: how = "timed out after " + std::to_string(r.elapsed.count()) + "ms"; break;
  }
  const std::string err = one_line(r.err);
  const std::string out = one_line(r.out);
  if (!err.empty()) return how + "; stderr: " + err;
  if (!out.empty()) return how + "; stdout: " + out;
  return how;
}

std::string render_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](unsigned char c) {
      return std::isalnum(c) || (c != 0 && std::strchr("_./:=@%+,-", c) != nullptr);
    });
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

}  // namespace rs
