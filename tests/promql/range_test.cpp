// Range queries: the strict matrix parser, the step grid and its split into requests Prometheus
// accepts, and Client::query_range against an in-process fake Prometheus.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <set>
#include <string>

#include "promql/client.h"
#include "promql/range.h"
#include "promql/response.h"
#include "tests/support/harness.h"

namespace rs::promql {
namespace {

using namespace std::chrono_literals;

RangeData expect_data(const RangeOutcome& outcome) {
  if (auto* error = std::get_if<QueryError>(&outcome)) {
    ADD_FAILURE() << "unexpected error (" << error_reason_name(error->reason) << "): " << error->message;
    return {};
  }
  return std::get<RangeData>(outcome);
}

QueryError expect_error(const RangeOutcome& outcome) {
  if (std::holds_alternative<RangeData>(outcome)) {
    ADD_FAILURE() << "expected an error, got data";
    return {};
  }
  return std::get<QueryError>(outcome);
}

std::string matrix_body(const std::string& result) {
  return R"({"status":"success","data":{"resultType":"matrix","result":)" + result + "}}";
}

TEST(ParseRangeResponse, MatrixWithSeveralSeries) {
  auto data = expect_data(parse_range_response(200, matrix_body(R"([
    {"metric":{"__name__":"up","instance":"a:9100"},"values":[[1700000000,"1"],[1700000015,"0"],[1700000030.5,"NaN"]]},
    {"metric":{"instance":"b:9100"},"values":[[1700000015,"+Inf"]]},
    {"metric":{},"values":[]}
  ])")));
  ASSERT_EQ(data.series.size(), 3u);
  EXPECT_EQ(data.series[0].labels.at("instance"), "a:9100");
  ASSERT_EQ(data.series[0].points.size(), 3u);
  EXPECT_DOUBLE_EQ(data.series[0].points[0].timestamp, 1700000000);
  EXPECT_DOUBLE_EQ(data.series[0].points[0].value, 1);
  EXPECT_DOUBLE_EQ(data.series[0].points[1].timestamp, 1700000015);
  EXPECT_DOUBLE_EQ(data.series[0].points[1].value, 0);
  EXPECT_DOUBLE_EQ(data.series[0].points[2].timestamp, 1700000030.5);
  EXPECT_TRUE(std::isnan(data.series[0].points[2].value));
  ASSERT_EQ(data.series[1].points.size(), 1u);
  EXPECT_TRUE(std::isinf(data.series[1].points[0].value));
  EXPECT_TRUE(data.series[2].labels.empty());
  EXPECT_TRUE(data.series[2].points.empty());
  EXPECT_FALSE(data.partial);
}

TEST(ParseRangeResponse, EmptyMatrixAndAnnotations) {
  auto data = expect_data(parse_range_response(
      200,
      R"({"status":"success","data":{"resultType":"matrix","result":[]},"warnings":["w1"],"infos":["i1"],"isPartial":true})"));
  EXPECT_TRUE(data.series.empty());
  ASSERT_EQ(data.warnings.size(), 1u);
  EXPECT_EQ(data.warnings[0], "w1");
  ASSERT_EQ(data.infos.size(), 1u);
  EXPECT_TRUE(data.partial);
  auto refused = expect_error(refuse_partial(RangeOutcome(data)));
  EXPECT_EQ(refused.reason, ErrorReason::kPartial);
}

// Each bad shape is refused with a message naming where it is.
TEST(ParseRangeResponse, BadShapesAreParseErrorsNamingThePlace) {
  struct Case {
    std::string body;
    std::string expected;  // part of the message
  };
  const Case cases[] = {
      {R"({"status":"success","data":{"resultType":"vector","result":[]}})", "expected \"matrix\""},
      {R"({"status":"success","data":{"resultType":"scalar","result":[1,"2"]}})", "expected \"matrix\""},
      {R"({"status":"success","data":{"resultType":"matrix","result":{}}})", "data.result: expected an array"},
      {R"({"status":"success","data":{"resultType":"matrix"}})", "data.result: missing"},
      {R"({"status":"success","data":{"result":[]}})", "data.resultType: missing"},
      {R"({"status":"success"})", "data: missing"},
      {matrix_body(R"([5])"), "data.result[0]: expected an object"},
      {matrix_body(R"([{"values":[]}])"), "data.result[0].metric: missing"},
      {matrix_body(R"([{"metric":{"a":1},"values":[]}])"), "data.result[0].metric.a"},
      {matrix_body(R"([{"metric":{}}])"), "data.result[0].values: missing"},
      {matrix_body(R"([{"metric":{},"values":{}}])"), "data.result[0].values: expected an array"},
      {matrix_body(R"([{"metric":{},"values":[[1,"1"],[2]]}])"), "data.result[0].values[1]: expected [timestamp"},
      {matrix_body(R"([{"metric":{},"values":[["1","1"]]}])"), "data.result[0].values[0][0]: timestamp is not"},
      {matrix_body(R"([{"metric":{},"values":[[1,1]]}])"), "data.result[0].values[0][1]: value is not a string"},
      {matrix_body(R"([{"metric":{},"values":[[1,"one"]]}])"), "is not a number"},
      {matrix_body(R"([{"metric":{},"values":[[2,"1"],[2,"1"]]}])"), "data.result[0].values[1][0]: timestamp 2"},
      {matrix_body(R"([{"metric":{},"values":[[3,"1"],[2,"1"]]}])"), "is not after the previous one"},
      {matrix_body(R"([{"metric":{"a":"x"},"values":[]},{"metric":{"a":"x"},"values":[]}])"),
       "data.result[1].metric: the same labels as data.result[0]"},
      {"not json", "body is not valid JSON"},
      {"", "body: empty"},
      {R"({"status":"weird"})", "status: expected \"success\""},
  };
  for (const auto& c : cases) {
    auto error = expect_error(parse_range_response(200, c.body));
    EXPECT_EQ(error.reason, ErrorReason::kParse) << c.body << ": " << error.message;
    EXPECT_NE(error.message.find(c.expected), std::string::npos) << c.body << ": " << error.message;
  }
}

TEST(ParseRangeResponse, NativeHistogramsAreUnsupported) {
  auto error = expect_error(
      parse_range_response(200, matrix_body(R"([{"metric":{},"histograms":[[1,{"count":"1","sum":"1"}]]}])")));
  EXPECT_EQ(error.reason, ErrorReason::kUnsupported);
  EXPECT_NE(error.message.find("data.result[0]"), std::string::npos) << error.message;
}

TEST(ParseRangeResponse, ErrorBodiesAreClassifiedLikeInstantQueries) {
  auto bad = expect_error(parse_range_response(
      400, R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"})"));
  EXPECT_EQ(bad.reason, ErrorReason::kPrometheus);
  EXPECT_EQ(bad.error_type, "bad_data");
  EXPECT_EQ(bad.http_status, 400);
  EXPECT_EQ(bad.message, "1:5: parse error: unexpected end of input");
  EXPECT_FALSE(is_transient(bad));

  auto too_many = expect_error(parse_range_response(
      400,
      R"j({"status":"error","errorType":"bad_data","error":"exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"})j"));
  EXPECT_NE(too_many.message.find("11,000"), std::string::npos);

  auto gateway = expect_error(parse_range_response(502, "<html>Bad Gateway</html>"));
  EXPECT_EQ(gateway.reason, ErrorReason::kHttp);
  EXPECT_EQ(gateway.http_status, 502);
  EXPECT_TRUE(is_transient(gateway));
}

// ---- the grid and its split ----------------------------------------------------------------

TEST(StepGrid, EndIsIncludedWhenOnTheGridOnly) {
  StepGrid grid;
  std::string error;
  ASSERT_TRUE(make_grid(1000, 61000, 15000, &grid, &error)) << error;
  EXPECT_EQ(grid.steps, 5);  // 1000, 16000, 31000, 46000, 61000
  EXPECT_EQ(grid.last_ms(), 61000);
  ASSERT_TRUE(make_grid(1000, 60999, 15000, &grid, &error)) << error;
  EXPECT_EQ(grid.steps, 4);
  EXPECT_EQ(grid.last_ms(), 46000);
  ASSERT_TRUE(make_grid(1000, 1000, 15000, &grid, &error)) << error;
  EXPECT_EQ(grid.steps, 1);
  EXPECT_EQ(grid.index_of(1000), 0);
  EXPECT_EQ(grid.index_of(16000), -1);  // past the last evaluation
}

TEST(StepGrid, IndexOfFindsOnlyTimesOnTheGrid) {
  StepGrid grid{1000, 15000, 5};
  EXPECT_EQ(grid.index_of(1000), 0);
  EXPECT_EQ(grid.index_of(46000), 3);
  EXPECT_EQ(grid.index_of(46001), -1);
  EXPECT_EQ(grid.index_of(999), -1);
  EXPECT_EQ(grid.index_of(76000), -1);
}

TEST(StepGrid, RefusesAZeroStepAnEndBeforeTheStartAndTooManySteps) {
  StepGrid grid;
  std::string error;
  EXPECT_FALSE(make_grid(0, 1000, 0, &grid, &error));
  EXPECT_NE(error.find("longer than 0"), std::string::npos) << error;
  EXPECT_FALSE(make_grid(0, 1000, -5, &grid, &error));
  EXPECT_FALSE(make_grid(2000, 1000, 10, &grid, &error));
  EXPECT_NE(error.find("before the start"), std::string::npos) << error;
  EXPECT_FALSE(make_grid(0, 1'000'000, 1, &grid, &error, 1000));
  EXPECT_NE(error.find("1000001 evaluations"), std::string::npos) << error;
}

TEST(SplitGrid, TwentyFiveThousandStepsAreThreeRequestsWithNoStepLostOrRepeated) {
  const StepGrid grid{1'700'000'000'000, 15'000, 25'000};
  const auto pieces = split_grid(grid);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].steps, 11000);
  EXPECT_EQ(pieces[1].steps, 11000);
  EXPECT_EQ(pieces[2].steps, 3000);
  std::set<std::int64_t> seen;
  std::int64_t expected_next = grid.start_ms;
  for (const auto& piece : pieces) {
    EXPECT_EQ(piece.step_ms, grid.step_ms);
    EXPECT_LE(piece.steps, kMaxStepsPerRequest);
    // Prometheus's own check: (end - start) / step must not exceed 11,000.
    EXPECT_LE((piece.last_ms() - piece.start_ms) / piece.step_ms, 11000);
    EXPECT_EQ(piece.start_ms, expected_next) << "a piece must start one step after the previous one ends";
    for (std::int64_t k = 0; k < piece.steps; ++k) EXPECT_TRUE(seen.insert(piece.at(k)).second) << piece.at(k);
    expected_next = piece.last_ms() + grid.step_ms;
  }
  EXPECT_EQ(static_cast<std::int64_t>(seen.size()), grid.steps);
  EXPECT_EQ(*seen.begin(), grid.start_ms);
  EXPECT_EQ(*seen.rbegin(), grid.last_ms());
}

TEST(SplitGrid, ExactMultiplesAndSmallPieces) {
  EXPECT_EQ(split_grid(StepGrid{0, 1000, 22000}).size(), 2u);
  EXPECT_EQ(split_grid(StepGrid{0, 1000, 22001}).size(), 3u);
  EXPECT_EQ(split_grid(StepGrid{0, 1000, 1}).size(), 1u);
  const auto pieces = split_grid(StepGrid{5, 10, 7}, 3);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].start_ms, 5);
  EXPECT_EQ(pieces[1].start_ms, 35);
  EXPECT_EQ(pieces[2].start_ms, 65);
  EXPECT_EQ(pieces[2].steps, 1);
  EXPECT_EQ(pieces[2].last_ms(), 65);
}

// ---- the client ----------------------------------------------------------------------------

TEST(ClientRange, SendsFormPostToQueryRangeWithTheSameHeadersAndCredentials) {
  rs::testing::FakeHttpServer server;
  rs::testing::TempDir dir;
  server.set_route("/api/v1/query_range", 200,
                   matrix_body(R"([{"metric":{"job":"api"},"values":[[1700000000,"0.5"],[1700000015,"0.25"]]}])"));
  rs::testing::write_file(dir.file("token"), "s3cr3t\n");
  ClientOptions options;
  options.url = server.url() + "/";
  options.timeout = 1500ms;
  options.headers = {{"X-Scope-OrgID", "team-a"}};
  options.bearer_token_file = dir.file("token");
  Client client(options, make_curl_transport());

  auto data = expect_data(client.query_range("rate(x[1m]) > 0", 1700000000, 1700000015.5, 15));
  ASSERT_EQ(data.series.size(), 1u);
  ASSERT_EQ(data.series[0].points.size(), 2u);
  EXPECT_DOUBLE_EQ(data.series[0].points[1].value, 0.25);

  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/api/v1/query_range");
  EXPECT_EQ(seen[0].body,
            "query=rate%28x%5B1m%5D%29%20%3E%200&start=1700000000.000&end=1700000015.500&step=15.000"
            "&timeout=1s500ms");
  auto headers = seen[0].headers;
  EXPECT_EQ(headers["Content-Type"], "application/x-www-form-urlencoded");
  EXPECT_EQ(headers["X-Scope-OrgID"], "team-a");
  EXPECT_EQ(headers["Authorization"], "Bearer s3cr3t");
}

TEST(ClientRange, BatchKeepsOrderAndReportsEachError) {
  rs::testing::FakeHttpServer server;
  server.set_route("/api/v1/query_range", 400,
                   R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"query\""})");
  ClientOptions options;
  options.url = server.url();
  Client client(options, make_curl_transport());
  auto outcomes = client.query_range_all({"up", "down"}, 0, 60, 15);
  ASSERT_EQ(outcomes.size(), 2u);
  for (const auto& outcome : outcomes) {
    auto error = expect_error(outcome);
    EXPECT_EQ(error.reason, ErrorReason::kPrometheus);
    EXPECT_EQ(error.error_type, "bad_data");
  }
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  std::set<std::string> bodies{seen[0].body, seen[1].body};
  EXPECT_EQ(bodies.count("query=up&start=0.000&end=60.000&step=15.000&timeout=2s"), 1u);
}

TEST(ClientRange, MissingTokenFileIsAnAuthErrorForEveryQuery) {
  ClientOptions options;
  options.url = "http://127.0.0.1:1";
  options.bearer_token_file = "/nonexistent/token";
  Client client(options, make_curl_transport());
  auto outcomes = client.query_range_all({"a", "b"}, 0, 60, 15);
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(expect_error(outcomes[1]).reason, ErrorReason::kAuth);
}

}  // namespace
}  // namespace rs::promql
