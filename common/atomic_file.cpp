#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace rs::common {

namespace {

bool write_all(int fd, const std::string& data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string directory_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool write_file_atomically(const std::string& path, const std::string& data, mode_t mode, std::string* error) {
  // Unique per process and call, so concurrent writers (threads or sidecars sharing a directory)
  // never share a temp file; the leading dot keeps it out of globs like *.md or *.conf.
  static std::atomic<unsigned> counter{0};
  const std::string dir = directory_of(path);
  const std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  const std::string temp =
      dir + "/." + base + "." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1)) + ".tmp";
  auto fail = [&](const std::string& what) {
    if (error) *error = path + ": " + what + ": " + std::strerror(errno);
    return false;
  };
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return fail("cannot create " + temp);
  if (!write_all(fd, data) || ::fsync(fd) != 0) {
    int saved = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    errno = saved;
    return fail("cannot write " + temp);
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    return fail("cannot rename " + temp);
  }
  int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d >= 0) {  // makes the rename itself durable
    ::fsync(d);
    ::close(d);
  }
  return true;
}

std::optional<std::string> read_file(const std::string& path, std::string* error, bool* exists) {
  if (exists) *exists = true;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int saved = errno;
    if (exists && saved == ENOENT) *exists = false;
    if (error) *error = path + ": " + std::strerror(saved);
    return std::nullopt;
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) {
    if (error) *error = path + ": read error";
    return std::nullopt;
  }
  return out.str();
}

FileLock::FileLock(const std::string& path, std::chrono::steady_clock::time_point deadline) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    error_ = path + ": cannot open lock file: " + std::strerror(errno);
    return;
  }
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      error_ = path + ": cannot lock: " + std::strerror(errno);
      ::close(fd);
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      error_ = path + ": still locked by another process at the deadline";
      ::close(fd);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  fd_ = fd;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace rs::common
