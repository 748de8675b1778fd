#include "common/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rs::common {
namespace {

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "directory";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISSOCK(mode)) return "socket";
  return "special file";
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

std::optional<std::string> read_regular_file(const std::string& path, std::size_t max_bytes, std::string* error,
                                             bool* missing) {
  if (missing) *missing = false;
  auto fail = [&](const std::string& why) -> std::optional<std::string> {
    if (error) *error = path + ": " + why;
    return std::nullopt;
  };
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    const int saved = errno;
    if (missing && saved == ENOENT) *missing = true;
    return fail(std::strerror(saved));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail(std::string("not a regular file (") + file_kind(st.st_mode) + ")");
  if (st.st_size < 0 || static_cast<unsigned long long>(st.st_size) > max_bytes) {
    return fail(std::to_string(static_cast<long long>(st.st_size)) + " bytes, more than the limit of " +
                std::to_string(max_bytes));
  }
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buffer[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(std::string("read error: ") + std::strerror(errno));
    }
    if (n == 0) break;
    // The file may grow between fstat and read: the cap holds for what is read, too.
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      return fail("grew past the limit of " + std::to_string(max_bytes) + " bytes while being read");
    }
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace rs::common
