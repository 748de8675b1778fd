// URL text helpers shared by every HTTP caller (Prometheus forms, AWS paths and query strings,
// Kubernetes label selectors).
#pragma once

#include <string>

namespace rs {

// RFC 3986 percent-encoding: the unreserved characters (A-Z a-z 0-9 - . _ ~) stay, every other
// byte becomes %XX (upper-case hex). Safe for a path segment, a query value and a form value.
std::string percent_encode(const std::string& text);

}  // namespace rs
