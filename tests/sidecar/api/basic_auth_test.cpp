// BasicAuth: bcrypt verification through libxcrypt ($2b$/$2y$/$2a$), the verdict cache, and the
// header forms it refuses.
#include <gtest/gtest.h>

#include <crypt.h>

#include <openssl/evp.h>

#include <stdexcept>
#include <string>

#include "sidecar/api/basic_auth.h"

namespace rs::sidecar {
namespace {

// A bcrypt hash of `password` with a fresh "$2b$05$" salt (cost 5: fast tests).
std::string bcrypt(const std::string& password, const char* prefix = "$2b$") {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn(prefix, 5, nullptr, 0, salt, sizeof salt)) throw std::runtime_error("crypt_gensalt_rn failed");
  crypt_data data{};
  const char* hash = crypt_rn(password.c_str(), salt, &data, sizeof data);
  if (!hash || hash[0] == '*') throw std::runtime_error("crypt_rn failed");
  return hash;
}

std::string basic(const std::string& user_password) {
  std::string out(4 * ((user_password.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(user_password.data()),
                                static_cast<int>(user_password.size()));
  out.resize(static_cast<std::size_t>(n));
  return "Basic " + out;
}

TEST(BasicAuth, VerifiesBcryptHashesOfEveryPrefix) {
  for (const char* prefix : {"$2b$", "$2y$", "$2a$"}) {
    const std::string hash = bcrypt("s3cret pass:word", prefix);
    ASSERT_EQ(hash.compare(0, 4, prefix), 0) << hash;
    EXPECT_TRUE(crypt_verify("s3cret pass:word", hash)) << prefix;
    EXPECT_FALSE(crypt_verify("s3cret pass:wore", hash)) << prefix;
    EXPECT_FALSE(crypt_verify("", hash)) << prefix;
  }
  EXPECT_FALSE(crypt_verify("x", "not-a-hash"));
  EXPECT_FALSE(crypt_verify("x", ""));
}

TEST(BasicAuth, ChecksTheAuthorizationHeader) {
  BasicAuth auth({{"prometheus", bcrypt("scrape-pass")}, {"ops", bcrypt("ops:pass")}});
  ASSERT_TRUE(auth.enabled());
  EXPECT_EQ(auth.check(basic("prometheus:scrape-pass")), BasicAuth::Verdict::kAllowed);
  EXPECT_EQ(auth.check(basic("ops:ops:pass")), BasicAuth::Verdict::kAllowed);  // the password may hold ':'
  EXPECT_EQ(auth.check("basic " + basic("prometheus:scrape-pass").substr(6)), BasicAuth::Verdict::kAllowed);
  EXPECT_EQ(auth.check(basic("prometheus:wrong")), BasicAuth::Verdict::kWrong);
  EXPECT_EQ(auth.check(basic("nobody:scrape-pass")), BasicAuth::Verdict::kWrong);
  EXPECT_EQ(auth.check(basic("ops:scrape-pass")), BasicAuth::Verdict::kWrong);  // another user's password
  EXPECT_EQ(auth.check(""), BasicAuth::Verdict::kMissing);
  EXPECT_EQ(auth.check("Bearer abc"), BasicAuth::Verdict::kMissing);
  EXPECT_EQ(auth.check("Basic !!!!"), BasicAuth::Verdict::kMalformed);
  EXPECT_EQ(auth.check(basic("no-colon")), BasicAuth::Verdict::kMalformed);
  EXPECT_FALSE(BasicAuth({}).enabled());
}

TEST(BasicAuth, CachesVerdictsSoRepeatedScrapesCostNoBcrypt) {
  BasicAuth auth({{"prometheus", bcrypt("scrape-pass")}});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(auth.check(basic("prometheus:scrape-pass")), BasicAuth::Verdict::kAllowed);
  EXPECT_EQ(auth.bcrypt_runs(), 1u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(auth.check(basic("prometheus:old-pass")), BasicAuth::Verdict::kWrong);
  EXPECT_EQ(auth.bcrypt_runs(), 2u);
  // An unknown user costs a bcrypt too (against the decoy hash), then is cached as wrong.
  EXPECT_EQ(auth.check(basic("nobody:scrape-pass")), BasicAuth::Verdict::kWrong);
  EXPECT_EQ(auth.check(basic("nobody:scrape-pass")), BasicAuth::Verdict::kWrong);
  EXPECT_EQ(auth.bcrypt_runs(), 3u);
  EXPECT_EQ(auth.check(basic("prometheus:scrape-pass")), BasicAuth::Verdict::kAllowed);
  EXPECT_EQ(auth.bcrypt_runs(), 3u);
}

}  // namespace
}  // namespace rs::sidecar
