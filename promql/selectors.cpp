#include "promql/selectors.h"

#include <algorithm>
#include <cctype>

namespace rs::promql {
namespace {

bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool ident_char(char c) { return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

// Words that are never a metric name where they stand: binary and set operators, modifiers.
bool is_keyword(const std::string& word) {
  static const char* const kWords[] = {"by",     "without", "on",    "ignoring", "group_left", "group_right",
                                       "offset", "bool",    "and",   "or",       "unless",     "atan2",
                                       "inf",    "nan",     "start", "end",      "Inf",        "NaN"};
  return std::any_of(std::begin(kWords), std::end(kWords), [&](const char* w) { return word == w; });
}

// Words followed by a parenthesised label list, not an expression.
bool takes_label_list(const std::string& word) {
  return word == "by" || word == "without" || word == "on" || word == "ignoring" || word == "group_left" ||
         word == "group_right";
}

// Index just past the string literal starting at `i` (quote at q[i]); `'` and `"` honour
// backslash escapes, backquotes do not. An unterminated string runs to the end.
std::size_t skip_string(const std::string& q, std::size_t i) {
  const char quote = q[i];
  for (++i; i < q.size(); ++i) {
    if (quote != '`' && q[i] == '\\') {
      ++i;
      continue;
    }
    if (q[i] == quote) return i + 1;
  }
  return q.size();
}

// Index just past the bracket group opened at q[i] (`{`, `[` or `(`), strings skipped; npos
// when it is never closed.
std::size_t skip_group(const std::string& q, std::size_t i) {
  const char open = q[i];
  const char close = open == '{' ? '}' : open == '[' ? ']' : ')';
  int depth = 0;
  while (i < q.size()) {
    const char c = q[i];
    if (c == '"' || c == '\'' || c == '`') {
      i = skip_string(q, i);
      continue;
    }
    if (c == open) ++depth;
    if (c == close && --depth == 0) return i + 1;
    ++i;
  }
  return std::string::npos;
}

std::size_t skip_space(const std::string& q, std::size_t i) {
  while (i < q.size() && std::isspace(static_cast<unsigned char>(q[i]))) ++i;
  return i;
}

// Whether the word at q[i] is `by` or `without`: the word before it is an aggregation.
bool followed_by_grouping(const std::string& q, std::size_t i) {
  std::size_t end = i;
  while (end < q.size() && ident_char(q[end])) ++end;
  const std::string word = q.substr(i, end - i);
  return word == "by" || word == "without";
}

}  // namespace

std::vector<std::string> vector_selectors(const std::string& query) {
  std::vector<std::string> found;
  auto add = [&found](std::string selector) {
    if (std::find(found.begin(), found.end(), selector) == found.end()) found.push_back(std::move(selector));
  };
  const std::string& q = query;
  std::size_t i = 0;
  while (i < q.size()) {
    const char c = q[i];
    if (c == '#') {  // a comment runs to the end of the line
      while (i < q.size() && q[i] != '\n') ++i;
    } else if (c == '"' || c == '\'' || c == '`') {
      i = skip_string(q, i);
    } else if (c == '[') {  // a range or subquery range: durations only
      const std::size_t end = skip_group(q, i);
      if (end == std::string::npos) break;
      i = end;
    } else if (c == '{') {  // a selector without a metric name
      const std::size_t end = skip_group(q, i);
      if (end == std::string::npos) break;
      add(q.substr(i, end - i));
      i = end;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      // A number or a duration (1.5, 0x1f, 1e3, 5m, 1h30m): never a name.
      while (i < q.size() && (ident_char(q[i]) || q[i] == '.')) ++i;
    } else if (ident_start(c)) {
      const std::size_t start = i;
      while (i < q.size() && ident_char(q[i])) ++i;
      const std::string word = q.substr(start, i - start);
      const std::size_t next = skip_space(q, i);
      const char after = next < q.size() ? q[next] : '\0';
      if (after == '{' && !is_keyword(word)) {
        const std::size_t end = skip_group(q, next);
        if (end == std::string::npos) break;
        add(word + q.substr(next, end - next));
        i = end;
      } else if (after == '(') {
        // A function or aggregation (its arguments are lexed next), or a label list to skip.
        if (takes_label_list(word)) {
          const std::size_t end = skip_group(q, next);
          if (end == std::string::npos) break;
          i = end;
        }
      } else if (!is_keyword(word) && !followed_by_grouping(q, next)) {
        add(word);  // a bare metric name: `up`, `up[5m]`, `up > 0`; not `sum without (x) (...)`
      }
    } else {
      ++i;
    }
  }
  return found;
}

}  // namespace rs::promql
