// Writing JSON that may carry outside text (actuator details, process output, HTTP bodies,
// alert labels). Header-only: the user links nlohmann-json.
#pragma once

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

}  // namespace rs::common
