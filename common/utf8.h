// UTF-8 hygiene for text from outside (process output, HTTP bodies, router replies) before it is
// shown, cut or put into JSON: nlohmann's writer throws on invalid UTF-8 unless told to replace.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace rs::common {

// Contract:
// - valid_utf8(text) returns text unchanged when it is well-formed UTF-8 (Unicode 15, table 3-7:
//   no overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF). Otherwise every
//   maximal ill-formed subpart (a stray byte, or the valid start of a sequence that breaks off)
//   becomes one U+FFFD (EF BF BD), as the Unicode standard and WHATWG decoders do. NUL and other
//   control characters are valid UTF-8 and are kept. The result is always well-formed UTF-8.
// - cut_utf8_prefix(text, max_bytes) returns text unchanged when it has at most max_bytes bytes;
//   otherwise the longest prefix of at most max_bytes bytes that does not end inside a character
//   (a multi-byte character the cut would split is left out whole). It only looks at where it
//   cuts: bytes that were ill-formed before stay so (use valid_utf8 for them). A cut is "inside a
//   character" only when a lead byte at most 3 bytes before announces a longer sequence, so a
//   run of stray continuation bytes is cut like any other bytes.
// - cut_utf8_suffix(text, max_bytes) is the same for the end: unchanged when it fits, otherwise
//   the longest suffix of at most max_bytes bytes that does not start inside a character.
// - All three are pure and never throw except std::bad_alloc.
std::string valid_utf8(std::string_view text);
std::string cut_utf8_prefix(std::string_view text, std::size_t max_bytes);
std::string cut_utf8_suffix(std::string_view text, std::size_t max_bytes);

// An untrusted value for an error message or a log line: valid UTF-8, at most max_bytes of it,
// and when cut, "... (N bytes)" after it so a reader knows it was.
std::string clip_for_message(std::string_view text, std::size_t max_bytes);

// The first control byte in `text` that a text format like YAML does not allow (C0 controls other
// than tab, LF and CR, and DEL), with its 1-based line and column; nullopt when there is none.
// Every YAML input is checked before it is parsed: a binary file gets an error naming the byte.
struct ControlByte {
  unsigned char byte = 0;
  std::size_t line = 1;
  std::size_t column = 1;
  std::string describe() const;  // "byte 0x00 at line 1, column 4"
};
std::optional<ControlByte> find_control_byte(std::string_view text);

}  // namespace rs::common
