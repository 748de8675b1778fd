// Bearer-token check for the mutating API endpoints.
#pragma once

#include <string>

namespace rs::sidecar {

// Contract: the token is read from `token_file` on every check (so rotation works without a
// restart; trailing whitespace trimmed) and compared in constant time. No file configured →
// kDisabled: the endpoints are off, never open. A configured file that cannot be read, or is
// empty → kUnavailable (the request is refused; the reason names the file, never its content).
class BearerAuth {
 public:
  enum class Verdict { kAllowed, kMissing, kWrong, kDisabled, kUnavailable };
  explicit BearerAuth(std::string token_file) : token_file_(std::move(token_file)) {}

  // `authorization` is the request's Authorization header ("" when absent).
  Verdict check(const std::string& authorization, std::string* why) const;
  static int http_status(Verdict v);  // 200, 401, 403, 403, 503

 private:
  std::string token_file_;
};

// Constant-time string equality (time depends only on the lengths).
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace rs::sidecar
