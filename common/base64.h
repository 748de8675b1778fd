// Standard base64 (RFC 4648 §4, alphabet A-Z a-z 0-9 + /, '=' padding): the one encoder and
// decoder for Basic credentials (encode: redaction of `user:password` as a header carries it;
// decode: the API's Basic auth) and kubeconfig `*-data` fields.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rs::common {

// Padded standard base64 of `in`.
std::string base64_encode(std::string_view in);

enum class Base64Input {
  kStrict,   // a header value: length a multiple of 4, padding only at the end, no whitespace
  kLenient,  // a file field: whitespace (line breaks) skipped, padding optional
};
// The decoded bytes; nullopt when `text` is not base64 under `input`'s rules (a character
// outside the alphabet, data after padding, more than two '=').
std::optional<std::string> base64_decode(std::string_view text, Base64Input input);

}  // namespace rs::common
