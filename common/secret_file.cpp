#include "common/secret_file.h"

#include <cstring>

#include "common/read_file.h"

namespace rs::common {

bool read_secret_file(const std::string& path, const char* what, std::string* secret, std::string* error) {
  std::string why;
  auto content = read_regular_file(path, kMaxSecretFileBytes, &why);
  if (!content) {
    // why = "<path>: <problem>", never the content.
    *error = std::string("cannot read ") + what + " file " + why;
    return false;
  }
  std::string text = std::move(*content);
  while (!text.empty() && std::strchr(" \t\r\n\f\v", text.back()) != nullptr) text.pop_back();
  if (text.empty()) {
    *error = std::string(what) + " file " + path + " is empty";
    return false;
  }
  *secret = std::move(text);
  return true;
}

void redact(std::string* text, const std::string& secret) {
  if (secret.empty()) return;
  static const std::string kMark = "<redacted>";
  // Search on after the mark, so a secret that occurs inside the mark cannot loop forever.
  for (auto pos = text->find(secret); pos != std::string::npos; pos = text->find(secret, pos + kMark.size())) {
    text->replace(pos, secret.size(), kMark);
  }
}

}  // namespace rs::common
