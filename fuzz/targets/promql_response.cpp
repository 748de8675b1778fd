// Prometheus /api/v1/query response bodies (instant queries; the sidecar has no range parser),
// under the statuses Prometheus answers with: 200, 400 bad_data, 422 execution, 503 timeout.
#include "fuzz/fuzz_support.h"
#include "promql/response.h"

#include <cmath>
#include <cstdlib>
#include <variant>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (long status : {200L, 400L, 503L}) {
    auto outcome = rs::promql::parse_query_response(status, body);
    if (auto* error = std::get_if<rs::promql::QueryError>(&outcome)) {
      // Every error names what is wrong and says how it is classified.
      if (error->message.empty() && error->reason != rs::promql::ErrorReason::kPrometheus) std::abort();
      (void)rs::promql::error_reason_name(error->reason);
      (void)rs::promql::error_type_label(*error);
      (void)rs::promql::is_transient(*error);
    } else {
      const auto& q = std::get<rs::promql::QueryData>(outcome);
      if (status != 200) std::abort();  // a non-2xx answer is never data
      if (q.type == rs::promql::ResultType::kScalar && (q.samples.size() != 1 || !q.samples[0].labels.empty())) {
        std::abort();
      }
    }
  }
  return 0;
}
