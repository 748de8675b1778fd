#include "common/http/plain_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "common/ascii.h"
#include "common/base64.h"
#include "common/http/http_response_reader.h"
#include "common/secret_file.h"

namespace rs {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxIdlePerHost = 8;

bool starts_with_icase(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && common::ascii_lower(s.substr(0, prefix.size())) == prefix;
}

struct Target {
  std::string host;         // without brackets
  std::string port = "80";  //
  std::string host_header;  // as in the URL (brackets, port)
  std::string path = "/";   // path and query
};

// "http://host[:port][/path][?query][#fragment]"; false for anything else.
bool parse_http_url(const std::string& url, Target* out) {
  if (!starts_with_icase(url, "http://")) return false;
  const std::size_t start = 7;
  std::size_t end = url.find_first_of("/?#", start);
  if (end == std::string::npos) end = url.size();
  std::string authority = url.substr(start, end - start);
  if (authority.empty() || authority.find('@') != std::string::npos) return false;
  out->host_header = authority;
  if (authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string::npos) return false;
    out->host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return false;
      out->port = authority.substr(close + 2);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    out->host = authority.substr(0, colon);
    if (colon != std::string::npos) out->port = authority.substr(colon + 1);
  }
  if (out->host.empty() || out->port.empty() || out->port.size() > 5 ||
      !std::all_of(out->port.begin(), out->port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  std::string rest = url.substr(end);
  rest = rest.substr(0, rest.find('#'));
  if (rest.empty() || rest.front() == '?') rest = "/" + rest;
  out->path = rest;
  return true;
}

bool proxy_configured() {
  for (const char* name : {"http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* v = std::getenv(name);
    if (v && *v) return true;
  }
  return false;
}

// getaddrinfo, bounded by `deadline`: a numeric address at once; a name on a helper thread
// that is left behind (to finish and free its result) when the deadline passes first.
struct Resolution {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int code = 0;
  addrinfo* result = nullptr;
  ~Resolution() {
    if (result) freeaddrinfo(result);
  }
};

std::shared_ptr<Resolution> resolve(const std::string& host, const std::string& port, Clock::time_point deadline,
                                    std::string* error, bool* timed_out) {
  auto r = std::make_shared<Resolution>();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &r->result) == 0) return r;
  r->result = nullptr;
  hints.ai_flags = AI_NUMERICSERV;
  std::thread([r, host, port, hints] {
    addrinfo* result = nullptr;
    const int code = getaddrinfo(host.c_str(), port.c_str(), &hints, &result);
    std::lock_guard<std::mutex> lock(r->mu);
    r->code = code;
    r->result = code == 0 ? result : nullptr;
    r->done = true;
    r->cv.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(r->mu);
  if (!r->cv.wait_until(lock, deadline, [&] { return r->done; })) {
    *timed_out = true;
    *error = "resolving " + host + " timed out";
    return nullptr;
  }
  if (r->code != 0) {
    *error = "could not resolve host " + host + ": " + gai_strerror(r->code);
    return nullptr;
  }
  return r;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// One request's way through the poll loop.
struct Exchange {
  enum class Phase { kConnect, kSend, kReceive, kDone };

  const HttpRequest* request = nullptr;
  HttpResponse response;
  Target target;
  std::string key;  // host:port, the pool's key
  Clock::time_point started, deadline;
  Phase phase = Phase::kDone;
  int fd = -1;
  bool reused = false;
  bool resent = false;  // already sent once more after a reused connection was found closed
  std::shared_ptr<Resolution> addresses;
  const addrinfo* next_address = nullptr;
  std::string connect_error;
  std::string out;
  std::size_t sent = 0;
  std::optional<HttpResponseReader> reader;  // this attempt's response

  std::size_t received() const { return reader ? reader->received() : 0; }
  void fail(TransportError error, const std::string& what) {
    response.error = error;
    std::string message = request->method + " " + request->url + ": " + what;
    if (request->basic_auth) common::redact(&message, request->basic_auth->second);
    response.error_message = message;
    response.body.clear();
    phase = Phase::kDone;
    close_fd(fd);
  }
};

std::string request_bytes(const HttpRequest& r, const Target& t) {
  std::string out = r.method + " " + t.path + " HTTP/1.1\r\nHost: " + t.host_header + "\r\nAccept: */*\r\n";
  bool content_type = false;
  for (const auto& [name, value] : r.headers) {
    if (common::ascii_lower(name) == "content-type") content_type = true;
    out += name + ": " + value + "\r\n";
  }
  if (r.basic_auth) {
    out += "Authorization: Basic " + common::base64_encode(r.basic_auth->first + ":" + r.basic_auth->second) + "\r\n";
  }
  const bool has_body = !(r.method == "GET" && r.body.empty());
  if (has_body) {
    if (!content_type) out += "Content-Type: application/x-www-form-urlencoded\r\n";
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  }
  out += "\r\n";
  if (has_body) out += r.body;
  return out;
}

}  // namespace

// Idle keep-alive connections by host:port.
struct PlainHttpTransport::Pool {
  std::map<std::string, std::vector<int>> idle;

  // An idle connection the server has not closed meanwhile, or -1.
  int take(const std::string& key) {
    auto it = idle.find(key);
    if (it == idle.end()) return -1;
    while (!it->second.empty()) {
      int fd = it->second.back();
      it->second.pop_back();
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) == 0) return fd;  // nothing to read: still open and idle
      ::close(fd);                           // closed by the server, or unexpected bytes
    }
    return -1;
  }
  void give(const std::string& key, int fd) {
    auto& list = idle[key];
    if (list.size() >= kMaxIdlePerHost) {
      ::close(fd);
      return;
    }
    list.push_back(fd);
  }
  ~Pool() {
    for (auto& [key, fds] : idle)
      for (int fd : fds) ::close(fd);
  }
};

PlainHttpTransport::PlainHttpTransport() : pool_(std::make_unique<Pool>()) {}
PlainHttpTransport::~PlainHttpTransport() = default;

bool PlainHttpTransport::can_send(const HttpRequest& r) {
  Target t;
  const TlsOptions& tls = r.tls;
  return parse_http_url(r.url, &t) && !r.sigv4 && tls.ca_file.empty() && tls.cert_file.empty() &&
         tls.key_file.empty() && tls.ca_pem.empty() && tls.cert_pem.empty() && tls.key_pem.empty() &&
         !proxy_configured();
}

namespace {

// Starts a connection attempt to the next address; false when none is left (x has failed).
bool connect_next(Exchange& x) {
  while (x.next_address) {
    const addrinfo* a = x.next_address;
    x.next_address = a->ai_next;
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      x.connect_error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
      x.fd = fd;
      x.phase = Exchange::Phase::kConnect;
      return true;
    }
    x.connect_error = std::strerror(errno);
    ::close(fd);
  }
  x.fail(TransportError::kConnect, "connect to " + x.target.host + " port " + x.target.port + ": " +
                                       (x.connect_error.empty() ? "no address" : x.connect_error));
  return false;
}

}  // namespace

std::vector<HttpResponse> PlainHttpTransport::perform_all(const std::vector<HttpRequest>& requests) {
  std::vector<Exchange> xs(requests.size());
  auto start_exchange = [&](Exchange& x, bool fresh) {
    x.sent = 0;
    x.reader.emplace(x.request->method == "HEAD", x.request->max_body_bytes);
    x.fd = fresh ? -1 : pool_->take(x.key);
    x.reused = x.fd >= 0;
    if (x.reused) {
      x.phase = Exchange::Phase::kSend;
      return;
    }
    if (!x.addresses) {
      std::string error;
      bool timed_out = false;
      x.addresses = resolve(x.target.host, x.target.port, x.deadline, &error, &timed_out);
      if (!x.addresses) {
        x.fail(timed_out ? TransportError::kTimeout : TransportError::kConnect, error);
        return;
      }
    }
    x.next_address = x.addresses->result;
    connect_next(x);
  };
  for (std::size_t i = 0; i < requests.size(); ++i) {
    Exchange& x = xs[i];
    x.request = &requests[i];
    x.started = Clock::now();
    x.deadline = x.started + std::max(std::chrono::milliseconds(1), requests[i].timeout);
    if (!parse_http_url(requests[i].url, &x.target)) {
      x.fail(TransportError::kOther, "not a plain http:// URL");
      continue;
    }
    x.key = x.target.host + ":" + x.target.port;
    x.out = request_bytes(requests[i], x.target);
    start_exchange(x, false);
  }

  // The server closed a reused connection before answering: once more on a new one.
  auto closed_early = [&](Exchange& x) {
    if (x.reused && !x.resent && x.received() == 0) {
      x.resent = true;
      close_fd(x.fd);
      start_exchange(x, true);
      return true;
    }
    return false;
  };
  auto finish = [&](Exchange& x) {
    x.response.status = x.reader->status();
    x.response.headers = x.reader->headers();
    x.response.body = x.reader->take_body();
    x.response.connection_reused = x.reused;
    x.phase = Exchange::Phase::kDone;
    if (x.reader->reusable() && x.fd >= 0) {
      pool_->give(x.key, x.fd);
      x.fd = -1;
    }
    close_fd(x.fd);
  };

  std::vector<pollfd> fds;
  std::vector<Exchange*> owners;
  while (true) {
    fds.clear();
    owners.clear();
    Clock::time_point soonest = Clock::time_point::max();
    const Clock::time_point now = Clock::now();
    for (auto& x : xs) {
      if (x.phase == Exchange::Phase::kDone) continue;
      if (now >= x.deadline) {
        x.fail(TransportError::kTimeout, "timed out after " + std::to_string(x.request->timeout.count()) + " ms (" +
                                             std::to_string(x.received()) + " bytes received)");
        continue;
      }
      soonest = std::min(soonest, x.deadline);
      const short events = x.phase == Exchange::Phase::kReceive ? POLLIN : POLLOUT;
      fds.push_back({x.fd, events, 0});
      owners.push_back(&x);
    }
    if (fds.empty()) break;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(soonest - now).count() + 1;
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(wait, 1)));
    if (ready < 0 && errno != EINTR) {
      for (auto* x : owners) x->fail(TransportError::kOther, std::string("poll: ") + std::strerror(errno));
      break;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Exchange& x = *owners[i];
      if (x.phase == Exchange::Phase::kConnect) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(x.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          x.connect_error = std::strerror(err);
          close_fd(x.fd);
          connect_next(x);
          continue;
        }
        x.phase = Exchange::Phase::kSend;
      }
      if (x.phase == Exchange::Phase::kSend) {
        const ssize_t n = ::send(x.fd, x.out.data() + x.sent, x.out.size() - x.sent, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
          if (closed_early(x)) continue;
          x.fail(TransportError::kOther, std::string("send: ") + std::strerror(errno));
          continue;
        }
        x.sent += static_cast<std::size_t>(n);
        if (x.sent == x.out.size()) x.phase = Exchange::Phase::kReceive;
        continue;
      }
      char buf[65536];
      const ssize_t n = ::recv(x.fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        if (closed_early(x)) continue;
        x.fail(errno == ECONNREFUSED ? TransportError::kConnect : TransportError::kOther,
               std::string("recv: ") + std::strerror(errno));
        continue;
      }
      if (n == 0 && closed_early(x)) continue;  // the server closed the connection
      const auto progress = n == 0 ? x.reader->closed() : x.reader->feed(buf, static_cast<std::size_t>(n));
      if (progress == HttpResponseReader::Progress::kFailed) {
        x.fail(x.reader->error_kind(), x.reader->error());
      } else if (progress == HttpResponseReader::Progress::kComplete) {
        finish(x);
      }
    }
  }

  std::vector<HttpResponse> out;
  out.reserve(xs.size());
  for (auto& x : xs) {
    close_fd(x.fd);
    x.response.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - x.started);
    out.push_back(std::move(x.response));
  }
  return out;
}

namespace {

class RoutingTransport final : public HttpTransport {
 public:
  std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& requests) override {
    const bool plain = std::all_of(requests.begin(), requests.end(), PlainHttpTransport::can_send);
    if (plain) return plain_.perform_all(requests);
    if (!curl_) curl_ = make_curl_transport();
    return curl_->perform_all(requests);
  }

 private:
  PlainHttpTransport plain_;
  std::unique_ptr<HttpTransport> curl_;  // first made when a request needs it
};

}  // namespace

std::unique_ptr<HttpTransport> make_http_transport() { return std::make_unique<RoutingTransport>(); }

}  // namespace rs
