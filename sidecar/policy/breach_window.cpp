#include "sidecar/policy/breach_window.h"

#include <algorithm>
#include <cctype>

#include "common/duration.h"

namespace rs::sidecar {

namespace {

// Reads a run of digits at text[*pos]; false when there are none or the number is absurdly long.
bool read_int(const std::string& text, std::size_t* pos, long* out) {
  std::size_t start = *pos;
  long v = 0;
  while (*pos < text.size() && std::isdigit(static_cast<unsigned char>(text[*pos]))) {
    if (*pos - start >= 6) return false;
    v = v * 10 + (text[*pos] - '0');
    ++*pos;
  }
  *out = v;
  return *pos > start;
}

void skip_spaces(const std::string& text, std::size_t* pos) {
  while (*pos < text.size() && std::isspace(static_cast<unsigned char>(text[*pos]))) ++*pos;
}

}  // namespace

std::optional<BreachesSpec> parse_breaches(const std::string& text, std::string* error) {
  const std::string shape = "; M of N needs 1 <= M <= N <= 100";
  auto fail = [&](const std::string& why) -> std::optional<BreachesSpec> {
    if (error) *error = "breaches \"" + text + "\": " + why + shape;
    return std::nullopt;
  };
  std::size_t pos = 0;
  long m = 0, n = 0;
  skip_spaces(text, &pos);
  if (!read_int(text, &pos, &m)) return fail("expected a number M first, as in \"3 of 5\"");
  std::size_t before = pos;
  skip_spaces(text, &pos);
  if (pos == before || pos + 2 > text.size() || std::tolower(static_cast<unsigned char>(text[pos])) != 'o' ||
      std::tolower(static_cast<unsigned char>(text[pos + 1])) != 'f')
    return fail("expected \"M of N\", as in \"3 of 5\"");
  pos += 2;
  before = pos;
  skip_spaces(text, &pos);
  if (pos == before || !read_int(text, &pos, &n)) return fail("expected a number N after \"of\", as in \"3 of 5\"");
  skip_spaces(text, &pos);
  if (pos != text.size()) return fail("unexpected text after N");
  if (m < 1) return fail("M must be at least 1");
  if (n > 100) return fail("N (" + std::to_string(n) + ") is larger than 100");
  if (m > n) return fail("M (" + std::to_string(m) + ") is larger than N (" + std::to_string(n) + ")");
  return BreachesSpec{static_cast<int>(m), static_cast<int>(n)};
}

std::string format_breaches(const BreachesSpec& spec) {
  return std::to_string(spec.m) + " of " + std::to_string(spec.n);
}

std::string format_timing(const RuleConfig& rule) {
  if (rule.breaches) return "in " + format_breaches(*rule.breaches) + " datapoints";
  return "for " + common::format_duration(rule.for_duration);
}

BreachWindow::BreachWindow(BreachesSpec spec) : spec_(spec), ring_(static_cast<std::size_t>(spec.n > 0 ? spec.n : 1)) {}

void BreachWindow::add(bool breached) {
  if (count_ == ring_.size()) {
    if (ring_[next_]) --breached_;  // the oldest datapoint leaves the window
  } else {
    ++count_;
  }
  ring_[next_] = breached;
  if (breached) ++breached_;
  next_ = (next_ + 1) % ring_.size();
}

void BreachWindow::clear() {
  std::fill(ring_.begin(), ring_.end(), false);
  next_ = 0;
  count_ = 0;
  breached_ = 0;
}

}  // namespace rs::sidecar
