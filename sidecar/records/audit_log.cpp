#include "sidecar/records/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/json_text.h"

namespace rs::sidecar {
namespace {

constexpr std::size_t kChunk = 4096;
constexpr off_t kMaxLastLine = 16 * 1024 * 1024;  // longer "last lines" are not read for seq

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string errno_text(int err) { return std::strerror(err); }

void fsync_directory(const std::string& path) {
  int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {  // makes creations and renames durable
    ::fsync(dir);
    ::close(dir);
  }
}

bool pread_all(int fd, char* buf, std::size_t n, off_t offset) {
  std::size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, offset + static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<std::size_t>(r);
  }
  return true;
}

// Offset of the last '\n' in [0, end), -1 when there is none, -2 on a read error (errno set).
off_t find_last_newline(int fd, off_t end, off_t limit = -1) {
  std::vector<char> buf(kChunk);
  off_t stop = limit < 0 ? 0 : std::max<off_t>(0, end - limit);
  while (end > stop) {
    off_t start = std::max<off_t>(stop, end - static_cast<off_t>(kChunk));
    std::size_t n = static_cast<std::size_t>(end - start);
    if (!pread_all(fd, buf.data(), n, start)) return -2;
    for (std::size_t i = n; i-- > 0;) {
      if (buf[i] == '\n') return start + static_cast<off_t>(i);
    }
    end = start;
  }
  return -1;
}

// The seq of the last complete line of the file open as `fd` (of `size` bytes ending in '\n').
std::uint64_t last_seq(int fd, off_t size) {
  if (size <= 0) return 0;
  off_t prev = find_last_newline(fd, size - 1, kMaxLastLine);
  if (prev == -2) return 0;
  off_t start = prev + 1;
  std::string line(static_cast<std::size_t>(size - 1 - start), '\0');
  if (!line.empty() && !pread_all(fd, line.data(), line.size(), start)) return 0;
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned()) return 0;
  return j["seq"].get<std::uint64_t>();
}

std::uint64_t last_seq_of_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat st {};
  std::uint64_t seq = 0;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    char last = 0;
    if (pread_all(fd, &last, 1, st.st_size - 1)) {
      off_t end = st.st_size;
      if (last != '\n') {  // torn tail: look at the last complete line
        off_t nl = find_last_newline(fd, end);
        end = nl >= 0 ? nl + 1 : 0;
      }
      seq = last_seq(fd, end);
    }
  }
  ::close(fd);
  return seq;
}

}  // namespace

AuditLog::AuditLog(std::string path, std::size_t max_bytes, int keep_files)
    : path_(std::move(path)), max_bytes_(max_bytes), keep_files_(std::max(1, keep_files)) {}

AuditLog::~AuditLog() { close(); }

void AuditLog::close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void AuditLog::set_on_write_error(std::function<void()> on_write_error) {
  std::lock_guard<std::mutex> lock(mu_);
  on_write_error_ = std::move(on_write_error);
}

void AuditLog::set_on_write_result(std::function<void(const std::string&)> on_write_result) {
  std::lock_guard<std::mutex> lock(mu_);
  on_write_result_ = std::move(on_write_result);
}

void AuditLog::set_clock(const Clock* clock) {
  std::lock_guard<std::mutex> lock(mu_);
  clock_ = clock;
}

bool AuditLog::repaired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return repaired_;
}

std::uint64_t AuditLog::write_errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return write_errors_;
}

std::uint64_t AuditLog::next_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_seq_;
}

bool AuditLog::open(std::string* error) {
  if (!enabled()) return true;
  std::string why;
  bool ok;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ok = open_locked(&why);
  }
  if (!ok && error) *error = why;  // the caller decides (a startup error, usually)
  return ok;
}

// Opens PATH, cuts off a torn tail, restores seq; appends the repair record when one happened.
bool AuditLog::open_locked(std::string* error) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  repaired_ = false;
  auto fail = [&](const std::string& what, int err) {
    *error = "audit log " + path_ + ": " + what + ": " + errno_text(err);
    return false;
  };
  struct stat st {};
  const bool existed = ::stat(path_.c_str(), &st) == 0;
  int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    int err = errno;
    struct stat dir_st {};
    if (err == ENOENT && ::stat(directory_of(path_).c_str(), &dir_st) != 0) {
      return fail("cannot open: directory " + directory_of(path_) + " does not exist", err);
    }
    return fail("cannot open", err);
  }
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail("cannot stat", err);
  }
  off_t size = st.st_size;
  std::size_t truncated = 0;
  if (size > 0) {
    char last = 0;
    if (!pread_all(fd, &last, 1, size - 1)) {
      int err = errno;
      ::close(fd);
      return fail("cannot read", err);
    }
    if (last != '\n') {  // a crash mid-write: cut the torn line off
      off_t nl = find_last_newline(fd, size);
      if (nl == -2) {
        int err = errno;
        ::close(fd);
        return fail("cannot read", err);
      }
      off_t keep = nl + 1;  // 0 when there is no complete line at all
      if (::ftruncate(fd, keep) != 0 || ::fsync(fd) != 0) {
        int err = errno;
        ::close(fd);
        return fail("cannot truncate the torn last line", err);
      }
      truncated = static_cast<std::size_t>(size - keep);
      size = keep;
    }
  }
  if (!existed) fsync_directory(path_);
  std::uint64_t seq = size > 0 ? last_seq(fd, size) : last_seq_of_file(path_ + ".1");
  next_seq_ = std::max(next_seq_, seq + 1);
  fd_ = fd;
  size_ = static_cast<std::size_t>(size);
  if (truncated > 0) {
    repaired_ = true;
    spdlog::warn("audit log {}: cut off a torn last line ({} bytes) left by a crash", path_, truncated);
    std::string why;
    if (!append_locked("audit_log_repaired", {{"path", path_}, {"truncated_bytes", truncated}}, &why)) {
      *error = why;
      return false;
    }
  }
  return true;
}

bool AuditLog::rotate_locked(std::string* error) {
  for (int i = keep_files_ - 1; i >= 1; --i) {
    const std::string from = path_ + "." + std::to_string(i);
    const std::string to = path_ + "." + std::to_string(i + 1);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      *error = "audit log " + path_ + ": cannot rotate " + from + " to " + to + ": " + errno_text(errno);
      return false;
    }
  }
  const std::string first = path_ + ".1";
  if (::rename(path_.c_str(), first.c_str()) != 0 && errno != ENOENT) {
    *error = "audit log " + path_ + ": cannot rotate to " + first + ": " + errno_text(errno);
    return false;
  }
  ::close(fd_);
  fd_ = -1;
  size_ = 0;
  int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    *error = "audit log " + path_ + ": cannot create after rotation: " + errno_text(errno);
    return false;
  }
  fd_ = fd;
  fsync_directory(path_);
  return true;
}

bool AuditLog::append_locked(const std::string& event, const nlohmann::json& fields, std::string* error) {
  try {
    const WallTime now = clock_ ? clock_->wall() : std::chrono::system_clock::now();
    const std::uint64_t seq = next_seq_;
    std::string line = "{\"ts\":" + common::dump_json(to_rfc3339(now)) + ",\"seq\":" + std::to_string(seq) +
                       ",\"event\":" + common::dump_json(event);
    if (fields.is_object()) {
      for (const auto& item : fields.items()) {
        const std::string& key = item.key();
        if (key == "ts" || key == "seq" || key == "event") continue;
        line += "," + common::dump_json(key) + ":" + common::dump_json(item.value());
      }
    } else if (!fields.is_null()) {
      line += ",\"data\":" + common::dump_json(fields);
    }
    line += "}\n";

    if (fd_ < 0 && !open_locked(error)) return false;
    if (size_ > 0 && size_ + line.size() > max_bytes_) {
      std::string why;
      if (!rotate_locked(&why)) {
        if (fd_ < 0) {
          *error = why;
          return false;
        }
        // The renames failed: keep appending to the current file rather than lose the record.
        spdlog::error("{}", why);
      }
    }

    // One write() of the whole line; a short write (disk full) is retried for the rest and, if
    // that fails too, cut off so that no torn line stays behind.
    std::size_t done = 0;
    while (done < line.size()) {
      ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = n < 0 ? errno : EIO;
        if (done > 0 && ::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
          // The file now ends in a torn line: reopen (and repair) before the next record.
          ::close(fd_);
          fd_ = -1;
        }
        *error = "audit log " + path_ + ": cannot write: " + errno_text(err);
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    size_ += line.size();
    next_seq_ = seq + 1;
    if (::fdatasync(fd_) != 0) {
      *error = "audit log " + path_ + ": fdatasync failed: " + errno_text(errno);
      return false;
    }
    return true;
  } catch (const std::exception& e) {  // allocation or JSON failure: never escapes record()
    *error = "audit log " + path_ + ": cannot format the record: " + e.what();
    return false;
  }
}

bool AuditLog::record(const std::string& event, nlohmann::json fields) {
  if (!enabled()) return true;
  std::string error;
  std::function<void()> callback;
  std::function<void(const std::string&)> result;
  bool ok = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ok = append_locked(event, fields, &error);
    if (!ok) ++write_errors_;
    callback = on_write_error_;
    result = on_write_result_;
  }
  if (ok) {
    if (result) result("");
    return true;
  }
  if (result)
    result(error + " (event " + event + ")");
  else
    spdlog::error("{} (event {})", error, event);
  if (callback) callback();
  return false;
}

}  // namespace rs::sidecar
