// One name table per enum: the names are a wire format (state file, audit log, status API, exec
// environment, metric labels), so each enum's names live in exactly one array, and both
// directions (enum -> name, name -> enum) read that array.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace rs::common {

template <typename E>
struct EnumName {
  E value;
  const char* name;
};

// The name of `value`; "unknown" only for a value missing from the table (a bug the name tests catch).
template <typename E, std::size_t N>
constexpr const char* enum_name(const EnumName<E> (&table)[N], E value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "unknown";
}

// The enum named `name`; nullopt for a name not in the table.
template <typename E, std::size_t N>
constexpr std::optional<E> enum_from_name(const EnumName<E> (&table)[N], std::string_view name) {
  for (const auto& entry : table) {
    if (name == entry.name) return entry.value;
  }
  return std::nullopt;
}

}  // namespace rs::common
