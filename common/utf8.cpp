#include "common/utf8.h"

namespace rs::common {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed character starting at text[i] (1-4), or 0 when it is ill-formed;
// then *consumed is the length of the maximal ill-formed subpart (at least 1).
std::size_t character_at(std::string_view text, std::size_t i, std::size_t* consumed) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = byte(0);
  *consumed = 1;
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte (table 3-7)
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;  // C0, C1 (overlong), F5..FF, or a stray continuation byte
  }
  for (std::size_t k = 1; k < length; ++k) {
    if (i + k >= text.size()) {
      *consumed = k;
      return 0;
    }
    const unsigned char c = byte(k);
    const bool ok = k == 1 ? c >= low && c <= high : continuation(c);
    if (!ok) {
      *consumed = k;
      return 0;
    }
  }
  return length;
}

// How many bytes a sequence starting with this lead byte claims (1 for anything else).
std::size_t sequence_length(unsigned char lead) {
  if (lead >= 0xC0 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF7) return 4;
  return 1;
}

// When text[pos] continues a multi-byte character that starts before pos, where that character
// starts; otherwise pos. Looks back at most 3 bytes.
std::size_t start_of_character(std::string_view text, std::size_t pos) {
  if (pos >= text.size() || !continuation(static_cast<unsigned char>(text[pos]))) return pos;
  for (std::size_t back = 1; back <= 3 && back <= pos; ++back) {
    const auto c = static_cast<unsigned char>(text[pos - back]);
    if (continuation(c)) continue;
    return pos - back + sequence_length(c) > pos ? pos - back : pos;
  }
  return pos;  // stray continuation bytes: not inside a character
}

}  // namespace

std::string valid_utf8(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  std::size_t consumed = 0;
  // Fast path: well-formed text is copied once.
  while (i < text.size()) {
    const std::size_t n = character_at(text, i, &consumed);
    if (n == 0) break;
    i += n;
  }
  if (i == text.size()) return std::string(text);
  out.reserve(text.size() + 8);
  out.append(text.substr(0, i));
  while (i < text.size()) {
    const std::size_t n = character_at(text, i, &consumed);
    if (n == 0) {
      out.append(kReplacement);
      i += consumed;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string cut_utf8_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return std::string(text.substr(0, start_of_character(text, max_bytes)));
}

std::string cut_utf8_suffix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t start = text.size() - max_bytes;
  const std::size_t lead = start_of_character(text, start);
  if (lead != start) {  // skip the rest of the split character
    const std::size_t end = lead + sequence_length(static_cast<unsigned char>(text[lead]));
    while (start < end && start < text.size() && continuation(static_cast<unsigned char>(text[start]))) ++start;
  }
  return std::string(text.substr(start));
}

std::string clip_for_message(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return valid_utf8(text);
  return valid_utf8(cut_utf8_prefix(text, max_bytes)) + "... (" + std::to_string(text.size()) + " bytes)";
}

std::string ControlByte::describe() const {
  static const char* kHex = "0123456789abcdef";
  return std::string("byte 0x") + kHex[byte >> 4] + kHex[byte & 0xf] + " at line " + std::to_string(line) +
         ", column " + std::to_string(column);
}

std::optional<ControlByte> find_control_byte(std::string_view text) {
  ControlByte at;
  for (const char ch : text) {
    const auto b = static_cast<unsigned char>(ch);
    if ((b < 0x20 && b != '\t' && b != '\n' && b != '\r') || b == 0x7f) {
      at.byte = b;
      return at;
    }
    if (b == '\n') {
      ++at.line;
      at.column = 1;
    } else {
      ++at.column;
    }
  }
  return std::nullopt;
}

}  // namespace rs::common
