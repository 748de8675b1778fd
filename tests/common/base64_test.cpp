// common/base64: RFC 4648 test vectors both ways, and what each input mode refuses.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/base64.h"

namespace rs::common {
namespace {

TEST(Base64, EncodesTheRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xff\xfe\x00", 3)), "//4A");
  EXPECT_EQ(base64_encode("user:pa ss"), "dXNlcjpwYSBzcw==");
}

TEST(Base64, DecodesWhatItEncodesInBothModes) {
  const std::vector<std::string> inputs = {"",     "f",     "fo",     "foo",
                                           "foob", "fooba", "foobar", std::string("\0\x80\xff", 3)};
  for (const std::string& s : inputs) {
    for (Base64Input mode : {Base64Input::kStrict, Base64Input::kLenient}) {
      auto back = base64_decode(base64_encode(s), mode);
      ASSERT_TRUE(back) << s;
      EXPECT_EQ(*back, s);
    }
  }
}

TEST(Base64, StrictRefusesWhatAHeaderMustNotCarry) {
  EXPECT_FALSE(base64_decode("Zm9", Base64Input::kStrict)) << "length not a multiple of 4";
  EXPECT_FALSE(base64_decode("Zm9v\nYmFy", Base64Input::kStrict)) << "whitespace";
  EXPECT_FALSE(base64_decode("Zg==Zg==", Base64Input::kStrict)) << "data after padding";
  EXPECT_FALSE(base64_decode("Z===", Base64Input::kStrict)) << "three padding characters";
  EXPECT_FALSE(base64_decode("Zm9$", Base64Input::kStrict)) << "outside the alphabet";
  EXPECT_FALSE(base64_decode("Zm9-", Base64Input::kStrict)) << "the URL-safe alphabet is not standard base64";
}

TEST(Base64, LenientSkipsLineBreaksAndMissingPadding) {
  EXPECT_EQ(base64_decode("aGVs\nbG8h", Base64Input::kLenient), "hello!");
  EXPECT_EQ(base64_decode("aGVsbG8", Base64Input::kLenient), "hello");
  EXPECT_EQ(base64_decode(" aGVsbG8= \r\n", Base64Input::kLenient), "hello");
  EXPECT_FALSE(base64_decode("a$b=", Base64Input::kLenient));
  EXPECT_FALSE(base64_decode("aGVs=bG8=", Base64Input::kLenient));
}

}  // namespace
}  // namespace rs::common
