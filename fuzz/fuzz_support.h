// Shared bits of the libFuzzer targets: a transport that answers every request with the fuzz
// input, and a scratch file for loaders that read a path.
#pragma once

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/http/http_transport.h"

namespace rs::fuzz {

// The parsers log what they refuse; at tens of thousands of inputs a second that is gigabytes of
// log and most of the time. Every target includes this header, so one switch silences them all.
inline const bool kLogsOff = [] {
  spdlog::set_level(spdlog::level::off);
  return true;
}();

inline std::string as_string(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Answers every request with `status` and `body` (and optional headers); never touches a network.
class CannedTransport : public rs::HttpTransport {
 public:
  long status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<rs::HttpResponse> perform_all(const std::vector<rs::HttpRequest>& requests) override {
    std::vector<rs::HttpResponse> out;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      rs::HttpResponse r;
      r.status = status;
      r.body = body;
      r.headers = headers;
      out.push_back(std::move(r));
    }
    return out;
  }
};

// One file per name and process under $TMPDIR (or /tmp), rewritten for every input.
inline std::string scratch_path(const char* name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/rs-fuzz-" + name + "-" + std::to_string(::getpid());
}

inline void write_scratch(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

}  // namespace rs::fuzz
