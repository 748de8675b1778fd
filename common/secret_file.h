// Secrets (tokens, passwords, webhook URLs) come from files and never reach a log.
#pragma once

#include <string>

namespace rs::common {

// Reads the secret in `path`, without trailing whitespace (secret files usually end in a
// newline; secrets never do). On failure returns false and sets *error naming `what` and the
// path, never the content: "cannot read bearer token file /run/x: No such file or directory",
// "bearer token file /run/x is empty".
bool read_secret_file(const std::string& path, const char* what, std::string* secret, std::string* error);

// Replaces every occurrence of `secret` in *text with "<redacted>" (no-op for an empty secret).
// For messages that come from transports and servers, which may echo what they were sent.
void redact(std::string* text, const std::string& secret);

}  // namespace rs::common
