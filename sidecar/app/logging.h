// Log setup: level and format (text for humans, json for log pipelines), UTC timestamps.
#pragma once

#include <string>

namespace rs::sidecar {

// level: trace|debug|info|warn|error; format: text|json. Returns false and names the bad value.
// JSON lines look like {"ts":"2026-11-22T21:10:29.123Z","level":"warn","msg":"..."}.
bool configure_logging(const std::string& level, const std::string& format, std::string* error);

}  // namespace rs::sidecar
