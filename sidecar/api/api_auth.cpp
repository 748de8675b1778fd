#include "sidecar/api/api_auth.h"

#include <algorithm>

#include "common/secret_file.h"

namespace rs::sidecar {

bool constant_time_equal(const std::string& a, const std::string& b) {
  const std::size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

BearerAuth::Verdict BearerAuth::check(const std::string& authorization, std::string* why) const {
  if (token_file_.empty()) {
    *why = "the mutating API is off: set api.bearer_token_file to enable it";
    return Verdict::kDisabled;
  }
  // Read per request, so a rotated token takes effect at once; capped, regular files only.
  std::string token;
  if (!common::read_secret_file(token_file_, "API token", &token, why)) return Verdict::kUnavailable;
  static const std::string kScheme = "Bearer ";
  if (authorization.empty()) {
    *why = "missing Authorization: Bearer <token>";
    return Verdict::kMissing;
  }
  if (authorization.compare(0, kScheme.size(), kScheme) != 0) {
    *why = "Authorization must use the Bearer scheme";
    return Verdict::kMissing;
  }
  if (!constant_time_equal(authorization.substr(kScheme.size()), token)) {
    *why = "wrong bearer token";
    return Verdict::kWrong;
  }
  return Verdict::kAllowed;
}

int BearerAuth::http_status(Verdict v) {
  switch (v) {
    case Verdict::kAllowed: return 200;
    case Verdict::kMissing: return 401;
    case Verdict::kWrong: return 403;
    case Verdict::kDisabled: return 403;
    case Verdict::kUnavailable: return 503;
  }
  return 403;
}

}  // namespace rs::sidecar
