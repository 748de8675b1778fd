#include "common/http/http_response_reader.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "common/ascii.h"

namespace rs {
namespace {

constexpr std::size_t kMaxHeadBytes = 64 * 1024;  // status line, headers and the blank line
constexpr std::size_t kMaxHeaders = 200;
constexpr std::size_t kMaxLineBytes = 4096;  // a chunk-size or trailer line, without its CRLF

// Digits of `base` (10 or 16) from the start of `s` up to the first other byte; nullopt when
// there is none or the number does not fit. `*end` is where the digits stop.
std::optional<unsigned long long> parse_number(const std::string& s, int base, std::size_t* end) {
  unsigned long long v = 0;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (base == 16 && std::isxdigit(c)) {
      digit = std::tolower(c) - 'a' + 10;
    } else {
      break;
    }
    if (v > (~0ULL - static_cast<unsigned>(digit)) / static_cast<unsigned>(base)) return std::nullopt;
    v = v * static_cast<unsigned>(base) + static_cast<unsigned>(digit);
  }
  *end = i;
  if (i == 0) return std::nullopt;
  return v;
}

}  // namespace

HttpResponseReader::Progress HttpResponseReader::fail(TransportError kind, std::string what) {
  error_kind_ = kind;
  error_ = std::move(what);
  body_.clear();
  progress_ = Progress::kFailed;
  return progress_;
}

HttpResponseReader::Progress HttpResponseReader::feed(const char* data, std::size_t size) {
  if (progress_ != Progress::kNeedMore) return progress_;
  received_ += size;
  pending_.append(data, size);
  if (!headers_done_ && !read_head()) return progress_;
  if (!headers_done_) return Progress::kNeedMore;
  return read_body();
}

HttpResponseReader::Progress HttpResponseReader::closed() {
  if (progress_ != Progress::kNeedMore) return progress_;
  if (headers_done_ && framing_ == Framing::kUntilClose) {
    close_after_ = true;
    progress_ = Progress::kComplete;
    return progress_;
  }
  return fail(TransportError::kOther,
              received_ == 0 ? "empty reply from server" : "connection closed before the response was complete");
}

bool HttpResponseReader::read_head() {
  while (!headers_done_) {
    const std::size_t from = head_scanned_ >= 3 ? head_scanned_ - 3 : 0;
    const std::size_t end = pending_.find("\r\n\r\n", from);
    // The head with its blank line may be kMaxHeadBytes long; without the blank line yet, what
    // is here is already longer than that once it reaches kMaxHeadBytes bytes.
    if (end == std::string::npos ? pending_.size() >= kMaxHeadBytes : end + 4 > kMaxHeadBytes) {
      fail(TransportError::kOther, "response headers exceed " + std::to_string(kMaxHeadBytes) + " bytes");
      return false;
    }
    if (end == std::string::npos) {
      head_scanned_ = pending_.size();
      return true;
    }
    const std::string head = pending_.substr(0, end);
    pending_.erase(0, end + 4);
    head_scanned_ = 0;
    const std::size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12 || status_line[8] != ' ') {
      fail(TransportError::kOther, "not an HTTP/1.x response");
      return false;
    }
    std::size_t digits = 0;
    const auto status = parse_number(status_line.substr(9, 3), 10, &digits);
    if (!status || digits != 3 || *status < 100 || (status_line.size() > 12 && status_line[12] != ' ')) {
      fail(TransportError::kOther, "bad HTTP status line");
      return false;
    }
    if (*status < 200) continue;  // 100 Continue and other interim responses
    status_ = static_cast<long>(*status);
    headers_.clear();
    close_after_ = status_line.compare(0, 8, "HTTP/1.0") == 0;
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    std::optional<unsigned long long> length;
    bool chunked = false;
    while (pos < head.size()) {
      std::size_t next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      const std::string line = head.substr(pos, next - pos);
      pos = next + 2;
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      const std::string name = line.substr(0, colon);
      const std::size_t vs = line.find_first_not_of(" \t", colon + 1);
      const std::size_t ve = line.find_last_not_of(" \t");
      const std::string value = vs == std::string::npos || ve < vs ? "" : line.substr(vs, ve - vs + 1);
      if (headers_.size() < kMaxHeaders) headers_.emplace_back(name, value);
      const std::string n = common::ascii_lower(name);
      if (n == "content-length") {
        std::size_t used = 0;
        const auto v = parse_number(value, 10, &used);
        if (!v || used != value.size() || (length && *length != *v)) {
          fail(TransportError::kOther, "bad Content-Length");
          return false;
        }
        length = v;
      } else if (n == "transfer-encoding") {
        chunked = common::ascii_lower(value).find("chunked") != std::string::npos;
      } else if (n == "connection") {
        const std::string v = common::ascii_lower(value);
        if (v.find("close") != std::string::npos) close_after_ = true;
        if (v.find("keep-alive") != std::string::npos) close_after_ = false;
      }
    }
    headers_done_ = true;
    if (head_request_ || status_ == 204 || status_ == 304) {
      framing_ = Framing::kLength;
      remaining_ = 0;
    } else if (chunked) {  // chunked wins over a Content-Length (RFC 9112 §6.3)
      framing_ = Framing::kChunked;
    } else if (length) {
      if (*length > max_body_bytes_) {
        fail(TransportError::kOversize, "response body exceeds " + std::to_string(max_body_bytes_) + " bytes");
        return false;
      }
      framing_ = Framing::kLength;
      remaining_ = static_cast<std::size_t>(*length);
    } else {
      framing_ = Framing::kUntilClose;
      close_after_ = true;
    }
  }
  return true;
}

bool HttpResponseReader::append_body(const char* data, std::size_t n) {
  if (n > max_body_bytes_ - std::min(max_body_bytes_, body_.size())) {
    fail(TransportError::kOversize, "response body exceeds " + std::to_string(max_body_bytes_) + " bytes");
    return false;
  }
  body_.append(data, n);
  return true;
}

HttpResponseReader::Progress HttpResponseReader::read_body() {
  if (framing_ == Framing::kUntilClose) {
    if (!append_body(pending_.data(), pending_.size())) return progress_;
    pending_.clear();
    return Progress::kNeedMore;
  }
  if (framing_ == Framing::kLength) {
    const std::size_t n = std::min(remaining_, pending_.size());
    if (!append_body(pending_.data(), n)) return progress_;
    pending_.erase(0, n);
    remaining_ -= n;
    if (remaining_ > 0) return Progress::kNeedMore;
    progress_ = Progress::kComplete;
    return progress_;
  }
  std::size_t pos = 0;  // chunked
  while (true) {
    if (chunk_ == Chunk::kData) {
      const std::size_t n = std::min(remaining_, pending_.size() - pos);
      if (!append_body(pending_.data() + pos, n)) return progress_;
      pos += n;
      remaining_ -= n;
      if (remaining_ > 0) break;
      chunk_ = Chunk::kDataEnd;
      continue;
    }
    // The start of a line that came in an earlier feed() was searched then (less its last byte,
    // which may be the CR).
    const std::size_t eol = pending_.find("\r\n", pos + (line_scanned_ > 0 ? line_scanned_ - 1 : 0));
    // A line is at most kMaxLineBytes; without its CRLF yet, what is here is longer once it
    // exceeds kMaxLineBytes + 1 (the last byte may be the CR).
    if (eol == std::string::npos ? pending_.size() - pos > kMaxLineBytes + 1 : eol - pos > kMaxLineBytes) {
      return fail(TransportError::kOther,
                  "bad chunked encoding (a line over " + std::to_string(kMaxLineBytes) + " bytes)");
    }
    if (eol == std::string::npos) {
      line_scanned_ = pending_.size() - pos;
      break;
    }
    line_scanned_ = 0;
    const std::string line = pending_.substr(pos, eol - pos);
    pos = eol + 2;
    if (chunk_ == Chunk::kDataEnd) {
      if (!line.empty()) return fail(TransportError::kOther, "bad chunked encoding (no CRLF after a chunk)");
      chunk_ = Chunk::kSize;
    } else if (chunk_ == Chunk::kSize) {
      std::size_t used = 0;
      const auto size = parse_number(line, 16, &used);
      if (!size || (used < line.size() && line[used] != ';' && line[used] != ' ' && line[used] != '\t')) {
        return fail(TransportError::kOther, "bad chunked encoding (chunk size)");
      }
      if (*size > max_body_bytes_ - std::min(max_body_bytes_, body_.size())) {
        return fail(TransportError::kOversize, "response body exceeds " + std::to_string(max_body_bytes_) + " bytes");
      }
      if (*size == 0) {
        chunk_ = Chunk::kTrailer;
      } else {
        remaining_ = static_cast<std::size_t>(*size);
        chunk_ = Chunk::kData;
      }
    } else if (line.empty()) {  // the end of the trailers
      pending_.erase(0, pos);
      progress_ = Progress::kComplete;
      return progress_;
    }
  }
  pending_.erase(0, pos);
  return Progress::kNeedMore;
}

}  // namespace rs
