// ASCII case folding for protocol tokens (HTTP header names, URL schemes): locale-independent,
// bytes above 0x7f left as they are.
#pragma once

#include <string>

namespace rs::common {

inline std::string ascii_lower(std::string s) {
  for (auto& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

}  // namespace rs::common
