// The vector selectors a PromQL expression reads (`name{matchers}`), found by a small lexer, not a
// parser: enough to ask Prometheus when the series behind a rule were last scraped
// (`timestamp(selector)`), which is what scrape-aligned evaluation needs.
#pragma once

#include <string>
#include <vector>

namespace rs::promql {

// Every distinct selector of `query` in order of appearance, as `metric{matchers}` or
// `{matchers}` (range `[5m]`, `offset` and `@` modifiers dropped: the caller wants the newest
// sample). String literals and comments are skipped; a bare metric name without braces is a
// selector when a range follows it (`up[5m]`) or it stands alone as an operand (`up > 0`),
// never when it is a function, an aggregation, a keyword or a label list (`by (job)`).
// Best effort by design: an expression this lexer cannot follow yields fewer selectors, never
// a wrong one.
std::vector<std::string> vector_selectors(const std::string& query);

}  // namespace rs::promql
