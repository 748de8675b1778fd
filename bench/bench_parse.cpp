// bench_parse: promql::parse_query_response on a 1-sample and a 1000-sample vector body.
// Reports time per parse and bytes/s and samples/s throughput (Google Benchmark).
#include <benchmark/benchmark.h>

#include <string>

#include "promql/response.h"

namespace {

// A vector reply shaped like Prometheus's, with `n` series of realistic label sets.
std::string vector_body(int n) {
  std::string body = R"({"status":"success","data":{"resultType":"vector","result":[)";
  for (int i = 0; i < n; ++i) {
    if (i) body += ",";
    body += R"({"metric":{"__name__":"http_requests_total","code":"500","instance":"10.0.)" + std::to_string(i / 250) +
            "." + std::to_string(i % 250) +
            R"(:8080","job":"checkout","method":"GET","service":"checkout","version":"v2"},"value":[1700000000.123,")" +
            std::to_string(0.0312 + i * 1e-4) + R"("]})";
  }
  body += "]}}";
  return body;
}

void BM_ParseVector(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  const std::string body = vector_body(n);
  for (auto _ : state) {
    auto outcome = rs::promql::parse_query_response(200, body);
    benchmark::DoNotOptimize(outcome);
    if (!std::holds_alternative<rs::promql::QueryData>(outcome) ||
        std::get<rs::promql::QueryData>(outcome).samples.size() != static_cast<std::size_t>(n)) {
      state.SkipWithError("parse failed");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(body.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
  state.counters["body_bytes"] = static_cast<double>(body.size());
}
BENCHMARK(BM_ParseVector)->Arg(1)->Arg(1000);

// The sidecar's typical reply: one aggregated sample without labels.
void BM_ParseScalarLikeVector(benchmark::State& state) {
  const std::string body =
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000.123,"0.0312"]}]}})";
  for (auto _ : state) {
    auto outcome = rs::promql::parse_query_response(200, body);
    benchmark::DoNotOptimize(outcome);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(body.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_ParseScalarLikeVector);

}  // namespace

BENCHMARK_MAIN();
