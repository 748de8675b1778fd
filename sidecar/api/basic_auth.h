// HTTP Basic auth against bcrypt hashes (web config basic_auth_users), as exporter-toolkit does.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <string>

namespace rs::sidecar {

// Contract: check() parses `Authorization: Basic base64(user:password)` and verifies the password
// with bcrypt (libxcrypt's crypt_rn; $2a$, $2b$, $2y$), the result compared in constant time. An
// unknown user costs a bcrypt too (against a fixed hash), so timing does not tell users apart.
// Verdicts are cached by SHA-256(user, hash, password), as exporter-toolkit caches them, so a
// scrape every few seconds costs a hash, not a bcrypt, and a scraper stuck on an old password
// does not tie the workers up in bcrypt; the cache holds at most kMaxCached entries (then starts
// over) and never a password. Thread-safe; bcrypt runs one at a time (it is the CPU's cost).
class BasicAuth {
 public:
  enum class Verdict { kAllowed, kMissing, kMalformed, kWrong };
  static constexpr std::size_t kMaxCached = 1024;

  explicit BasicAuth(std::map<std::string, std::string> users) : users_(std::move(users)) {}
  Verdict check(const std::string& authorization) const;
  bool enabled() const { return !users_.empty(); }
  std::size_t bcrypt_runs() const;  // for tests: verifications that were not cache hits

 private:
  std::map<std::string, std::string> users_;  // user -> bcrypt hash
  mutable std::mutex mu_;                     // guards cached_, runs_
  mutable std::mutex bcrypt_mu_;
  mutable std::map<std::string, bool> cached_;  // SHA-256 digest -> verdict
  mutable std::size_t runs_ = 0;
};

// bcrypt (any crypt(5) hash libxcrypt knows) of `password` equals `hash`; false for a malformed hash.
bool crypt_verify(const std::string& password, const std::string& hash);

}  // namespace rs::sidecar
