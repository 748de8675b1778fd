#include "promql/response.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace rs::promql {
namespace {

// Unwraps an outcome that must be data; fails the test with the error otherwise.
QueryData expect_data(const QueryOutcome& outcome) {
  if (auto* error = std::get_if<QueryError>(&outcome)) {
    ADD_FAILURE() << "unexpected error (" << error_reason_name(error->reason) << "): " << error->message;
    return {};
  }
  return std::get<QueryData>(outcome);
}

QueryError expect_error(const QueryOutcome& outcome) {
  if (std::holds_alternative<QueryData>(outcome)) {
    ADD_FAILURE() << "expected an error, got data";
    return {};
  }
  return std::get<QueryError>(outcome);
}

std::string vector_body(const std::string& result) {
  return R"({"status":"success","data":{"resultType":"vector","result":)" + result + "}}";
}

TEST(ParseQueryResponse, VectorWithSeveralSamplesAndLabels) {
  auto data = expect_data(parse_query_response(200, vector_body(R"([
    {"metric":{"__name__":"up","job":"api","instance":"a:9100"},"value":[1700000000.5,"1"]},
    {"metric":{"job":"api","instance":"b:9100"},"value":[1700000000.5,"0.25"]},
    {"metric":{},"value":[1700000001,"-1.5e-3"]}
  ])")));
  EXPECT_EQ(data.type, ResultType::kVector);
  ASSERT_EQ(data.samples.size(), 3u);
  EXPECT_EQ(data.samples[0].labels.at("__name__"), "up");
  EXPECT_EQ(data.samples[0].labels.at("instance"), "a:9100");
  EXPECT_DOUBLE_EQ(data.samples[0].timestamp, 1700000000.5);
  EXPECT_DOUBLE_EQ(data.samples[0].value, 1);
  EXPECT_EQ(data.samples[1].labels.size(), 2u);
  EXPECT_DOUBLE_EQ(data.samples[1].value, 0.25);
  EXPECT_TRUE(data.samples[2].labels.empty());
  EXPECT_DOUBLE_EQ(data.samples[2].value, -0.0015);
  EXPECT_TRUE(data.warnings.empty());
}

TEST(ParseQueryResponse, Scalar) {
  auto data = expect_data(
      parse_query_response(200, R"({"status":"success","data":{"resultType":"scalar","result":[1700000000,"42"]}})"));
  EXPECT_EQ(data.type, ResultType::kScalar);
  ASSERT_EQ(data.samples.size(), 1u);
  EXPECT_TRUE(data.samples[0].labels.empty());
  EXPECT_DOUBLE_EQ(data.samples[0].value, 42);
  EXPECT_DOUBLE_EQ(data.samples[0].timestamp, 1700000000);
}

TEST(ParseQueryResponse, SpecialValues) {
  auto data = expect_data(parse_query_response(200, vector_body(R"([
    {"metric":{"k":"nan"},"value":[1,"NaN"]},
    {"metric":{"k":"pinf"},"value":[1,"+Inf"]},
    {"metric":{"k":"ninf"},"value":[1,"-Inf"]}
  ])")));
  ASSERT_EQ(data.samples.size(), 3u);
  EXPECT_TRUE(std::isnan(data.samples[0].value));
  EXPECT_TRUE(std::isinf(data.samples[1].value) && data.samples[1].value > 0);
  EXPECT_TRUE(std::isinf(data.samples[2].value) && data.samples[2].value < 0);
}

TEST(ParseQueryResponse, EmptyVector) {
  auto data = expect_data(parse_query_response(200, vector_body("[]")));
  EXPECT_EQ(data.type, ResultType::kVector);
  EXPECT_TRUE(data.samples.empty());
}

TEST(ParseQueryResponse, WarningsAreKeptVerbatim) {
  auto data = expect_data(
      parse_query_response(200, R"({"status":"success","warnings":["partial response: store b down","x \"quoted\""],
               "data":{"resultType":"vector","result":[]}})"));
  ASSERT_EQ(data.warnings.size(), 2u);
  EXPECT_EQ(data.warnings[0], "partial response: store b down");
  EXPECT_EQ(data.warnings[1], "x \"quoted\"");
}

TEST(ParseQueryResponse, PrometheusErrorBodyIsSurfacedVerbatim) {
  for (long status : {400L, 422L, 503L}) {
    auto error = expect_error(parse_query_response(
        status, R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"})"));
    EXPECT_EQ(error.reason, ErrorReason::kPrometheus);
    EXPECT_EQ(error.error_type, "bad_data");
    EXPECT_EQ(error.message, "1:5: parse error: unclosed left parenthesis");
    EXPECT_EQ(error.http_status, status);
  }
}

TEST(ParseQueryResponse, NonSuccessStatusWithoutPrometheusBodyIsHttp) {
  auto error = expect_error(parse_query_response(502, "<html>Bad Gateway</html>"));
  EXPECT_EQ(error.reason, ErrorReason::kHttp);
  EXPECT_EQ(error.http_status, 502);
  EXPECT_NE(error.message.find("502"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("Bad Gateway"), std::string::npos) << error.message;

  // JSON, but not a Prometheus error body.
  error = expect_error(parse_query_response(401, R"({"message":"unauthorized"})"));
  EXPECT_EQ(error.reason, ErrorReason::kHttp);
  EXPECT_EQ(error.http_status, 401);

  error = expect_error(parse_query_response(500, ""));
  EXPECT_EQ(error.reason, ErrorReason::kHttp);
}

TEST(ParseQueryResponse, HttpErrorMessageIsShortAndSingleLine) {
  std::string body(10'000, 'x');
  body[5] = '\n';
  auto error = expect_error(parse_query_response(500, body));
  EXPECT_LT(error.message.size(), 400u);
  EXPECT_EQ(error.message.find('\n'), std::string::npos);
}

TEST(ParseQueryResponse, MatrixAndStringAreUnsupported) {
  auto error = expect_error(parse_query_response(
      200, R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}})"));
  EXPECT_EQ(error.reason, ErrorReason::kUnsupported);
  EXPECT_NE(error.message.find("matrix"), std::string::npos) << error.message;

  error = expect_error(
      parse_query_response(200, R"({"status":"success","data":{"resultType":"string","result":[1,"x"]}})"));
  EXPECT_EQ(error.reason, ErrorReason::kUnsupported);
}

TEST(ParseQueryResponse, NativeHistogramSampleIsUnsupported) {
  auto error = expect_error(
      parse_query_response(200, vector_body(R"([{"metric":{},"histogram":[1,{"count":"1","sum":"1"}]}])")));
  EXPECT_EQ(error.reason, ErrorReason::kUnsupported);
  EXPECT_NE(error.message.find("data.result[0]"), std::string::npos) << error.message;
}

struct MalformedCase {
  const char* name;
  std::string body;
  const char* message_mentions;
};

void PrintTo(const MalformedCase& c, std::ostream* os) { *os << c.name; }

class ParseQueryResponseMalformed : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(ParseQueryResponseMalformed, IsParseErrorNamingTheProblem) {
  auto error = expect_error(parse_query_response(200, GetParam().body));
  EXPECT_EQ(error.reason, ErrorReason::kParse) << error.message;
  EXPECT_NE(error.message.find(GetParam().message_mentions), std::string::npos)
      << "message: " << error.message << "\nexpected to mention: " << GetParam().message_mentions;
  EXPECT_EQ(error.http_status, 200);
}

const std::string kGood = R"({"metric":{},"value":[1,"1"]})";

INSTANTIATE_TEST_SUITE_P(
    Table, ParseQueryResponseMalformed,
    ::testing::Values(
        MalformedCase{"Empty", "", "empty"}, MalformedCase{"NotJson", "<html>hello</html>", "not valid JSON"},
        MalformedCase{"TruncatedJson", R"({"status":"success","data":{"resultType":"vec)", "not valid JSON"},
        MalformedCase{"TopLevelArray", "[1,2]", "expected a JSON object"},
        MalformedCase{"MissingStatus", R"({"data":{}})", "status: missing"},
        MalformedCase{"UnknownStatus", R"({"status":"meh","data":{}})", "status:"},
        MalformedCase{"ErrorWithoutFields", R"({"status":"error"})", "status:"},
        MalformedCase{"MissingData", R"({"status":"success"})", "data: missing"},
        MalformedCase{"DataNotObject", R"({"status":"success","data":[]})", "data: expected an object"},
        MalformedCase{"MissingResultType", R"({"status":"success","data":{"result":[]}})", "data.resultType: missing"},
        MalformedCase{"ResultTypeNotString", R"({"status":"success","data":{"resultType":1,"result":[]}})",
                      "data.resultType: expected a string"},
        MalformedCase{"UnknownResultType", R"({"status":"success","data":{"resultType":"tensor","result":[]}})",
                      "unknown result type"},
        MalformedCase{"MissingResult", R"({"status":"success","data":{"resultType":"vector"}})",
                      "data.result: missing"},
        MalformedCase{"VectorResultNotArray", vector_body("{}"), "data.result: expected an array"},
        MalformedCase{"ElementNotObject", vector_body("[" + kGood + ",3]"), "data.result[1]: expected an object"},
        MalformedCase{"MissingValue", vector_body(R"([{"metric":{}}])"), "data.result[0].value: missing"},
        MalformedCase{"MissingMetric", vector_body(R"([{"value":[1,"1"]}])"), "data.result[0].metric: missing"},
        MalformedCase{"MetricNotObject", vector_body(R"([{"metric":[],"value":[1,"1"]}])"),
                      "data.result[0].metric: expected an object"},
        MalformedCase{"LabelValueNotString", vector_body(R"([{"metric":{"job":5},"value":[1,"1"]}])"),
                      "data.result[0].metric.job: label value is not a string"},
        MalformedCase{"ValueNotArray", vector_body(R"([{"metric":{},"value":"1"}])"),
                      "data.result[0].value: expected [timestamp, \"value\"]"},
        MalformedCase{"ValueOneElement", vector_body(R"([{"metric":{},"value":[1]}])"),
                      "data.result[0].value: expected"},
        MalformedCase{"ValueThreeElements", vector_body(R"([{"metric":{},"value":[1,"1","2"]}])"),
                      "data.result[0].value: expected"},
        MalformedCase{"TimestampNotNumber", vector_body(R"([{"metric":{},"value":["1","1"]}])"),
                      "data.result[0].value[0]: timestamp is not a number"},
        MalformedCase{"ValueNotString", vector_body(R"([{"metric":{},"value":[1,1]}])"),
                      "data.result[0].value[1]: value is not a string"},
        MalformedCase{"ValueNotANumber",
                      vector_body("[" + kGood + "," + kGood + R"(,{"metric":{},"value":[1,"abc"]}])"),
                      "data.result[2].value[1]: \"abc\" is not a number"},
        MalformedCase{"ValueEmptyString", vector_body(R"([{"metric":{},"value":[1,""]}])"), "\"\" is not a number"},
        MalformedCase{"ValueTrailingGarbage", vector_body(R"([{"metric":{},"value":[1,"1.5x"]}])"),
                      "\"1.5x\" is not a number"},
        MalformedCase{"ValueLowercaseNan", vector_body(R"([{"metric":{},"value":[1,"nan"]}])"),
                      "\"nan\" is not a number"},
        MalformedCase{"ValueWhitespace", vector_body(R"([{"metric":{},"value":[1," 1"]}])"), "is not a number"},
        MalformedCase{"ValueDoubleSign", vector_body(R"([{"metric":{},"value":[1,"+-1"]}])"), "is not a number"},
        MalformedCase{"ScalarNotPair", R"({"status":"success","data":{"resultType":"scalar","result":[]}})",
                      "data.result: expected [timestamp, \"value\"]"},
        MalformedCase{"ScalarBadNumber", R"({"status":"success","data":{"resultType":"scalar","result":[1,"x"]}})",
                      "data.result[1]: \"x\" is not a number"},
        MalformedCase{"WarningsNotArray",
                      R"({"status":"success","warnings":"w","data":{"resultType":"vector","result":[]}})",
                      "warnings: expected an array"},
        MalformedCase{"WarningNotString",
                      R"({"status":"success","warnings":["a",1],"data":{"resultType":"vector","result":[]}})",
                      "warnings[1]: expected a string"},
        MalformedCase{"InvalidUtf8", "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[\xff]}}",
                      "not valid JSON"},
        MalformedCase{"DeeplyNested", std::string(5000, '[') + std::string(5000, ']'), "expected a JSON object"}),
    [](const ::testing::TestParamInfo<MalformedCase>& param_info) { return std::string(param_info.param.name); });

TEST(ParseQueryResponse, HugeNumbersAreValues) {
  auto data = expect_data(parse_query_response(200, vector_body(R"([{"metric":{},"value":[1,"1e308"]}])")));
  EXPECT_DOUBLE_EQ(data.samples.at(0).value, 1e308);
  // Out of double range: a number Prometheus cannot have produced; rejected, not clamped.
  auto error = expect_error(parse_query_response(200, vector_body(R"([{"metric":{},"value":[1,"1e999"]}])")));
  EXPECT_EQ(error.reason, ErrorReason::kParse);
}

TEST(ParseQueryResponse, ErrorReasonNames) {
  EXPECT_STREQ(error_reason_name(ErrorReason::kTimeout), "timeout");
  EXPECT_STREQ(error_reason_name(ErrorReason::kConnect), "connect");
  EXPECT_STREQ(error_reason_name(ErrorReason::kHttp), "http");
  EXPECT_STREQ(error_reason_name(ErrorReason::kPrometheus), "prometheus");
  EXPECT_STREQ(error_reason_name(ErrorReason::kParse), "parse");
  EXPECT_STREQ(error_reason_name(ErrorReason::kOversize), "oversize");
  EXPECT_STREQ(error_reason_name(ErrorReason::kUnsupported), "unsupported");
  EXPECT_STREQ(error_reason_name(ErrorReason::kAuth), "auth");
  EXPECT_STREQ(error_reason_name(ErrorReason::kTransport), "transport");
}

}  // namespace
}  // namespace rs::promql
