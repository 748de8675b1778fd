// Crash-safe whole-file replacement, shared by the state store, incident reports and the
// file-writing actuators (nginx, file).
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>

namespace rs::common {

// Replaces `path` with `data` so that a reader (or a crash at any moment) sees either the old
// file or the new one, never a mix: a uniquely named temp file in the same directory, write,
// fsync, rename over `path`, fsync the directory. The temp file is removed on failure.
// Returns false and sets *error ("<path>: cannot write <temp>: <strerror>") on failure.
bool write_file_atomically(const std::string& path, const std::string& data, mode_t mode, std::string* error);

// The whole file, or nullopt with *error set ("<path>: <strerror>"). `exists` (optional) is set
// to false when the file does not exist, so callers can tell "absent" from "unreadable".
std::optional<std::string> read_file(const std::string& path, std::string* error, bool* exists = nullptr);

// "dir" of "dir/name" ("." for a bare name, "/" for "/name").
std::string directory_of(const std::string& path);

}  // namespace rs::common
