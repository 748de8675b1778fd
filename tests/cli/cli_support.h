// Shared bits of the binary-level tests: where the binary is, a Prometheus reply, a metric read.
#pragma once

#include <string>

namespace rs::testing {

inline const std::string kSidecarBinary = std::string(RS_BINARY_DIR) + "/sidecar/rollback-sidecar";

// A Prometheus /api/v1/query success with one sample of `value` (a number as text).
inline std::string vector_reply(const std::string& value) {
  return R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,")" + value +
         R"("]}]}})";
}

// The value of one exact series in Prometheus text format, -1 when absent.
inline double metric_value(const std::string& exposition, const std::string& series) {
  auto at = exposition.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(exposition.substr(at + series.size() + 2));
}

}  // namespace rs::testing
