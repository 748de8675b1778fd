// Why this is our own server (slowloris): cpp-httplib gave each connection one of 4 worker threads
// for as long as the client kept it open, with only a per-recv read timeout. Four clients dripping
// a header byte every few seconds held all four threads, and /healthz, /metrics, the API and the
// Alertmanager webhook stopped answering until the kubelet restarted us - no credentials needed.
//
// Shape: one event-loop thread polls the listening socket and every connection that is reading a
// request, idling between requests or writing a reply. Every such state has a TOTAL deadline (not
// a per-recv one), the request head and body have size caps, and the number of connections is
// capped; at the cap a new connection closes the longest-waiting one. Only complete requests reach
// the worker pool, which runs the handler and hands the serialized reply back to the loop (eventfd
// wakeup); the loop writes it without blocking. So a slow or idle client costs a socket and a
// bounded buffer, never a thread.
//
// Request bodies need Content-Length: `Transfer-Encoding: chunked` (or any transfer coding) gets
// 411. Our clients (Alertmanager, curl, scripts) all send Content-Length, and refusing chunked
// keeps the framing simple and rules out Content-Length/Transfer-Encoding smuggling games.
//
// TLS sits between the socket and the same buffers: recv/send become SSL_read/SSL_write on a
// non-blocking socket, and OpenSSL's WANT_READ/WANT_WRITE pick the poll event (a TLS read may
// need to write and a write to read). The handshake is one more phase before kHead, under the
// head deadline.
#include "common/ascii.h"
#include "common/json_text.h"
#include "sidecar/api/http_server.h"
#include "sidecar/api/tls_context.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>

namespace rs::sidecar {

HttpReply HttpReply::json(int status, const nlohmann::json& body) {
  HttpReply r;
  r.status = status;
  r.body = common::dump_json(body, 2) + "\n";
  return r;
}

HttpReply HttpReply::text(int status, std::string body) {
  HttpReply r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

HttpReply HttpReply::error(int status, const std::string& message) { return json(status, {{"error", message}}); }

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// After a reply that closes the connection we stop writing and read (and drop) what the client is
// still sending for this long, so the kernel does not answer its unread bytes with a RST that
// could destroy our reply (e.g. a 413 sent before the body arrived).
constexpr milliseconds kLinger{2000};
constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kMaxReadPerWakeup = 64 * 1024;  // fairness between connections
constexpr auto kWarnEvery = std::chrono::seconds(10);

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: break;
  }
  if (status >= 500) return "Server Error";
  if (status >= 400) return "Client Error";
  if (status >= 300) return "Redirection";
  return "OK";
}

bool is_tchar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// For error messages: a client-supplied value, shortened and without control characters.
std::string shown(std::string_view s) {
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < 80; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Like httplib's req.path: %XX decoded, '+' kept, invalid escapes left as they are.
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct Request {
  std::string method;
  std::string path;
  int minor_version = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::size_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
  std::string body;

  std::string header(const std::string& name) const {
    const std::string want = common::ascii_lower(name);
    for (const auto& [k, v] : headers)
      if (k == want) return v;
    return "";
  }
};

struct ParseError {
  int status;
  std::string message;
};

// Parses a request head (request line + header lines, without the final empty line).
std::optional<ParseError> parse_head(std::string_view head, Request* req) {
  std::vector<std::string_view> lines;
  for (std::size_t start = 0;;) {
    const std::size_t end = head.find("\r\n", start);
    lines.push_back(head.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 2;
  }
  for (auto line : lines)
    if (line.find_first_of("\r\n") != std::string_view::npos)
      return ParseError{400, "bare CR or LF in the request head (lines must end with CRLF)"};

  // Request line: METHOD SP request-target SP HTTP-version
  const std::string_view request_line = lines[0];
  const std::size_t sp1 = request_line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : request_line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || request_line.find(' ', sp2 + 1) != std::string_view::npos)
    return ParseError{400, "malformed request line " + shown(request_line) + " (want: METHOD /path HTTP/1.1)"};
  const std::string_view method = request_line.substr(0, sp1);
  const std::string_view target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = request_line.substr(sp2 + 1);
  if (!is_token(method)) return ParseError{400, "malformed method " + shown(method)};
  if (version == "HTTP/1.1") {
    req->minor_version = 1;
  } else if (version == "HTTP/1.0") {
    req->minor_version = 0;
  } else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" &&
             std::isdigit(static_cast<unsigned char>(version[5])) && version[6] == '.' &&
             std::isdigit(static_cast<unsigned char>(version[7]))) {
    return ParseError{505, "HTTP version " + shown(version) + " is not supported (use HTTP/1.1)"};
  } else {
    return ParseError{400, "malformed HTTP version " + shown(version)};
  }
  if (target.empty() || target.front() != '/')
    return ParseError{400, "request target " + shown(target) + " is not an absolute path starting with /"};
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return ParseError{400, "control character in request target " + shown(target)};
  req->method = std::string(method);
  req->path = percent_decode(target.substr(0, target.find_first_of("?#")));
  if (req->path.find('\0') != std::string::npos) return ParseError{400, "NUL byte in request path"};

  // Header fields: name ":" OWS value OWS
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t'))
      return ParseError{400, "folded header line " + shown(line) + " (obsolete line folding is not supported)"};
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon)))
      return ParseError{400, "malformed header line " + shown(line) + " (want Name: value)"};
    const std::string_view value = trim_ows(line.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
        return ParseError{400, "control character in header " + shown(line.substr(0, colon))};
    req->headers.emplace_back(common::ascii_lower(std::string(line.substr(0, colon))), std::string(value));
  }

  std::size_t hosts = 0;
  std::optional<std::string> content_length;
  for (const auto& [name, value] : req->headers) {
    if (name == "host") {
      ++hosts;
    } else if (name == "transfer-encoding") {
      return ParseError{411, "Transfer-Encoding " + shown(value) +
                                 " is not supported for request bodies; send the body with a Content-Length"};
    } else if (name == "content-length") {
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return ParseError{400, "invalid Content-Length " + shown(value) + " (want a decimal byte count)"};
      if (content_length && *content_length != value)
        return ParseError{400, "conflicting Content-Length headers " + shown(*content_length) + " and " + shown(value)};
      content_length = value;
    } else if (name == "expect") {
      if (common::ascii_lower(value) != "100-continue") return ParseError{417, "unsupported Expect " + shown(value)};
      req->expect_continue = req->minor_version == 1;
    }
  }
  if (req->minor_version == 1 && hosts != 1)
    return ParseError{400, hosts == 0 ? "HTTP/1.1 request without a Host header" : "more than one Host header"};
  req->content_length = content_length ? std::stoull(*content_length) : 0;

  // HTTP/1.0 always closes (we do not do 1.0 keep-alive); HTTP/1.1 closes on "Connection: close".
  req->keep_alive = req->minor_version == 1;
  const std::string connection = common::ascii_lower(req->header("connection"));
  for (std::size_t start = 0; start <= connection.size();) {
    std::size_t end = connection.find(',', start);
    if (end == std::string::npos) end = connection.size();
    if (trim_ows(std::string_view(connection).substr(start, end - start)) == "close") req->keep_alive = false;
    start = end + 1;
  }
  return std::nullopt;
}

std::string serialize(const HttpReply& reply, bool head_only, bool close) {
  std::string content_type = reply.content_type;
  std::string extra;
  for (const auto& [name, value] : reply.headers) {
    if (!is_token(name) || value.find_first_of("\r\n") != std::string::npos) continue;  // no response splitting
    const std::string lname = common::ascii_lower(name);
    if (lname == "content-length" || lname == "transfer-encoding" || lname == "connection") continue;  // ours
    if (lname == "content-type") {
      content_type = value;
      continue;
    }
    extra += name + ": " + value + "\r\n";
  }
  std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason_phrase(reply.status) + "\r\n";
  if (!content_type.empty()) out += "Content-Type: " + content_type + "\r\n";
  out += extra;
  out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  if (!head_only) out += reply.body;
  return out;
}

}  // namespace

struct HttpServer::Impl {
  enum class Phase {
    kHandshake,  // TLS only: the handshake, under the head deadline counted from accept
    kHead,       // waiting for (the rest of) a request head; idle between kept-alive requests
    kBody,       // reading a body of req.content_length bytes
    kHandling,   // a worker runs the handler; the loop does not touch the socket
    kWriting,    // writing `out`
    kLinger,     // reply sent, write side shut: drop what still arrives, then close
  };

  // What the last SSL call on a connection waits for; it overrides the phase's poll event.
  enum class TlsWant { kNone, kRead, kWrite };

  // The result of one read or write, plain or TLS.
  enum class Io { kDone, kEof, kAgain, kError };

  struct Conn {
    std::uint64_t id = 0;
    int fd = -1;
    SSL* ssl = nullptr;  // TLS connections only
    TlsWant tls_want = TlsWant::kNone;
    Phase phase = Phase::kHead;
    bool idle = false;         // kHead on a kept-alive connection before any byte of the next request
    bool peer_closed = false;  // read EOF: answer what we have, then close
    bool close_after = false;  // close (linger) once `out` is written
    Clock::time_point phase_start;
    Clock::time_point deadline;
    std::string in;  // read, not yet consumed
    std::string out;
    std::size_t out_done = 0;
    std::size_t reserved = 0;  // body bytes counted in buffered_body
    Request req;
    std::string route;
    const HttpHandler* handler = nullptr;
  };

  struct Job {
    std::uint64_t conn;
    std::string route;
    const HttpHandler* handler;
    Request req;
    bool head_only;
  };

  struct Done {
    std::uint64_t conn;
    std::string bytes;
    bool close;
  };

  HttpLimits limits;
  std::function<void(const std::string&, int)> on_request;
  std::shared_ptr<TlsContext> tls;  // null: plain HTTP
  std::function<void()> on_handshake_error;
  std::map<std::string, std::map<std::string, HttpHandler>> routes;  // path -> method -> handler

  int listen_fd = -1;
  int wake_fd = -1;
  int port = 0;
  std::thread loop_thread;
  std::vector<std::thread> workers;
  std::atomic<bool> stopping{false};

  std::mutex mu;  // guards jobs, done, workers_stop
  std::condition_variable cv;
  std::deque<Job> jobs;
  std::vector<Done> done;
  bool workers_stop = false;

  std::atomic<std::uint64_t> accepted{0}, timed_out{0}, evicted{0}, rejected{0}, handshake_failures{0};

  // Owned by the loop thread.
  std::unordered_map<std::uint64_t, Conn> conns;
  std::uint64_t next_id = 1;
  std::size_t buffered_body = 0;
  Clock::time_point accept_paused_until;
  Clock::time_point last_warn;
  bool warned_once = false;
  std::uint64_t warned_timed_out = 0, warned_evicted = 0, warned_rejected = 0;
  std::uint64_t warned_handshakes = 0;
  std::string last_handshake_error;
  Clock::time_point last_handshake_warn;
  bool handshake_warned_once = false;

  void count(const std::string& route, int status) {
    if (!on_request) return;
    try {
      on_request(route, status);
    } catch (const std::exception& e) {
      spdlog::error("HTTP on_request callback failed: {}", e.what());
    }
  }

  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof one);
  }

  // --- workers -------------------------------------------------------------------------------

  void run_worker() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return workers_stop || !jobs.empty(); });
        if (workers_stop) return;
        job = std::move(jobs.front());
        jobs.pop_front();
      }
      HttpReply reply;
      try {
        HttpCall call;
        call.method = job.req.method;
        call.path = job.req.path;
        call.body = std::move(job.req.body);
        call.header = [&req = job.req](const std::string& name) { return req.header(name); };
        reply = (*job.handler)(call);
      } catch (const std::exception& e) {
        spdlog::error("HTTP {} {}: {}", job.req.method, job.req.path, e.what());
        reply = HttpReply::error(500, std::string("internal error: ") + e.what());
      } catch (...) {
        spdlog::error("HTTP {} {}: unknown exception", job.req.method, job.req.path);
        reply = HttpReply::error(500, "internal error: unknown error");
      }
      count(job.route, reply.status);
      Done d{job.conn, serialize(reply, job.head_only, !job.req.keep_alive), !job.req.keep_alive};
      {
        std::lock_guard<std::mutex> lock(mu);
        done.push_back(std::move(d));
      }
      wake();
    }
  }

  // --- the event loop ------------------------------------------------------------------------

  void close_conn(std::uint64_t id) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    buffered_body -= it->second.reserved;
    if (it->second.ssl) SSL_free(it->second.ssl);
    ::close(it->second.fd);
    conns.erase(it);
  }

  // --- socket I/O, plain or TLS ---------------------------------------------------------------

  // After a failed SSL call: what to do, with c.tls_want set for the poll.
  Io tls_result(Conn& c, int rc) {
    const int e = SSL_get_error(c.ssl, rc);
    switch (e) {
      case SSL_ERROR_WANT_READ: c.tls_want = TlsWant::kRead; return Io::kAgain;
      case SSL_ERROR_WANT_WRITE: c.tls_want = TlsWant::kWrite; return Io::kAgain;
      case SSL_ERROR_ZERO_RETURN:  // close_notify (or, with SSL_OP_IGNORE_UNEXPECTED_EOF, a plain EOF)
        ERR_clear_error();
        return Io::kEof;
      default: {
        ERR_clear_error();
        // A write to a peer that is gone left a SIGPIPE pending on this thread (blocked in run_loop).
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        const timespec zero{0, 0};
        while (::sigtimedwait(&pipe, nullptr, &zero) == SIGPIPE) {}
        return Io::kError;
      }
    }
  }

  Io read_some(Conn& c, char* buf, std::size_t size, std::size_t* got) {
    if (c.ssl) {
      ERR_clear_error();
      const int n = SSL_read(c.ssl, buf, static_cast<int>(size));
      if (n > 0) {
        *got = static_cast<std::size_t>(n);
        c.tls_want = TlsWant::kNone;
        return Io::kDone;
      }
      return tls_result(c, n);
    }
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, size, 0);
      if (n > 0) {
        *got = static_cast<std::size_t>(n);
        return Io::kDone;
      }
      if (n == 0) return Io::kEof;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? Io::kAgain : Io::kError;
    }
  }

  Io write_some(Conn& c, const char* data, std::size_t size, std::size_t* put) {
    if (c.ssl) {
      ERR_clear_error();
      const int n = SSL_write(c.ssl, data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
      if (n > 0) {
        *put = static_cast<std::size_t>(n);
        c.tls_want = TlsWant::kNone;
        return Io::kDone;
      }
      return tls_result(c, n);
    }
    for (;;) {
      const ssize_t n = ::send(c.fd, data, size, MSG_NOSIGNAL);
      if (n > 0) {
        *put = static_cast<std::size_t>(n);
        return Io::kDone;
      }
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? Io::kAgain : Io::kError;
    }
  }

  short poll_events(const Conn& c) const {
    if (c.tls_want == TlsWant::kWrite) return POLLOUT;
    if (c.tls_want == TlsWant::kRead) return POLLIN;
    return c.phase == Phase::kWriting ? POLLOUT : POLLIN;
  }

  // A client that sent nothing before closing or timing out (a TCP probe, a port scan) did not
  // fail a handshake; one that sent a ClientHello, or anything else, did.
  static bool sent_anything(const Conn& c) {
    const BIO* rbio = SSL_get_rbio(c.ssl);
    return rbio && BIO_number_read(const_cast<BIO*>(rbio)) > 0;
  }

  void handshake_failed(Conn& c, std::string reason) {
    ++handshake_failures;
    last_handshake_error = std::move(reason);
    if (on_handshake_error) {
      try {
        on_handshake_error();
      } catch (const std::exception& e) {
        spdlog::error("HTTP on_handshake_error callback failed: {}", e.what());
      }
    }
    close_conn(c.id);
  }

  // kHandshake: one step of SSL_accept; on success the request head is read under the same deadline.
  void handshake(std::uint64_t id) {
    Conn& c = conns.at(id);
    ERR_clear_error();
    const int rc = SSL_do_handshake(c.ssl);
    if (rc == 1) {
      c.phase = Phase::kHead;  // phase_start and deadline stay those of the accept
      c.tls_want = TlsWant::kNone;
      on_readable(id);  // the request may have come with the handshake's last flight
      return;
    }
    const int e = SSL_get_error(c.ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      c.tls_want = e == SSL_ERROR_WANT_READ ? TlsWant::kRead : TlsWant::kWrite;
      return;
    }
    const unsigned long code = ERR_peek_last_error();
    std::string reason;
    if (code != 0) {
      const char* text = ERR_reason_error_string(code);
      reason = text ? text : "TLS error";
      if (ERR_GET_REASON(code) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        reason += " (" + std::string(X509_verify_cert_error_string(SSL_get_verify_result(c.ssl))) + ")";
      }
    } else {
      reason = e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN
                   ? "client closed the connection during the handshake"
                   : "TLS error " + std::to_string(e);
    }
    ERR_clear_error();
    if (!sent_anything(c)) {
      close_conn(id);
      return;
    }
    handshake_failed(c, reason);
  }

  void enter_head(Conn& c, Clock::time_point now) {
    c.phase = Phase::kHead;
    c.phase_start = now;
    c.idle = c.in.empty();
    c.deadline = now + (c.idle ? limits.idle_timeout : limits.head_timeout);
    c.req = Request{};
    c.handler = nullptr;
    c.route.clear();
  }

  void start_write(Conn& c, std::string bytes, bool close) {
    c.tls_want = TlsWant::kNone;
    c.out = std::move(bytes);
    c.out_done = 0;
    c.close_after = close || c.peer_closed;
    c.phase = Phase::kWriting;
    c.phase_start = Clock::now();
    c.deadline = c.phase_start + limits.write_timeout;
  }

  // An answer produced by the server itself (no handler): counted, JSON, and by default closes
  // the connection, since the rest of the request may not have been read.
  void reply_error(Conn& c, int status, const std::string& route, const std::string& message, bool close = true,
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
    HttpReply reply = HttpReply::error(status, message);
    reply.headers = std::move(headers);
    count(route, status);
    const bool closing = close || !c.req.keep_alive;
    start_write(c, serialize(reply, c.req.method == "HEAD", closing), closing);
  }

  void release_body(Conn& c) {
    buffered_body -= c.reserved;
    c.reserved = 0;
  }

  void dispatch(Conn& c) {
    c.phase = Phase::kHandling;
    const bool head_only = c.req.method == "HEAD";
    Job job{c.id, c.route, c.handler, std::move(c.req), head_only};
    c.req = Request{};
    c.req.keep_alive = job.req.keep_alive;
    {
      std::lock_guard<std::mutex> lock(mu);
      jobs.push_back(std::move(job));
    }
    cv.notify_one();
  }

  // kHead/kBody: consume what has been read; may move on to kBody, kHandling or kWriting.
  void advance(Conn& c, Clock::time_point now) {
    if (c.phase == Phase::kHead) {
      std::size_t skip = 0;  // RFC 9112 2.2: ignore empty lines before a request line
      while (skip + 1 < c.in.size() && c.in[skip] == '\r' && c.in[skip + 1] == '\n') skip += 2;
      c.in.erase(0, skip);
      const std::size_t end = c.in.find("\r\n\r\n");
      if ((end == std::string::npos && c.in.size() > limits.max_head_bytes) ||
          (end != std::string::npos && end + 4 > limits.max_head_bytes)) {
        reply_error(c, 431, "other",
                    "request head (request line and headers) is larger than " + std::to_string(limits.max_head_bytes) +
                        " bytes");
        return;
      }
      if (end == std::string::npos) return;
      Request req;
      auto error = parse_head(std::string_view(c.in).substr(0, end), &req);
      c.in.erase(0, end + 4);
      c.req = std::move(req);
      if (error) {
        reply_error(c, error->status, "other", error->message);
        return;
      }
      const bool has_body = c.req.content_length > 0;
      auto by_path = routes.find(c.req.path);
      if (by_path == routes.end()) {
        reply_error(c, 404, "other", "no such endpoint: " + c.req.path, has_body);
        return;
      }
      c.route = c.req.path;
      auto handler = by_path->second.find(c.req.method == "HEAD" ? "GET" : c.req.method);
      if (handler == by_path->second.end()) {
        std::string allowed;
        for (const auto& [m, h] : by_path->second) {
          allowed += (allowed.empty() ? "" : ", ") + m;
          if (m == "GET") allowed += ", HEAD";
        }
        reply_error(c, 405, c.route, c.req.method + " is not allowed on " + c.req.path + " (allowed: " + allowed + ")",
                    has_body, {{"Allow", allowed}});
        return;
      }
      c.handler = &handler->second;
      if (c.req.content_length > limits.max_body_bytes) {
        reply_error(c, 413, c.route,
                    "request body of " + std::to_string(c.req.content_length) + " bytes is larger than the limit of " +
                        std::to_string(limits.max_body_bytes) + " bytes");
        return;
      }
      if (buffered_body + c.req.content_length > limits.max_buffered_body_bytes) {
        reply_error(c, 503, c.route, "server busy: too many request bodies being received at once; retry shortly", true,
                    {{"Retry-After", "1"}});
        return;
      }
      if (!has_body) {
        dispatch(c);
        return;
      }
      c.reserved = c.req.content_length;
      buffered_body += c.reserved;
      c.phase = Phase::kBody;
      c.phase_start = now;
      c.deadline = now + limits.body_timeout;
      // Not over TLS: a short SSL_write would have to be retried with these same bytes before the
      // reply; clients send the body anyway after a second without it.
      if (c.req.expect_continue && !c.ssl && c.in.size() < c.req.content_length) {
        static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        // Fits any fresh send buffer; if it does not go out the client sends the body anyway.
        [[maybe_unused]] auto n = ::send(c.fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    }
    if (c.phase == Phase::kBody) {
      if (c.in.size() < c.req.content_length) return;
      c.req.body = c.in.substr(0, c.req.content_length);
      c.in.erase(0, c.req.content_length);
      release_body(c);
      dispatch(c);
    }
  }

  // kWriting: send what the socket takes; when done, linger-close or wait for the next request.
  void flush(Conn& c, Clock::time_point now) {
    while (c.out_done < c.out.size()) {
      std::size_t put = 0;
      const Io io = write_some(c, c.out.data() + c.out_done, c.out.size() - c.out_done, &put);
      if (io == Io::kDone) {
        c.out_done += put;
      } else if (io == Io::kAgain) {
        return;
      } else {
        close_conn(c.id);
        return;
      }
    }
    c.out.clear();
    c.out.shrink_to_fit();
    if (!c.close_after) {
      enter_head(c, now);
      return;
    }
    if (c.peer_closed) {
      close_conn(c.id);
      return;
    }
    if (c.ssl) {
      ERR_clear_error();
      SSL_shutdown(c.ssl);  // close_notify, best effort: the reply is complete either way
      ERR_clear_error();
      c.tls_want = TlsWant::kNone;
    }
    ::shutdown(c.fd, SHUT_WR);
    c.phase = Phase::kLinger;
    c.in.clear();
    c.phase_start = now;
    c.deadline = now + kLinger;
  }

  // Moves a connection along as far as it goes without waiting (no recursion: pipelined
  // requests are taken one per round).
  void drive(std::uint64_t id) {
    for (;;) {
      auto it = conns.find(id);
      if (it == conns.end()) return;
      Conn& c = it->second;
      const Phase before = c.phase;
      const std::size_t pending = c.in.size();
      const auto now = Clock::now();
      if (c.phase == Phase::kHead || c.phase == Phase::kBody)
        advance(c, now);
      else if (c.phase == Phase::kWriting)
        flush(c, now);
      else
        return;
      it = conns.find(id);
      if (it == conns.end()) return;
      if (it->second.phase == before && it->second.in.size() == pending) break;
    }
    auto it = conns.find(id);
    if (it == conns.end()) return;
    // A client that has stopped sending will never complete what it started.
    Conn& c = it->second;
    if (c.peer_closed && (c.phase == Phase::kHead || c.phase == Phase::kBody)) close_conn(id);
  }

  void on_readable(std::uint64_t id) {
    Conn& c = conns.at(id);
    char buf[kReadChunk];
    std::size_t total = 0;
    while (total < kMaxReadPerWakeup) {
      std::size_t n = 0;
      const Io io = read_some(c, buf, sizeof buf, &n);
      if (io == Io::kDone) {
        total += n;
        if (c.phase != Phase::kLinger) c.in.append(buf, n);
      } else if (io == Io::kEof) {
        c.peer_closed = true;
        break;
      } else if (io == Io::kAgain) {
        break;
      } else {
        close_conn(id);
        return;
      }
    }
    if (c.phase == Phase::kLinger) {
      if (c.peer_closed) close_conn(id);
      return;
    }
    if (c.phase == Phase::kHead && c.idle && !c.in.empty()) {  // next request begins: its head deadline starts
      c.idle = false;
      c.phase_start = Clock::now();
      c.deadline = c.phase_start + limits.head_timeout;
    }
    drive(id);
  }

  // Closes the connection that has waited longest in its current state, unless a handler has it.
  bool evict_oldest() {
    const Conn* oldest = nullptr;
    for (const auto& [id, c] : conns) {
      if (c.phase == Phase::kHandling) continue;
      if (!oldest || c.phase_start < oldest->phase_start || (c.phase_start == oldest->phase_start && c.id < oldest->id))
        oldest = &c;
    }
    if (!oldest) return false;
    close_conn(oldest->id);
    ++evicted;
    return true;
  }

  void accept_all() {
    bool made_room = false;
    for (;;) {
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors or memory: free one connection and retry once; otherwise stop
          // polling the listener briefly (it stays readable, and we would spin).
          if (!made_room && evict_oldest()) {
            made_room = true;
            continue;
          }
          accept_paused_until = Clock::now() + milliseconds(100);
        }
        return;
      }
      ++accepted;
      if (conns.size() >= limits.max_connections && !evict_oldest()) {
        ::close(fd);
        ++rejected;
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      Conn c;
      c.id = next_id++;
      c.fd = fd;
      c.phase = Phase::kHead;
      if (tls) {
        SSL_CTX* ctx = tls->current();
        c.ssl = ctx ? SSL_new(ctx) : nullptr;
        if (!c.ssl || SSL_set_fd(c.ssl, fd) != 1) {
          const char* why = ERR_reason_error_string(ERR_get_error());
          spdlog::error("HTTP: TLS: cannot set up a connection: {}", why ? why : "no TLS context");
          ERR_clear_error();
          if (c.ssl) SSL_free(c.ssl);
          ::close(fd);
          continue;
        }
        SSL_set_accept_state(c.ssl);
        c.phase = Phase::kHandshake;
      }
      c.phase_start = Clock::now();
      c.deadline = c.phase_start + limits.head_timeout;  // total, from accept
      conns.emplace(c.id, std::move(c));
    }
  }

  void take_done() {
    std::uint64_t value = 0;
    [[maybe_unused]] auto n = ::read(wake_fd, &value, sizeof value);
    std::vector<Done> finished;
    {
      std::lock_guard<std::mutex> lock(mu);
      finished.swap(done);
    }
    for (auto& d : finished) {
      auto it = conns.find(d.conn);
      if (it == conns.end()) continue;
      start_write(it->second, std::move(d.bytes), d.close);
      drive(d.conn);
    }
  }

  void expire(Clock::time_point now) {
    std::vector<std::uint64_t> due;
    for (const auto& [id, c] : conns)
      if (c.phase != Phase::kHandling && c.deadline <= now) due.push_back(id);
    for (auto id : due) {
      Conn& c = conns.at(id);
      switch (c.phase) {
        case Phase::kHandshake:
          ++timed_out;
          if (sent_anything(c)) {
            handshake_failed(c, "handshake not complete within " + std::to_string(limits.head_timeout.count()) + " ms");
          } else {
            close_conn(id);
          }
          break;
        case Phase::kHead:
          if (c.idle) {  // a kept-alive connection nobody uses: normal, not counted
            close_conn(id);
          } else if (c.in.empty()) {  // never sent a byte
            ++timed_out;
            close_conn(id);
          } else {
            ++timed_out;
            reply_error(c, 408, "other",
                        "request head not complete within " + std::to_string(limits.head_timeout.count()) + " ms");
            drive(id);
          }
          break;
        case Phase::kBody:
          ++timed_out;
          reply_error(c, 408, c.route,
                      "request body not complete within " + std::to_string(limits.body_timeout.count()) + " ms (got " +
                          std::to_string(c.in.size()) + " of " + std::to_string(c.req.content_length) + " bytes)");
          release_body(c);
          drive(id);
          break;
        case Phase::kWriting:
          ++timed_out;
          close_conn(id);
          break;
        case Phase::kLinger: close_conn(id); break;
        case Phase::kHandling: break;
      }
    }
  }

  // At most one warning per kWarnEvery, summing what happened since the last one.
  void maybe_warn(Clock::time_point now) {
    const std::uint64_t t = timed_out, e = evicted, r = rejected;
    if (t == warned_timed_out && e == warned_evicted && r == warned_rejected) return;
    if (warned_once && now - last_warn < kWarnEvery) return;
    spdlog::warn(
        "HTTP: slow or idle clients: {} connection(s) cut at a deadline, {} closed and {} refused at the "
        "connection cap ({}) since the last warning; {} open",
        t - warned_timed_out, e - warned_evicted, r - warned_rejected, limits.max_connections, conns.size());
    warned_timed_out = t;
    warned_evicted = e;
    warned_rejected = r;
    last_warn = now;
    warned_once = true;
  }

  // At most one warning per kWarnEvery about failed TLS handshakes, with the last reason.
  void maybe_warn_handshakes(Clock::time_point now) {
    const std::uint64_t h = handshake_failures;
    if (h == warned_handshakes) return;
    if (handshake_warned_once && now - last_handshake_warn < kWarnEvery) return;
    spdlog::warn("HTTP: {} TLS handshake(s) failed since the last warning (last: {})", h - warned_handshakes,
                 last_handshake_error);
    warned_handshakes = h;
    last_handshake_warn = now;
    handshake_warned_once = true;
  }

  void run_loop() {
    // OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a client gone mid-reply would raise
    // SIGPIPE, whose default action ends the process. This thread does all the socket I/O; with
    // the signal blocked here the write fails with EPIPE instead.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    std::vector<pollfd> fds;
    std::vector<std::uint64_t> ids;
    std::vector<std::uint64_t> tls_buffered;
    while (!stopping) {
      fds.clear();
      ids.clear();
      tls_buffered.clear();
      auto now = Clock::now();
      fds.push_back({listen_fd, static_cast<short>(now >= accept_paused_until ? POLLIN : 0), 0});
      fds.push_back({wake_fd, POLLIN, 0});
      auto next = now + std::chrono::seconds(1);
      if (accept_paused_until > now) next = std::min(next, accept_paused_until);
      for (const auto& [id, c] : conns) {
        if (c.phase == Phase::kHandling) continue;
        fds.push_back({c.fd, poll_events(c), 0});
        ids.push_back(id);
        next = std::min(next, c.deadline);
        // Decrypted bytes OpenSSL holds (a read stopped at kMaxReadPerWakeup) make no poll event.
        if (c.ssl && c.phase != Phase::kHandshake && c.phase != Phase::kWriting && SSL_pending(c.ssl) > 0) {
          tls_buffered.push_back(id);
          next = now;
        }
      }
      const auto wait = std::chrono::duration_cast<milliseconds>(next - now).count() + 1;
      const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(0, wait)));
      if (ready < 0 && errno != EINTR) {
        spdlog::error("HTTP: poll failed: {}", std::strerror(errno));
        std::this_thread::sleep_for(milliseconds(10));
        continue;
      }
      if (stopping) break;
      if (ready > 0) {
        if (fds[1].revents) take_done();
        for (std::size_t i = 2; i < fds.size(); ++i) {
          if (!fds[i].revents) continue;
          auto it = conns.find(ids[i - 2]);
          if (it == conns.end()) continue;
          if (it->second.phase == Phase::kHandshake) {
            if ((fds[i].revents & (POLLERR | POLLNVAL)) && !(fds[i].revents & POLLIN))
              close_conn(ids[i - 2]);
            else
              handshake(ids[i - 2]);
          } else if (it->second.phase == Phase::kWriting) {
            if (fds[i].revents & (POLLERR | POLLNVAL))
              close_conn(ids[i - 2]);
            else
              drive(ids[i - 2]);
          } else if (it->second.phase != Phase::kHandling) {
            on_readable(ids[i - 2]);
          }
        }
        if (fds[0].revents) accept_all();
      }
      for (auto id : tls_buffered) {
        auto it = conns.find(id);
        if (it != conns.end() && (it->second.phase == Phase::kHead || it->second.phase == Phase::kBody ||
                                  it->second.phase == Phase::kLinger))
          on_readable(id);
      }
      now = Clock::now();
      expire(now);
      maybe_warn(now);
      maybe_warn_handshakes(now);
    }
    for (auto& [id, c] : conns) {
      if (c.ssl) SSL_free(c.ssl);
      ::close(c.fd);
    }
    conns.clear();
    buffered_body = 0;
  }
};

HttpServer::HttpServer(std::size_t max_body_bytes, std::function<void(const std::string&, int)> on_request)
    : HttpServer(
          [&] {
            HttpLimits limits;
            limits.max_body_bytes = max_body_bytes;
            return limits;
          }(),
          std::move(on_request)) {}

HttpServer::HttpServer(const HttpLimits& limits, std::function<void(const std::string&, int)> on_request)
    : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  if (impl_->limits.workers < 1) impl_->limits.workers = 1;
  if (impl_->limits.max_connections < 1) impl_->limits.max_connections = 1;
  impl_->on_request = std::move(on_request);
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::handle(const std::string& method, const std::string& path, HttpHandler handler) {
  if (impl_->loop_thread.joinable()) throw std::logic_error("HttpServer::handle: routes must be added before start()");
  if (method != "GET" && method != "POST" && method != "PUT" && method != "DELETE")
    throw std::logic_error("HttpServer::handle: unsupported method " + method);
  impl_->routes[path][method] = std::move(handler);
}

void HttpServer::use_tls(std::shared_ptr<TlsContext> tls, std::function<void()> on_handshake_error) {
  if (impl_->loop_thread.joinable()) throw std::logic_error("HttpServer::use_tls: must be called before start()");
  impl_->tls = std::move(tls);
  impl_->on_handshake_error = std::move(on_handshake_error);
}

bool HttpServer::start(const std::string& listen, std::string* error) {
  if (impl_->loop_thread.joinable() || impl_->listen_fd >= 0) {
    *error = "listen: server already started";
    return false;
  }
  if (impl_->tls && !impl_->tls->current() && !impl_->tls->load(error)) {
    *error = "listen: TLS (web_config_file): " + *error;
    return false;
  }
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    *error = "listen: '" + listen + "' is not host:port";
    return false;
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port < 0 || port > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    *error = "listen: '" + listen + "' has no valid port (0-65535)";
    return false;
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    *error = "listen: cannot resolve host '" + host + "' of " + listen + ": " + ::gai_strerror(rc);
    return false;
  }
  int fd = -1;
  int last_errno = 0;
  for (addrinfo* ai = found; ai && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    // SO_REUSEADDR only lets us rebind past TIME_WAIT. Deliberately no SO_REUSEPORT: with it a
    // second sidecar on the same address starts "fine" and the kernel splits connections between them.
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      last_errno = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    *error = "listen: cannot bind " + listen + ": " + std::strerror(last_errno);
    if (last_errno == EADDRINUSE) *error += " (another process, maybe another sidecar, is listening there)";
    if (last_errno == EADDRNOTAVAIL) *error += " (not an address of this host)";
    return false;
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    if (bound.ss_family == AF_INET) port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    if (bound.ss_family == AF_INET6) port = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  }
  const int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    *error = std::string("listen: eventfd: ") + std::strerror(errno);
    ::close(fd);
    return false;
  }
  impl_->listen_fd = fd;
  impl_->wake_fd = wake_fd;
  impl_->port = port;
  impl_->stopping = false;
  impl_->workers_stop = false;
  for (int i = 0; i < impl_->limits.workers; ++i) impl_->workers.emplace_back([this] { impl_->run_worker(); });
  impl_->loop_thread = std::thread([this] { impl_->run_loop(); });
  return true;
}

void HttpServer::stop() {
  if (impl_->loop_thread.joinable()) {
    impl_->stopping = true;
    impl_->wake();
    impl_->loop_thread.join();
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->workers_stop = true;
  }
  impl_->cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  impl_->workers.clear();
  impl_->jobs.clear();
  impl_->done.clear();
  if (impl_->listen_fd >= 0) ::close(impl_->listen_fd);
  if (impl_->wake_fd >= 0) ::close(impl_->wake_fd);
  impl_->listen_fd = impl_->wake_fd = -1;
}

int HttpServer::port() const { return impl_->port; }

HttpServerStats HttpServer::stats() const {
  HttpServerStats s;
  s.accepted = impl_->accepted;
  s.timed_out = impl_->timed_out;
  s.evicted = impl_->evicted;
  s.rejected = impl_->rejected;
  s.tls_handshake_failures = impl_->handshake_failures;
  return s;
}

}  // namespace rs::sidecar
