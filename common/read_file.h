// Bounded reads of files named by configuration: a path that points at /dev/zero, a FIFO, a
// directory or a runaway file gives a clear error instead of reading until memory runs out.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace rs::common {

// Caps for the files the sidecar reads. A secret is a token, a password or a URL; the state file
// holds one decision; the outbox holds undelivered notifications; a config is hand-written.
inline constexpr std::size_t kMaxSecretFileBytes = 64 * 1024;
inline constexpr std::size_t kMaxStateFileBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxOutboxFileBytes = 64 * 1024 * 1024;
inline constexpr std::size_t kMaxConfigFileBytes = 4 * 1024 * 1024;

// Reads the whole of `path` when it is a regular file (symlinks are followed) of at most
// `max_bytes`. Otherwise returns nullopt and sets *error, which names the path and the problem
// but never the content:
//   "/run/x: No such file or directory"
//   "/dev/zero: not a regular file (character device)"
//   "/var/lib/x: 20971520 bytes, more than the limit of 16777216"
// *missing (when given) is set to true only when the path does not exist (ENOENT), so callers for
// which an absent file is normal can tell it from a broken one. Never blocks on a FIFO, never throws.
std::optional<std::string> read_regular_file(const std::string& path, std::size_t max_bytes, std::string* error,
                                             bool* missing = nullptr);

}  // namespace rs::common
