#include "common/duration.h"

#include <array>
#include <cstdint>
#include <limits>

namespace rs::common {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t millis;
  bool format_only_if_exact;  // like Prometheus: "90d" reads better than "12w6d"
};

constexpr std::int64_t kSecond = 1000;
constexpr std::int64_t kMinute = 60 * kSecond;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr std::int64_t kDay = 24 * kHour;

// Largest first; parsing requires this order and formatting emits it.
constexpr std::array<Unit, 7> kUnits{{
    {"y", 365 * kDay, true},
    {"w", 7 * kDay, true},
    {"d", kDay, false},
    {"h", kHour, false},
    {"m", kMinute, false},
    {"s", kSecond, false},
    {"ms", 1, false},
}};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Index into kUnits of the unit starting at text[pos], or -1. "ms" must win over "m".
int match_unit(std::string_view text, std::size_t pos) {
  int best = -1;
  std::size_t best_len = 0;
  for (std::size_t i = 0; i < kUnits.size(); ++i) {
    std::string_view name = kUnits[i].name;
    if (text.compare(pos, name.size(), name) == 0 && name.size() > best_len) {
      best = static_cast<int>(i);
      best_len = name.size();
    }
  }
  return best;
}

std::optional<Duration> fail(std::string* error, std::string_view text, const std::string& why) {
  if (error) *error = "invalid duration \"" + std::string(text) + "\": " + why;
  return std::nullopt;
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text, std::string* error) {
  if (text.empty()) return fail(error, text, "empty");
  if (text == "0") return Duration{0};  // Prometheus allows a bare zero, no other unitless number

  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t total = 0;
  int previous_unit = -1;
  std::size_t pos = 0;
  while (pos < text.size()) {
    if (!is_digit(text[pos])) return fail(error, text, "expected a number at offset " + std::to_string(pos));
    std::int64_t number = 0;
    while (pos < text.size() && is_digit(text[pos])) {
      int digit = text[pos] - '0';
      if (number > (kMax - digit) / 10) return fail(error, text, "number too large");
      number = number * 10 + digit;
      ++pos;
    }
    if (pos == text.size()) return fail(error, text, "missing unit (one of y, w, d, h, m, s, ms)");
    int unit = match_unit(text, pos);
    if (unit < 0) {
      return fail(error, text, "unknown unit at offset " + std::to_string(pos) + " (use y, w, d, h, m, s, ms)");
    }
    if (unit <= previous_unit) return fail(error, text, "units must appear once each, largest first");
    previous_unit = unit;
    pos += kUnits[unit].name.size();

    std::int64_t millis = kUnits[unit].millis;
    if (number > kMax / millis || total > kMax - number * millis) return fail(error, text, "overflows");
    total += number * millis;
  }
  return Duration{total};
}

std::string format_duration(Duration d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    // Not a Prometheus duration, but say so visibly rather than printing garbage.
    if (ms == std::numeric_limits<std::int64_t>::min()) ++ms;  // keep -ms representable
    out = "-";
    ms = -ms;
  }
  for (const Unit& unit : kUnits) {
    if (unit.format_only_if_exact && ms % unit.millis != 0) continue;
    std::int64_t count = ms / unit.millis;
    if (count == 0) continue;
    out += std::to_string(count);
    out += unit.name;
    ms -= count * unit.millis;
  }
  return out;
}

}  // namespace rs::common
