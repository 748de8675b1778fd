#include "actuators/haproxy/haproxy_runtime.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/utf8.h"

namespace rs::actuators::haproxy {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxReply = 1 << 20;

int ms_until(Clock::time_point until) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
}

std::string ms_text(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// Name resolution bounded by `until`: getaddrinfo cannot be cancelled, so a slow lookup runs
// on a detached thread and is abandoned at the deadline (its result is then dropped).
bool resolve(const std::string& host, int port, Clock::time_point until, std::vector<Endpoint>* out,
             std::string* error) {
  Endpoint ep;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ep.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ep.addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    ep.len = sizeof *v4;
    out->push_back(ep);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    ep.len = sizeof *v6;
    out->push_back(ep);
    return true;
  }
  struct Lookup {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    int rc = 0;
    std::vector<Endpoint> found;
  };
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, host, port] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_NUMERICSERV;
      addrinfo* res = nullptr;
      int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
      std::vector<Endpoint> found;
      for (addrinfo* ai = res; rc == 0 && ai; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
        Endpoint e;
        std::memcpy(&e.addr, ai->ai_addr, ai->ai_addrlen);
        e.len = ai->ai_addrlen;
        found.push_back(e);
      }
      if (res) freeaddrinfo(res);
      std::lock_guard<std::mutex> lock(lookup->mu);
      lookup->rc = rc;
      lookup->found = std::move(found);
      lookup->done = true;
      lookup->cv.notify_all();
    }).detach();
  } catch (const std::exception& e) {
    *error = std::string("cannot start name resolution: ") + e.what();
    return false;
  }
  std::unique_lock<std::mutex> lock(lookup->mu);
  if (!lookup->cv.wait_until(lock, until, [&] { return lookup->done; })) {
    *error = "resolving " + host + " timed out";
    return false;
  }
  if (lookup->rc != 0) {
    *error = "cannot resolve " + host + ": " + gai_strerror(lookup->rc);
    return false;
  }
  if (lookup->found.empty()) {
    *error = "cannot resolve " + host + ": no addresses";
    return false;
  }
  *out = std::move(lookup->found);
  return true;
}

// Non-blocking connect bounded by `until`. Returns the connected fd or -1 with *error set.
int connect_one(const Endpoint& ep, Clock::time_point until, const std::string& what, std::string* error) {
  int fd = ::socket(ep.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = "socket(): " + std::string(std::strerror(errno));
    return -1;
  }
  Fd guard(fd);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) != 0) {
    if (errno == EAGAIN && ep.addr.ss_family == AF_UNIX) {
      *error = "connect to " + what + ": listen backlog full (EAGAIN)";
      return -1;
    }
    if (errno != EINPROGRESS) {
      *error = "connect to " + what + ": " + std::strerror(errno);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int n;
    do {
      n = ::poll(&p, 1, ms_until(until));
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      *error = "connect to " + what + " timed out";
      return -1;
    }
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (n < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) so_error = errno;
    if (so_error != 0) {
      *error = "connect to " + what + ": " + std::strerror(so_error);
      return -1;
    }
  }
  return guard.release();
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split_ws(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  std::string tok;
  while (in >> tok) out.push_back(tok);
  return out;
}

bool parse_long(const std::string& s, long* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = v;
  return true;
}

}  // namespace

std::optional<Address> Address::parse(const std::string& text, std::string* error) {
  Address a;
  a.text = text;
  const std::string unix_prefix = "unix:";
  if (text.compare(0, unix_prefix.size(), unix_prefix) == 0) {
    a.kind = Kind::kUnix;
    a.path = text.substr(unix_prefix.size());
    if (a.path.empty()) {
      *error = "\"" + text + "\": unix: needs a socket path, e.g. unix:/run/haproxy/admin.sock";
      return std::nullopt;
    }
    if (a.path.size() >= sizeof(sockaddr_un{}.sun_path)) {
      *error = "\"" + text + "\": unix socket path longer than " + std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) +
               " bytes";
      return std::nullopt;
    }
    return a;
  }
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *error = "\"" + text + "\": expected [ipv6]:port";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) {
      *error = "\"" + text + "\": expected host:port, [ipv6]:port or unix:/path";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  long p = 0;
  if (host.empty() || !parse_long(port, &p) || p < 1 || p > 65535) {
    *error = "\"" + text + "\": expected host:port with a port 1-65535, or unix:/path";
    return std::nullopt;
  }
  a.kind = Kind::kTcp;
  a.host = host;
  a.port = static_cast<int>(p);
  return a;
}

RuntimeClient::RuntimeClient(Address address, std::chrono::milliseconds connect_timeout,
                             std::chrono::milliseconds read_timeout)
    : address_(std::move(address)), connect_timeout_(connect_timeout), read_timeout_(read_timeout) {}

Reply RuntimeClient::command(const std::string& command, Clock::time_point deadline) const {
  Reply reply;
  const std::string& what = address_.text;
  auto start = Clock::now();
  if (start >= deadline) {
    reply.error = "deadline passed before connecting to " + what;
    return reply;
  }
  auto connect_until = std::min(deadline, start + connect_timeout_);
  bool deadline_binds_connect = deadline < start + connect_timeout_;

  std::vector<Endpoint> endpoints;
  if (address_.kind == Address::Kind::kUnix) {
    Endpoint ep;
    auto* un = reinterpret_cast<sockaddr_un*>(&ep.addr);
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, address_.path.c_str(), address_.path.size() + 1);
    ep.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.path.size() + 1);
    endpoints.push_back(ep);
  } else if (!resolve(address_.host, address_.port, connect_until, &endpoints, &reply.error)) {
    return reply;
  }

  Fd fd;
  std::string error;
  for (const auto& ep : endpoints) {
    fd.reset(connect_one(ep, connect_until, what, &error));
    if (fd.get() >= 0) break;
  }
  if (fd.get() < 0) {
    if (error.find("timed out") != std::string::npos)
      error += deadline_binds_connect ? " (deadline reached)" : " after " + ms_text(connect_timeout_);
    reply.error = error;
    return reply;
  }

  auto now = Clock::now();
  auto read_until = std::min(deadline, now + read_timeout_);
  auto timed_out = [&](const std::string& phase) {
    return phase + " " + what + " timed out" +
           (deadline < now + read_timeout_ ? std::string(" (deadline reached)")
                                           : " after " + ms_text(read_timeout_) + " (read_timeout)");
  };

  std::string line = command + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd.get(), POLLOUT, 0};
      int r = ::poll(&p, 1, ms_until(read_until));
      if (r == 0) {
        reply.error = timed_out("sending to");
        return reply;
      }
      continue;
    }
    reply.error = "send to " + what + ": " + std::strerror(errno);
    return reply;
  }

  std::string text;
  char buf[8192];
  while (true) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > kMaxReply) {
        reply.error = "reply from " + what + " larger than 1 MiB";
        return reply;
      }
      continue;
    }
    if (n == 0) break;  // HAProxy closed: the reply is complete
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd p{fd.get(), POLLIN, 0};
      int r = ::poll(&p, 1, ms_until(read_until));
      if (r == 0) {
        reply.error = timed_out("reading reply from");
        return reply;
      }
      continue;
    }
    reply.error = "reading reply from " + what + ": " + std::strerror(errno);
    return reply;
  }
  reply.ok = true;
  reply.text = std::move(text);
  return reply;
}

std::optional<std::vector<ServerState>> parse_servers_state(const std::string& reply, std::string* error) {
  std::vector<std::string> lines;
  {
    std::istringstream in(reply);
    std::string line;
    while (std::getline(in, line)) {
      line = trim(line);
      if (!line.empty()) lines.push_back(line);
    }
  }
  long version = 0;
  if (lines.empty() || !parse_long(lines[0], &version) || version < 1) {
    *error = "HAProxy replied \"" + quote_reply(reply) + "\" (expected a server state dump)";
    return std::nullopt;
  }
  if (lines.size() < 2 || lines[1][0] != '#') {
    *error = "server state dump without a \"# ...\" header line: \"" + quote_reply(reply) + "\"";
    return std::nullopt;
  }
  std::vector<std::string> header = split_ws(lines[1].substr(1));
  auto column = [&](const char* name) -> long {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? -1 : static_cast<long>(it - header.begin());
  };
  const char* names[] = {"srv_name", "srv_op_state", "srv_admin_state", "srv_uweight", "srv_iweight"};
  long idx[5];
  for (int i = 0; i < 5; ++i) {
    idx[i] = column(names[i]);
    if (idx[i] < 0) {
      *error = std::string("server state header lacks column ") + names[i] + ": \"" + lines[1] + "\"";
      return std::nullopt;
    }
  }
  long needed = *std::max_element(idx, idx + 5) + 1;
  std::vector<ServerState> servers;
  for (size_t i = 2; i < lines.size(); ++i) {
    if (lines[i][0] == '#') continue;  // comments are allowed anywhere
    auto fields = split_ws(lines[i]);
    if (static_cast<long>(fields.size()) < needed) {
      *error = "server state row has " + std::to_string(fields.size()) + " fields, expected at least " +
               std::to_string(needed) + ": \"" + lines[i] + "\"";
      return std::nullopt;
    }
    ServerState s;
    s.name = fields[idx[0]];
    long op = 0, admin = 0;
    if (!parse_long(fields[idx[1]], &op) || !parse_long(fields[idx[2]], &admin) || admin < 0 ||
        !parse_long(fields[idx[3]], &s.uweight) || !parse_long(fields[idx[4]], &s.iweight)) {
      *error = "server state row with a non-numeric state or weight: \"" + lines[i] + "\"";
      return std::nullopt;
    }
    s.op_state = static_cast<int>(op);
    s.admin_state = static_cast<unsigned>(admin);
    servers.push_back(std::move(s));
  }
  return servers;
}

std::string describe_admin_state(unsigned admin_state) {
  static const std::pair<unsigned, const char*> kNames[] = {
      {kForcedMaint, "forced-maint"}, {kInheritedMaint, "inherited-maint"}, {kConfigMaint, "config-maint"},
      {kForcedDrain, "forced-drain"}, {kInheritedDrain, "inherited-drain"}, {kResolutionMaint, "resolution-maint"},
  };
  if ((admin_state & (kAnyMaint | kAnyDrain)) == 0) return "ready";
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (admin_state & bit) out += (out.empty() ? "" : "+") + std::string(name);
  }
  return out;
}

std::string quote_reply(const std::string& reply) {
  std::string t = trim(reply);
  std::string out;
  for (char c : t) {
    if (c == '\n') {
      out += " | ";
    } else if (c != '\r') {
      out += c;
    }
  }
  if (out.size() > 200) out = common::cut_utf8_prefix(out, 200) + "...";
  return common::valid_utf8(out);  // router replies end up in actuator details (JSON)
}

}  // namespace rs::actuators::haproxy
