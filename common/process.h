// Running a command with a time limit and bounded output capture. Behind an interface so
// actuators (exec now, nginx reload later) share one careful implementation and tests can fake it.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace rs {

struct ProcessSpec {
  // argv[0] is looked up in PATH when it has no '/'. Never run through a shell.
  std::vector<std::string> argv;
  // Added to (and overriding) the caller's environment, which the child inherits.
  std::map<std::string, std::string> env;
  // The child is stopped at whichever comes first: start + timeout, or `deadline` minus the
  // kill grace (so that stopping it still ends before the deadline).
  std::chrono::milliseconds timeout{30000};
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // Between SIGTERM and SIGKILL to the process group.
  std::chrono::milliseconds kill_grace{500};
  // Per stream (stdout, stderr). Beyond it the head and tail are kept around a
  // "[... N bytes truncated ...]" marker; the rest is read and dropped so the child never blocks.
  std::size_t max_output_bytes = 64 * 1024;
};

struct ProcessResult {
  enum class Status {
    kExited,       // exit_code is valid
    kSignaled,     // killed by `signal` (not by us)
    kTimedOut,     // we stopped it (SIGTERM, then SIGKILL to the whole group); `signal` is what ended it
    kSpawnFailed,  // never ran; spawn_error says why ("No such file or directory")
  };
  Status status = Status::kSpawnFailed;
  int exit_code = -1;
  int signal = 0;
  std::string out;  // captured stdout (bounded)
  std::string err;  // captured stderr (bounded)
  bool out_truncated = false;
  bool err_truncated = false;
  std::string spawn_error;
  std::chrono::milliseconds elapsed{0};

  bool succeeded() const { return status == Status::kExited && exit_code == 0; }
};

// Contract: run() never throws, always reaps the child before returning, and returns by the
// spec's deadline plus a few milliseconds. The child runs in a new process group (pgid = its pid)
// with stdin from /dev/null, default signal dispositions and an empty signal mask; a timeout
// signals that whole group, so helpers the command started die with it. After a normal exit,
// leftover background processes are left alone, and output they write later is not captured.
// Safe to call from several threads at once. Requires SIGCHLD not to be ignored (SIG_IGN would
// make the kernel reap the child before we can read its status).
class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  virtual ProcessResult run(const ProcessSpec& spec) = 0;
};

// The real runner (posix_spawnp, pipes, poll, waitpid). Stateless; one instance can be shared.
std::shared_ptr<ProcessRunner> posix_process_runner();

// How a run failed, on one line for a result detail: "exit code 1; stderr: <tail>", "killed by
// signal 9", "timed out after 10000ms", "cannot start: No such file or directory".
std::string failure_summary(const ProcessResult& result);

// "/bin/echo 'a b' c" style rendering of argv for messages (quotes only where needed).
std::string render_argv(const std::vector<std::string>& argv);

}  // namespace rs
