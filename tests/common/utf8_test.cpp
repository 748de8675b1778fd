// sidecar/common/utf8.h: repairing ill-formed UTF-8 and cutting text on character boundaries.
#include "common/utf8.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/json_text.h"

namespace rs::common {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";
const std::string kCheck = "\xE2\x9C\x93";      // U+2713, 3 bytes
const std::string kEacute = "\xC3\xA9";         // U+00E9, 2 bytes
const std::string kEmoji = "\xF0\x9F\x98\x80";  // U+1F600, 4 bytes

bool dumps(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

TEST(FindControlByte, TabsAndLineBreaksAreTextEverythingElseBelowSpaceIsNot) {
  EXPECT_FALSE(find_control_byte("a: b\tc\r\nd: 'é ✓'\n").has_value());
  EXPECT_FALSE(find_control_byte("").has_value());
  const auto nul = find_control_byte(std::string("ab\ncd\0", 6));
  ASSERT_TRUE(nul.has_value());
  EXPECT_EQ(nul->describe(), "byte 0x00 at line 2, column 3");
  EXPECT_EQ(find_control_byte("\x1b[0m")->describe(), "byte 0x1b at line 1, column 1");
  EXPECT_EQ(find_control_byte("x\x7f")->describe(), "byte 0x7f at line 1, column 2");
}

TEST(ValidUtf8, WellFormedTextIsUnchanged) {
  EXPECT_EQ(valid_utf8(""), "");
  EXPECT_EQ(valid_utf8("plain ascii\n\t"), "plain ascii\n\t");
  EXPECT_EQ(valid_utf8(std::string("nul\0inside", 10)), std::string("nul\0inside", 10));
  const std::string mixed = "a" + kEacute + kCheck + kEmoji + "\xEF\xBF\xBF" + "\xF4\x8F\xBF\xBF" + "z";
  EXPECT_EQ(valid_utf8(mixed), mixed);
  EXPECT_EQ(valid_utf8("\xED\x9F\xBF"), "\xED\x9F\xBF");  // U+D7FF, just below the surrogates
  EXPECT_EQ(valid_utf8("\xEE\x80\x80"), "\xEE\x80\x80");  // U+E000, just above them
}

TEST(ValidUtf8, StrayAndImpossibleBytesBecomeReplacementCharacters) {
  EXPECT_EQ(valid_utf8("\xFF\xFE"), kFffd + kFffd);
  EXPECT_EQ(valid_utf8("a\x80z"), "a" + kFffd + "z");                        // lone continuation byte
  EXPECT_EQ(valid_utf8("\xF5\x80\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // above U+10FFFF
  EXPECT_EQ(valid_utf8("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // U+110000
  EXPECT_EQ(valid_utf8("ok \xC3( ok"), "ok " + kFffd + "( ok");              // lead without continuation
}

TEST(ValidUtf8, OverlongFormsAreRejected) {
  EXPECT_EQ(valid_utf8("\xC0\xAF"), kFffd + kFffd);  // '/' in 2 bytes
  EXPECT_EQ(valid_utf8("\xC1\xBF"), kFffd + kFffd);
  EXPECT_EQ(valid_utf8("\xE0\x80\xAF"), kFffd + kFffd + kFffd);              // '/' in 3 bytes
  EXPECT_EQ(valid_utf8("\xF0\x80\x80\xAF"), kFffd + kFffd + kFffd + kFffd);  // '/' in 4 bytes
  EXPECT_EQ(valid_utf8("\xE0\xA0\x80"), "\xE0\xA0\x80");                     // U+0800: the first real one
}

TEST(ValidUtf8, SurrogatesAreRejected) {
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // U+D800
  EXPECT_EQ(valid_utf8("\xED\xBF\xBF"), kFffd + kFffd + kFffd);  // U+DFFF
  // A CESU-8 pair (what a naive UTF-16 conversion writes) is two surrogates.
  std::string six;
  for (int i = 0; i < 6; ++i) six += kFffd;
  EXPECT_EQ(valid_utf8("\xED\xA0\xBD\xED\xB8\x80"), six);
}

TEST(ValidUtf8, ATruncatedCharacterIsOneReplacementCharacter) {
  EXPECT_EQ(valid_utf8("end \xE2\x9C"), "end " + kFffd);
  EXPECT_EQ(valid_utf8("end \xF0\x9F\x98"), "end " + kFffd);
  EXPECT_EQ(valid_utf8("\xE2\x9C" + kCheck), kFffd + kCheck);  // the next character survives
  EXPECT_EQ(valid_utf8("\xF0\x9F"
                       "abc"),
            kFffd + "abc");
}

TEST(ValidUtf8, TheResultAlwaysDumpsAsJson) {
  for (int b = 0; b < 256; ++b) {
    for (int c : {0x00, 0x41, 0x80, 0x9F, 0xA0, 0xBF, 0xC0}) {
      std::string s{static_cast<char>(b), static_cast<char>(c), '\x80'};
      EXPECT_TRUE(dumps(valid_utf8(s))) << b << " " << c;
    }
  }
  EXPECT_FALSE(dumps("\xFF"));  // the failure this guards against
}

TEST(CutUtf8Prefix, FittingTextIsUnchanged) {
  EXPECT_EQ(cut_utf8_prefix("", 0), "");
  EXPECT_EQ(cut_utf8_prefix("", 10), "");
  EXPECT_EQ(cut_utf8_prefix("abc", 3), "abc");
  EXPECT_EQ(cut_utf8_prefix(kCheck, 3), kCheck);
  EXPECT_EQ(cut_utf8_prefix("abcdef", 0), "");
  EXPECT_EQ(cut_utf8_prefix("abcdef", 4), "abcd");
}

TEST(CutUtf8Prefix, NeverSplitsACharacter) {
  // 2-byte
  EXPECT_EQ(cut_utf8_prefix("a" + kEacute + "b", 2), "a");
  EXPECT_EQ(cut_utf8_prefix("a" + kEacute + "b", 3), "a" + kEacute);
  // 3-byte, cut after its first and its second byte
  EXPECT_EQ(cut_utf8_prefix("a" + kCheck + "b", 2), "a");
  EXPECT_EQ(cut_utf8_prefix("a" + kCheck + "b", 3), "a");
  EXPECT_EQ(cut_utf8_prefix("a" + kCheck + "b", 4), "a" + kCheck);
  // 4-byte, cut after its first, second and third byte
  for (std::size_t max : {1, 2, 3}) EXPECT_EQ(cut_utf8_prefix(kEmoji + "b", max), "") << max;
  EXPECT_EQ(cut_utf8_prefix(kEmoji + "b", 4), kEmoji);
  // The case that broke rollbacks: many check marks cut at 200 bytes.
  std::string marks;
  for (int i = 0; i < 100; ++i) marks += kCheck;
  const std::string cut = cut_utf8_prefix(marks, 200);
  EXPECT_EQ(cut.size(), 198u);
  EXPECT_EQ(valid_utf8(cut), cut);
}

TEST(CutUtf8Prefix, StrayContinuationBytesAreCutLikeOtherBytes) {
  EXPECT_EQ(cut_utf8_prefix("\x80\x80\x80\x80\x80", 3), "\x80\x80\x80");
  EXPECT_EQ(cut_utf8_prefix("a" + kEacute + "\x80\x80", 4), "a" + kEacute + "\x80");  // é is complete
}

TEST(CutUtf8Suffix, FittingTextIsUnchanged) {
  EXPECT_EQ(cut_utf8_suffix("", 0), "");
  EXPECT_EQ(cut_utf8_suffix("abc", 3), "abc");
  EXPECT_EQ(cut_utf8_suffix("abcdef", 2), "ef");
  EXPECT_EQ(cut_utf8_suffix("abcdef", 0), "");
}

TEST(CutUtf8Suffix, NeverStartsInsideACharacter) {
  EXPECT_EQ(cut_utf8_suffix("a" + kEacute + "b", 2), "b");
  EXPECT_EQ(cut_utf8_suffix("a" + kEacute + "b", 3), kEacute + "b");
  EXPECT_EQ(cut_utf8_suffix("a" + kCheck + "b", 2), "b");
  EXPECT_EQ(cut_utf8_suffix("a" + kCheck + "b", 3), "b");
  EXPECT_EQ(cut_utf8_suffix("a" + kCheck + "b", 4), kCheck + "b");
  for (std::size_t max : {1, 2, 3}) EXPECT_EQ(cut_utf8_suffix("a" + kEmoji, max), "") << max;
  EXPECT_EQ(cut_utf8_suffix("a" + kEmoji + "b", 5), kEmoji + "b");
  EXPECT_EQ(cut_utf8_suffix("a" + kEmoji, 4), kEmoji);
  // The exec actuator keeps the last 512 bytes of 200 check marks (600 bytes).
  std::string marks;
  for (int i = 0; i < 200; ++i) marks += kCheck;
  const std::string tail = cut_utf8_suffix(marks, 512);
  EXPECT_EQ(tail.size(), 510u);
  EXPECT_EQ(valid_utf8(tail), tail);
}

TEST(CutUtf8Suffix, StrayContinuationBytesAreCutLikeOtherBytes) {
  EXPECT_EQ(cut_utf8_suffix("\x80\x80\x80\x80\x80", 3), "\x80\x80\x80");
  EXPECT_EQ(cut_utf8_suffix(kEacute + "\x80\x80", 2), "\x80\x80");  // é ended before the cut
}

TEST(JsonText, DumpJsonReplacesInsteadOfThrowing) {
  nlohmann::json j = {{"detail", "rolled back \xE2\x9C"}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);
  EXPECT_EQ(dump_json(j), "{\"detail\":\"rolled back " + kFffd + "\"}");
}

TEST(JsonText, MakeValidUtf8FixesEveryStringAndKey) {
  nlohmann::json j = {{"a", {"ok", "bad \xFF", 3}}, {"b\xFE", {{"c", "\xED\xA0\x80"}}}, {"n", nullptr}};
  make_valid_utf8(&j);
  EXPECT_NO_THROW((void)j.dump());
  EXPECT_EQ(j["a"][0], "ok");
  EXPECT_EQ(j["a"][1], "bad " + kFffd);
  EXPECT_EQ(j["a"][2], 3);
  EXPECT_EQ(j["b" + kFffd]["c"], kFffd + kFffd + kFffd);
  EXPECT_TRUE(j["n"].is_null());
}

}  // namespace
}  // namespace rs::common
