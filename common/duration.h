// Prometheus duration strings ("500ms", "30s", "5m", "1h30m", "1d", "2w", "1y").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace rs::common {

using Duration = std::chrono::milliseconds;

// Parses a duration in Prometheus's format: one or more <number><unit> groups with units in
// descending order, each unit at most once (y, w, d, h, m, s, ms). "0" alone is zero.
// Returns nullopt and sets *error (if given) to a human-readable reason on bad input.
std::optional<Duration> parse_duration(std::string_view text, std::string* error = nullptr);

// Formats a duration in the same format, largest units first ("1h30m", "500ms", "0s").
std::string format_duration(Duration d);

}  // namespace rs::common
