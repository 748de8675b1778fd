// Credentials for tests of basic auth: a bcrypt hash as a web config's basic_auth_users holds it,
// and the Authorization value a client sends. Header-only; link crypt (and OpenSSL's crypto for
// basic_credentials).
#pragma once

#include <crypt.h>
#include <openssl/evp.h>

#include <stdexcept>
#include <string>

namespace rs::fakes {

// bcrypt (cost 5: fast tests) of `password`, with the given prefix ($2b$, $2y$, $2a$).
inline std::string bcrypt_hash(const std::string& password, const char* prefix = "$2b$") {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn(prefix, 5, nullptr, 0, salt, sizeof salt)) throw std::runtime_error("crypt_gensalt_rn failed");
  crypt_data data{};
  const char* hash = crypt_rn(password.c_str(), salt, &data, sizeof data);
  if (!hash || hash[0] == '*') throw std::runtime_error("crypt_rn failed");
  return hash;
}

// "Basic <base64 of user:password>", the Authorization header's value.
inline std::string basic_credentials(const std::string& user_password) {
  std::string out(4 * ((user_password.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(user_password.data()),
                                static_cast<int>(user_password.size()));
  out.resize(static_cast<std::size_t>(n));
  return "Basic " + out;
}

}  // namespace rs::fakes
