// Reads one HTTP/1.x response from a connection's bytes as they arrive. Pure (no socket, no
// clock): PlainHttpTransport feeds it what recv() returns, the fuzz target what libFuzzer makes.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "common/http/http_transport.h"

namespace rs {

// Contract:
// - feed() takes the next bytes of the connection until the response is complete (kComplete)
//   or malformed (kFailed); it is not called after either. How the bytes are cut into feed()
//   calls never changes the outcome.
// - Interim 1xx responses are skipped. The body is framed by Content-Length, chunked encoding
//   (trailers ignored), or the end of the connection (closed()); HEAD, 204 and 304 have none.
// - Limits: 64 KiB of status line and headers (only the first 200 headers are kept), chunk-size
//   and trailer lines of 4 KiB, max_body_bytes of body (then kOversize); other faults are kOther.
//   error() says what was wrong, for a message "<method> <url>: <error>".
// - Work is linear in the bytes fed, however they are cut (a server dripping a byte at a time
//   costs no rescans).
class HttpResponseReader {
 public:
  enum class Progress { kNeedMore, kComplete, kFailed };

  HttpResponseReader(bool head_request, std::size_t max_body_bytes)
      : head_request_(head_request), max_body_bytes_(max_body_bytes) {}

  Progress feed(const char* data, std::size_t size);
  // The peer closed the connection: completes a body that runs until the close, fails otherwise.
  Progress closed();

  std::size_t received() const { return received_; }
  long status() const { return status_; }
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  std::string take_body() { return std::move(body_); }
  // The connection may carry another request: no `Connection: close` (or HTTP/1.0 without
  // keep-alive), the body was not framed by the close, and no byte followed the response.
  bool reusable() const { return !close_after_ && pending_.empty(); }
  TransportError error_kind() const { return error_kind_; }
  const std::string& error() const { return error_; }

 private:
  enum class Framing { kNone, kLength, kChunked, kUntilClose };
  enum class Chunk { kSize, kData, kDataEnd, kTrailer };

  Progress fail(TransportError kind, std::string what);
  bool read_head();  // false: failed
  Progress read_body();
  bool append_body(const char* data, std::size_t n);

  bool head_request_;
  std::size_t max_body_bytes_;
  std::string pending_;           // received, not yet consumed
  std::size_t head_scanned_ = 0;  // bytes of pending_ already searched for the end of the head
  std::size_t line_scanned_ = 0;  // bytes of a chunked-encoding line already searched for its CRLF
  std::size_t received_ = 0;
  bool headers_done_ = false;
  bool close_after_ = false;
  Framing framing_ = Framing::kNone;
  std::size_t remaining_ = 0;  // kLength: body bytes still to come; kChunked/kData: of this chunk
  Chunk chunk_ = Chunk::kSize;
  long status_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
  TransportError error_kind_ = TransportError::kNone;
  std::string error_;
  Progress progress_ = Progress::kNeedMore;
};

}  // namespace rs
