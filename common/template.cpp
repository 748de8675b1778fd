#include "common/template.h"

namespace rs::common {

namespace {
std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}
}  // namespace

std::optional<std::string> render_template(const std::string& text, const std::map<std::string, std::string>& vars,
                                           std::string* error) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string::npos) {
      out.append(text, pos, std::string::npos);
      return out;
    }
    size_t close = text.find("}}", open + 2);
    if (close == std::string::npos) {
      if (error) *error = "unclosed '{{' at offset " + std::to_string(open);
      return std::nullopt;
    }
    std::string name = trim(text.substr(open + 2, close - open - 2));
    auto it = vars.find(name);
    if (it == vars.end()) {
      if (error) {
        std::string known;
        for (const auto& [k, v] : vars) known += (known.empty() ? "" : ", ") + k;
        *error = "unknown variable '{{" + name + "}}' (known: " + known + ")";
      }
      return std::nullopt;
    }
    out.append(text, pos, open - pos);
    out += it->second;
    pos = close + 2;
  }
}

}  // namespace rs::common
