#include "sidecar/api/basic_auth.h"

#include <crypt.h>

#include <openssl/crypto.h>  // OPENSSL_cleanse
#include <openssl/sha.h>

#include <memory>
#include <optional>

#include "common/base64.h"
#include "sidecar/api/api_auth.h"

namespace rs::sidecar {
namespace {

// exporter-toolkit's stand-in for unknown users: the bcrypt of "fakepassword", cost 10.
constexpr const char* kDecoyHash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

bool decode_base64(const std::string& in, std::string* out) {
  if (in.empty() || in.size() > 4096) return false;
  auto decoded = common::base64_decode(in, common::Base64Input::kStrict);
  if (!decoded) return false;
  *out = std::move(*decoded);
  return true;
}

std::string cache_key(const std::string& user, const std::string& hash, const std::string& password) {
  std::string material = user;
  material += '\0';
  material += hash;
  material += '\0';
  material += password;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(material.data()), material.size(), digest);
  OPENSSL_cleanse(material.data(), material.size());
  return std::string(reinterpret_cast<const char*>(digest), sizeof digest);
}

}  // namespace

bool crypt_verify(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();  // ~32 KiB: not on the worker's stack
  const char* out = ::crypt_rn(password.c_str(), hash.c_str(), data.get(), sizeof *data);
  // crypt_rn returns null (or a "*"-prefixed failure token) for an unusable setting.
  const bool ok = out != nullptr && out[0] != '*' && constant_time_equal(out, hash);
  OPENSSL_cleanse(data.get(), sizeof *data);
  return ok;
}

BasicAuth::Verdict BasicAuth::check(const std::string& authorization) const {
  if (authorization.empty()) return Verdict::kMissing;
  static const std::string kScheme = "basic ";
  std::string scheme = authorization.substr(0, kScheme.size());
  for (auto& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (scheme != kScheme) return Verdict::kMissing;  // another scheme (Bearer): no Basic credentials
  std::string pair;
  if (!decode_base64(authorization.substr(kScheme.size()), &pair)) return Verdict::kMalformed;
  const auto colon = pair.find(':');
  if (colon == std::string::npos) {
    OPENSSL_cleanse(pair.data(), pair.size());
    return Verdict::kMalformed;
  }
  const std::string user = pair.substr(0, colon);
  std::string password = pair.substr(colon + 1);
  OPENSSL_cleanse(pair.data(), pair.size());
  const auto found = users_.find(user);
  const bool known = found != users_.end();
  const std::string& hash = known ? found->second : std::string(kDecoyHash);
  const std::string key = cache_key(user, hash, password);
  std::optional<bool> ok;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto hit = cached_.find(key); hit != cached_.end()) ok = hit->second;
  }
  if (!ok) {
    {
      std::lock_guard<std::mutex> lock(bcrypt_mu_);
      ok = crypt_verify(password, hash) && known;
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++runs_;
    if (cached_.size() >= kMaxCached) cached_.clear();
    cached_[key] = *ok;
  }
  OPENSSL_cleanse(password.data(), password.size());
  return *ok && known ? Verdict::kAllowed : Verdict::kWrong;
}

std::size_t BasicAuth::bcrypt_runs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runs_;
}

}  // namespace rs::sidecar
