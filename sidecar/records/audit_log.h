// The audit log (`audit_log: PATH`): JSON Lines, one durable line per decision, actuator call,
// verification, notification and lifecycle event, with size-based rotation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "common/clock.h"

namespace rs::sidecar {

// Contract:
// - Each record() appends exactly one line `{"ts":"<RFC 3339 UTC, ms>","seq":N,"event":"...",
//   ...fields}\n` with a single write() on an O_APPEND descriptor, then fdatasync(). A line is
//   either wholly in the file or (after a crash mid-write) a torn tail without its '\n', which
//   the next open() cuts off; a failed or short write is cut off at once. Readers may therefore
//   parse every complete line as JSON.
// - `seq` increases by one per record and continues across restarts and rotations (open() reads
//   the last record of the file, or of PATH.1 when the file is new).
// - Rotation: when appending a line would take the file past max_bytes (and the file is not
//   empty), PATH.<keep_files-1> -> PATH.<keep_files>, ..., PATH -> PATH.1 by rename(), then a
//   new PATH is created and the directory fsynced. At most keep_files rotated files are kept
//   besides the current one (keep_files < 1 counts as 1). Every step is a rename of a complete
//   file, so a crash at any point leaves complete files (at worst a missing current file, which
//   the next open creates).
// - open() does not create the parent directory: a missing directory is an error naming the
//   path. When the file ends in a torn line it is truncated back to the last '\n', and an
//   "audit_log_repaired" record (fields: path, truncated_bytes) is appended.
// - Errors never throw and never abort the caller: they are logged with spdlog::error naming the
//   path, counted (write_errors()) and reported to the on_write_error callback; record() then
//   returns false. After a failure the next record() tries to reopen the file.
// - An empty path disables the log: open() and record() do nothing and succeed.
// - Thread-safe: records from several threads are serialized by a mutex (each costs one write
//   and one fdatasync, typically well under a few milliseconds on a local disk).
// - The log writes what it is given: callers must never pass secrets (tokens, passwords,
//   credential-bearing URLs or headers) in `fields`.
class AuditLog {
 public:
  static constexpr std::size_t kDefaultMaxBytes = 10 * 1024 * 1024;
  static constexpr int kDefaultKeepFiles = 5;

  explicit AuditLog(std::string path, std::size_t max_bytes = kDefaultMaxBytes, int keep_files = kDefaultKeepFiles);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens (creating if needed) the file for appending, repairing a torn tail. False with the
  // reason (naming the path) in *error when the file cannot be opened or repaired.
  bool open(std::string* error);

  // Appends one record. `fields` should be an object whose members follow ts/seq/event (a
  // member named ts, seq or event is ignored); null adds nothing; any other JSON value is stored
  // under "data". Returns false when the record could not be written (see the contract).
  bool record(const std::string& event, nlohmann::json fields = nlohmann::json::object());

  void close();

  // Called (outside the log's lock) after every failed write, e.g. to bump a counter.
  void set_on_write_error(std::function<void()> on_write_error);
  // Called (outside the lock) after every record with "" when it was written, else the error.
  // When set, the sink logs failures (PersistHealth says a full disk once, not per record) and
  // record() does not log them itself.
  void set_on_write_result(std::function<void(const std::string& error)> on_write_result);
  // Timestamps come from clock->wall() instead of the system clock (not owned; may be null).
  void set_clock(const Clock* clock);

  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  // True when the last open() cut off a torn line.
  bool repaired() const;
  std::uint64_t write_errors() const;
  // The seq the next record will get.
  std::uint64_t next_seq() const;

 private:
  bool open_locked(std::string* error);
  bool rotate_locked(std::string* error);
  bool append_locked(const std::string& event, const nlohmann::json& fields, std::string* error);

  const std::string path_;
  const std::size_t max_bytes_;
  const int keep_files_;

  mutable std::mutex mu_;
  int fd_ = -1;
  std::size_t size_ = 0;  // bytes of complete lines in the current file
  std::uint64_t next_seq_ = 1;
  bool repaired_ = false;
  std::uint64_t write_errors_ = 0;
  std::function<void()> on_write_error_;
  std::function<void(const std::string&)> on_write_result_;
  const Clock* clock_ = nullptr;
};

}  // namespace rs::sidecar
