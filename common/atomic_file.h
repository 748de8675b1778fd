// Crash-safe whole-file replacement, shared by the state store, incident reports and the
// file-writing actuators (nginx, file).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <sys/types.h>

namespace rs::common {

// Replaces `path` with `data` so that a reader (or a crash at any moment) sees either the old
// file or the new one, never a mix: a uniquely named temp file in the same directory, write,
// fsync, rename over `path`, fsync the directory. The temp file is removed on failure.
// Returns false and sets *error ("<path>: cannot write <temp>: <strerror>") on failure.
bool write_file_atomically(const std::string& path, const std::string& data, mode_t mode, std::string* error);

// The whole file, or nullopt with *error set ("<path>: <strerror>"). `exists` (optional) is set
// to false when the file does not exist, so callers can tell "absent" from "unreadable".
std::optional<std::string> read_file(const std::string& path, std::string* error, bool* exists = nullptr);

// An exclusive advisory lock (flock) on `path` (created if missing), held until destruction.
// Serializes read-change-verify sequences of several processes (one sidecar per replica) on one
// file. locked() is false when the lock could not be taken by `deadline`; error() says why.
class FileLock {
 public:
  FileLock(const std::string& path, std::chrono::steady_clock::time_point deadline);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool locked() const { return fd_ >= 0; }
  const std::string& error() const { return error_; }

 private:
  int fd_ = -1;
  std::string error_;
};

// "dir" of "dir/name" ("." for a bare name, "/" for "/name").
std::string directory_of(const std::string& path);

}  // namespace rs::common
