// BasicAuth: bcrypt verification through libxcrypt ($2b$/$2y$/$2a$), the verdict cache, and the
// header forms it refuses.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "sidecar/api/basic_auth.h"
#include "tests/fakes/credentials.h"

namespace rs::sidecar {
namespace {

// A bcrypt hash of `password` with a fresh "$2b$05$" salt (cost 5: fast tests).
using fakes::basic_credentials;
using fakes::bcrypt_hash;

TEST(BasicAuth, VerifiesBcryptHashesOfEveryPrefix) {
  for (const char* prefix : {"$2b$", "$2y$", "$2a$"}) {
    const std::string hash = bcrypt_hash("s3cret pass:word", prefix);
    ASSERT_EQ(hash.compare(0, 4, prefix), 0) << hash;
    EXPECT_TRUE(crypt_verify("s3cret pass:word", hash)) << prefix;
    EXPECT_FALSE(crypt_verify("s3cret pass:wore", hash)) << prefix;
    EXPECT_FALSE(crypt_verify("", hash)) << prefix;
  }
  EXPECT_FALSE(crypt_verify("x", "not-a-hash"));
  EXPECT_FALSE(crypt_verify("x", ""));
}

TEST(BasicAuth, ChecksTheAuthorizationHeader) {
  BasicAuth auth({{"prometheus", bcrypt_hash("scrape-pass")}, {"ops", bcrypt_hash("ops:pass")}});
  ASSERT_TRUE(auth.enabled());
  EXPECT_EQ(auth.check(basic_credentials("prometheus:scrape-pass")), BasicAuth::Verdict::kAllowed);
  EXPECT_EQ(auth.check(basic_credentials("ops:ops:pass")), BasicAuth::Verdict::kAllowed);  // the password may hold ':'
  EXPECT_EQ(auth.check("basic " + basic_credentials("prometheus:scrape-pass").substr(6)), BasicAuth::Verdict::kAllowed);
  EXPECT_EQ(auth.check(basic_credentials("prometheus:wrong")), BasicAuth::Verdict::kWrong);
  EXPECT_EQ(auth.check(basic_credentials("nobody:scrape-pass")), BasicAuth::Verdict::kWrong);
  EXPECT_EQ(auth.check(basic_credentials("ops:scrape-pass")), BasicAuth::Verdict::kWrong);  // another user's password
  EXPECT_EQ(auth.check(""), BasicAuth::Verdict::kMissing);
  EXPECT_EQ(auth.check("Bearer abc"), BasicAuth::Verdict::kMissing);
  EXPECT_EQ(auth.check("Basic !!!!"), BasicAuth::Verdict::kMalformed);
  EXPECT_EQ(auth.check(basic_credentials("no-colon")), BasicAuth::Verdict::kMalformed);
  EXPECT_FALSE(BasicAuth({}).enabled());
}

TEST(BasicAuth, CachesVerdictsSoRepeatedScrapesCostNoBcrypt) {
  BasicAuth auth({{"prometheus", bcrypt_hash("scrape-pass")}});
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(auth.check(basic_credentials("prometheus:scrape-pass")), BasicAuth::Verdict::kAllowed);
  EXPECT_EQ(auth.bcrypt_runs(), 1u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(auth.check(basic_credentials("prometheus:old-pass")), BasicAuth::Verdict::kWrong);
  EXPECT_EQ(auth.bcrypt_runs(), 2u);
  // An unknown user costs a bcrypt too (against the decoy hash), then is cached as wrong.
  EXPECT_EQ(auth.check(basic_credentials("nobody:scrape-pass")), BasicAuth::Verdict::kWrong);
  EXPECT_EQ(auth.check(basic_credentials("nobody:scrape-pass")), BasicAuth::Verdict::kWrong);
  EXPECT_EQ(auth.bcrypt_runs(), 3u);
  EXPECT_EQ(auth.check(basic_credentials("prometheus:scrape-pass")), BasicAuth::Verdict::kAllowed);
  EXPECT_EQ(auth.bcrypt_runs(), 3u);
}

}  // namespace
}  // namespace rs::sidecar
