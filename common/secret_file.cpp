#include "common/secret_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace rs::common {

bool read_secret_file(const std::string& path, const char* what, std::string* secret, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = std::string("cannot read ") + what + " file " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    *error = std::string("cannot read ") + what + " file " + path;
    return false;
  }
  std::string text = content.str();
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
