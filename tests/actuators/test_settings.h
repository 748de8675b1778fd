// A map-backed Settings for actuator tests: records errors like the real config loader does.
#pragma once

#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "actuators/actuator.h"

namespace rs::testing {

class MapSettings : public rs::actuators::Settings {
 public:
  using List = std::vector<std::string>;
  using Map = std::map<std::string, std::string>;
  using Value = std::variant<std::string, List, Map>;

  MapSettings() = default;
  explicit MapSettings(std::map<std::string, Value> values) : values_(std::move(values)) {}

  std::vector<std::string> errors;  // "key: message"
  std::string all_errors() const {
    std::string out;
    for (const auto& e : errors) out += e + "\n";
    return out;
  }

  bool has(const std::string& key) const override { return values_.count(key) != 0; }

  Kind kind(const std::string& key) const override {
    auto it = values_.find(key);
    if (it == values_.end()) return Kind::kMissing;
    if (std::holds_alternative<std::string>(it->second)) return Kind::kScalar;
    return std::holds_alternative<List>(it->second) ? Kind::kList : Kind::kMap;
  }

  std::string string(const std::string& key, std::optional<std::string> fallback = std::nullopt) override {
    if (const auto* v = get<std::string>(key, fallback.has_value(), "a string")) return *v;
    return fallback.value_or("");
  }

  std::vector<std::string> string_list(const std::string& key,
                                       std::optional<std::vector<std::string>> fallback = std::nullopt) override {
    if (const auto* v = get<List>(key, fallback.has_value(), "a list")) return *v;
    return fallback.value_or(List{});
  }

  std::map<std::string, std::string> string_map(const std::string& key) override {
    if (const auto* v = get<Map>(key, true, "a map")) return *v;
    return {};
  }

  std::chrono::milliseconds duration(const std::string& key,
                                     std::optional<std::chrono::milliseconds> fallback = std::nullopt) override {
    const auto* v = get<std::string>(key, fallback.has_value(), "a duration");
    if (!v) return fallback.value_or(std::chrono::milliseconds(0));
    if (auto d = parse_duration(*v)) return *d;
    error(key, "\"" + *v + "\" is not a duration");
    return fallback.value_or(std::chrono::milliseconds(0));
  }

  long long integer(const std::string& key, std::optional<long long> fallback = std::nullopt) override {
    const auto* v = get<std::string>(key, fallback.has_value(), "an integer");
    if (!v) return fallback.value_or(0);
    try {
      size_t used = 0;
      long long n = std::stoll(*v, &used);
      if (used == v->size()) return n;
    } catch (...) {}
    error(key, "\"" + *v + "\" is not an integer");
    return fallback.value_or(0);
  }

  bool boolean(const std::string& key, std::optional<bool> fallback = std::nullopt) override {
    const auto* v = get<std::string>(key, fallback.has_value(), "a boolean");
    if (!v) return fallback.value_or(false);
    if (*v == "true") return true;
    if (*v == "false") return false;
    error(key, "\"" + *v + "\" is not a boolean");
    return fallback.value_or(false);
  }

  void error(const std::string& key, const std::string& message) override { errors.push_back(key + ": " + message); }

 private:
  template <typename T>
  const T* get(const std::string& key, bool optional, const char* what) {
    auto it = values_.find(key);
    if (it == values_.end()) {
      if (!optional) error(key, "missing");
      return nullptr;
    }
    if (const T* v = std::get_if<T>(&it->second)) return v;
    error(key, std::string("must be ") + what);
    return nullptr;
  }

  // "1s", "500ms", "1m30s" (enough for tests).
  static std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
    long long total = 0;
    size_t i = 0;
    if (text.empty()) return std::nullopt;
    while (i < text.size()) {
      size_t start = i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
      if (i == start) return std::nullopt;
      long long n = std::stoll(text.substr(start, i - start));
      std::string unit;
      while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) unit += text[i++];
      if (unit == "ms")
        total += n;
      else if (unit == "s")
        total += n * 1000;
      else if (unit == "m")
        total += n * 60000;
      else if (unit == "h")
        total += n * 3600000;
      else
        return std::nullopt;
    }
    return std::chrono::milliseconds(total);
  }

  std::map<std::string, Value> values_;
};

}  // namespace rs::testing
