// The bearer-token check of the mutating endpoints: verdicts, HTTP statuses, rotation, and what
// the reasons may say (never the token).
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <string>

#include "sidecar/api/api_auth.h"
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

using rs::testing::TempDir;
using rs::testing::write_file;
using Verdict = BearerAuth::Verdict;

struct AuthCase {
  const char* name;
  std::string authorization;
  Verdict verdict;
  int status;
  const char* why;  // a part of the reason
};

TEST(BearerAuth, EachKindOfHeaderGetsItsVerdictAndStatus) {
  TempDir dir;
  write_file(dir.file("token"), "s3cret-token\n");  // trailing whitespace is not part of the token
  const BearerAuth auth(dir.file("token"));
  const std::vector<AuthCase> cases = {
      {"right token", "Bearer s3cret-token", Verdict::kAllowed, 200, ""},
      {"no header", "", Verdict::kMissing, 401, "missing Authorization"},
      {"basic scheme", "Basic czNjcmV0LXRva2Vu", Verdict::kMissing, 401, "Bearer scheme"},
      {"lower-case scheme", "bearer s3cret-token", Verdict::kMissing, 401, "Bearer scheme"},
      {"wrong token", "Bearer s3cret-tokem", Verdict::kWrong, 403, "wrong bearer token"},
      {"prefix of the token", "Bearer s3cret", Verdict::kWrong, 403, "wrong bearer token"},
      {"token plus more", "Bearer s3cret-token2", Verdict::kWrong, 403, "wrong bearer token"},
      {"token with its newline", "Bearer s3cret-token\n", Verdict::kWrong, 403, "wrong bearer token"},
      {"empty token", "Bearer ", Verdict::kWrong, 403, "wrong bearer token"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_EQ(auth.check(c.authorization, &why), c.verdict) << c.name;
    EXPECT_EQ(BearerAuth::http_status(auth.check(c.authorization, &why)), c.status) << c.name;
    EXPECT_NE(why.find(c.why), std::string::npos) << c.name << ": " << why;
    EXPECT_EQ(why.find("s3cret-token"), std::string::npos) << c.name << ": the reason shows the token: " << why;
  }
}

TEST(BearerAuth, NoTokenFileMeansTheEndpointsAreOffNotOpen) {
  const BearerAuth auth("");
  std::string why;
  EXPECT_EQ(auth.check("Bearer anything", &why), Verdict::kDisabled);
  EXPECT_EQ(BearerAuth::http_status(Verdict::kDisabled), 403);
  EXPECT_NE(why.find("api.bearer_token_file"), std::string::npos) << why;
}

TEST(BearerAuth, AnUnreadableOrEmptyTokenFileRefusesEveryRequestAndNamesTheFile) {
  TempDir dir;
  std::string why;
  const BearerAuth missing(dir.file("absent"));
  EXPECT_EQ(missing.check("Bearer x", &why), Verdict::kUnavailable);
  EXPECT_EQ(BearerAuth::http_status(Verdict::kUnavailable), 503);
  EXPECT_NE(why.find(dir.file("absent")), std::string::npos) << why;

  write_file(dir.file("empty"), "\n");
  const BearerAuth empty(dir.file("empty"));
  EXPECT_EQ(empty.check("Bearer ", &why), Verdict::kUnavailable) << "an empty token must not match an empty header";

  ASSERT_EQ(::mkdir(dir.file("a-directory").c_str(), 0700), 0);
  const BearerAuth directory(dir.file("a-directory"));
  EXPECT_EQ(directory.check("Bearer x", &why), Verdict::kUnavailable);
  EXPECT_NE(why.find("API token"), std::string::npos) << why;
}

TEST(BearerAuth, ARotatedTokenTakesEffectAtOnce) {
  TempDir dir;
  write_file(dir.file("token"), "first");
  const BearerAuth auth(dir.file("token"));
  std::string why;
  ASSERT_EQ(auth.check("Bearer first", &why), Verdict::kAllowed);
  write_file(dir.file("token"), "second");
  EXPECT_EQ(auth.check("Bearer first", &why), Verdict::kWrong);
  EXPECT_EQ(auth.check("Bearer second", &why), Verdict::kAllowed);
}

TEST(ConstantTimeEqual, ComparesWholeStringsOfAnyLength) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("ab", "abc"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), "a"));  // NUL is a byte like any other
  EXPECT_TRUE(constant_time_equal(std::string("a\0b", 3), std::string("a\0b", 3)));
}

}  // namespace
}  // namespace rs::sidecar
