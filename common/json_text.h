// Writing JSON that may carry outside text (actuator details, process output, HTTP bodies,
// alert labels), and reading members of JSON from outside without exceptions or silent casts.
// Header-only: the user links nlohmann-json.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "common/utf8.h"

namespace rs::common {

// j.dump(indent) that never throws on invalid UTF-8: ill-formed bytes become U+FFFD. Use it for
// every document that can hold text the sidecar did not write itself.
inline std::string dump_json(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Replaces ill-formed UTF-8 in every string and object key of j (see valid_utf8), so j can be
// handed to code that dumps it without the replace handler.
inline void make_valid_utf8(nlohmann::json* j) {
  if (j->is_string()) {
    auto& s = j->get_ref<std::string&>();
    std::string fixed = valid_utf8(s);
    if (fixed != s) s = std::move(fixed);
  } else if (j->is_array()) {
    for (auto& element : *j) make_valid_utf8(&element);
  } else if (j->is_object()) {
    bool bad_key = false;
    for (auto it = j->begin(); it != j->end(); ++it) {
      make_valid_utf8(&it.value());
      bad_key = bad_key || valid_utf8(it.key()) != it.key();
    }
    if (bad_key) {
      nlohmann::json fixed = nlohmann::json::object();
      for (auto it = j->begin(); it != j->end(); ++it) fixed[valid_utf8(it.key())] = std::move(it.value());
      *j = std::move(fixed);
    }
  }
}

// j[key] when j is an object whose member is a string, else "". nlohmann's value(key, "")
// throws when the member has another type (a Status body with "kind": 806).
inline std::string string_member(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return "";
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// *out = v when v is an integer that T holds; false (and *out untouched) for anything else.
// nlohmann's get<T>() casts a float or an out-of-range number silently, and a float beyond T's
// range is undefined behaviour (a state file with "id": 1e51).
template <typename T>
bool json_integer(const nlohmann::json& v, T* out) {
  using Limits = std::numeric_limits<T>;
  if (v.is_number_unsigned()) {
    const std::uint64_t u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(Limits::max())) return false;
    *out = static_cast<T>(u);
    return true;
  }
  if (!v.is_number_integer()) return false;
  const std::int64_t i = v.get<std::int64_t>();
  if (i < 0 ? (!Limits::is_signed || i < static_cast<std::int64_t>(Limits::min()))
            : static_cast<std::uint64_t>(i) > static_cast<std::uint64_t>(Limits::max())) {
    return false;
  }
  *out = static_cast<T>(i);
  return true;
}

}  // namespace rs::common
