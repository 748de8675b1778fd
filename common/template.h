// {{name}} templating for queries and other config strings.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace rs::common {

// Replaces every {{name}} (spaces inside the braces allowed) with vars[name]. An unknown name
// or an unclosed "{{" is an error: returns nullopt and sets *error naming it. Text without
// braces is returned unchanged.
std::optional<std::string> render_template(const std::string& text, const std::map<std::string, std::string>& vars,
                                           std::string* error);

}  // namespace rs::common
