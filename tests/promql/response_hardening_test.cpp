// Response parser fixes found with other projects' bodies (docs/input-formats.md) and the fuzzer.
#include <gtest/gtest.h>

#include <variant>

#include "promql/response.h"

namespace rs::promql {
namespace {

QueryError error_of(long status, const std::string& body) {
  auto outcome = parse_query_response(status, body);
  EXPECT_TRUE(std::holds_alternative<QueryError>(outcome)) << body;
  return std::holds_alternative<QueryError>(outcome) ? std::get<QueryError>(outcome) : QueryError{};
}

QueryData data_of(const std::string& body) {
  auto outcome = parse_query_response(200, body);
  if (auto* e = std::get_if<QueryError>(&outcome)) ADD_FAILURE() << e->message;
  return std::holds_alternative<QueryData>(outcome) ? std::get<QueryData>(outcome) : QueryData{};
}

// pint's "API error without message": it is Prometheus's error, not an unparseable body.
TEST(ResponseHardening, ErrorWithoutMessageIsAPrometheusError) {
  auto e = error_of(200, R"({"status":"error","errorType":"bad_data"})");
  EXPECT_EQ(e.reason, ErrorReason::kPrometheus);
  EXPECT_EQ(e.error_type, "bad_data");
  EXPECT_EQ(e.message, "(no error message)");
  EXPECT_EQ(e.http_status, 200);
  EXPECT_FALSE(is_transient(e));
  EXPECT_EQ(error_type_label(e), "bad_data");
}

TEST(ResponseHardening, ErrorWithoutErrorTypeOrWithOddTypesIsStillPrometheus) {
  auto e = error_of(500, R"({"status":"error","error":"boom"})");
  EXPECT_EQ(e.reason, ErrorReason::kPrometheus);
  EXPECT_EQ(e.error_type, "");
  EXPECT_EQ(error_type_label(e), "");
  EXPECT_TRUE(is_transient(e));  // a 500 may heal
  e = error_of(422, R"({"status":"error","errorType":"execution","error":["x"]})");
  EXPECT_EQ(e.reason, ErrorReason::kPrometheus);
  EXPECT_NE(e.message.find("error is not a string"), std::string::npos) << e.message;
  e = error_of(422, R"({"status":"error","errorType":7,"error":"x"})");
  EXPECT_EQ(e.reason, ErrorReason::kPrometheus);
  EXPECT_NE(e.message.find("errorType is not a string"), std::string::npos) << e.message;
  e = error_of(422, R"({"status":"error","errorType":7,"error":["x"]})");  // nothing usable
  EXPECT_EQ(e.reason, ErrorReason::kParse);
}

// Prometheus's respondError may send data next to the error; the error wins, data is not read.
TEST(ResponseHardening, ErrorBodyWithDataIsAnError) {
  auto e = error_of(503, R"({"status":"error","errorType":"timeout","error":"query timed out",)"
                         R"("data":{"resultType":"vector","result":[]}})");
  EXPECT_EQ(e.reason, ErrorReason::kPrometheus);
  EXPECT_EQ(e.error_type, "timeout");
  EXPECT_EQ(e.http_status, 503);
  EXPECT_TRUE(is_transient(e));
}

TEST(ResponseHardening, ErrorTypeLabelIsBounded) {
  QueryError e{ErrorReason::kPrometheus, "m", 500, "server_error"};
  EXPECT_EQ(error_type_label(e), "other");
  e.error_type = "type:";
  EXPECT_EQ(error_type_label(e), "other");
  for (const char* known :
       {"timeout", "canceled", "execution", "bad_data", "internal", "unavailable", "not_found", "not_acceptable"}) {
    e.error_type = known;
    EXPECT_EQ(error_type_label(e), known);
  }
}

TEST(ResponseHardening, TransientOrNot) {
  EXPECT_FALSE(is_transient({ErrorReason::kPrometheus, "", 400, "bad_data"}));
  EXPECT_FALSE(is_transient({ErrorReason::kPrometheus, "", 503, "bad_data"}));  // the type decides
  EXPECT_FALSE(is_transient({ErrorReason::kPrometheus, "", 422, "execution"}));
  EXPECT_TRUE(is_transient({ErrorReason::kPrometheus, "", 503, "timeout"}));
  EXPECT_TRUE(is_transient({ErrorReason::kPrometheus, "", 499, "canceled"}));
  EXPECT_TRUE(is_transient({ErrorReason::kTimeout, "", 0, ""}));
  EXPECT_TRUE(is_transient({ErrorReason::kHttp, "", 502, ""}));
  EXPECT_FALSE(is_transient({ErrorReason::kHttp, "", 404, ""}));
  EXPECT_FALSE(is_transient({ErrorReason::kParse, "", 200, ""}));
  EXPECT_FALSE(is_transient({ErrorReason::kUnsupported, "", 200, ""}));
}

// VictoriaMetrics cluster: isPartial true is flagged, never silently taken as complete.
TEST(ResponseHardening, PartialAnswersAreFlagged) {
  auto d = data_of(R"({"status":"success","isPartial":true,"data":{"resultType":"scalar","result":[1,"2"]}})");
  EXPECT_TRUE(d.partial);
  d = data_of(R"({"status":"success","isPartial":false,"data":{"resultType":"vector","result":[]}})");
  EXPECT_FALSE(d.partial);
  d = data_of(R"({"status":"success","data":{"resultType":"vector","result":[]}})");
  EXPECT_FALSE(d.partial);
  auto e = error_of(200, R"({"status":"success","isPartial":"yes","data":{"resultType":"vector","result":[]}})");
  EXPECT_EQ(e.reason, ErrorReason::kParse);
  EXPECT_NE(e.message.find("isPartial"), std::string::npos);
}

TEST(ResponseHardening, InfosAreKeptLikeWarnings) {
  auto d = data_of(R"({"status":"success","infos":["PromQL info: metric might not be a counter"],)"
                   R"("warnings":["w"],"data":{"resultType":"vector","result":[]}})");
  ASSERT_EQ(d.infos.size(), 1u);
  EXPECT_EQ(d.infos[0], "PromQL info: metric might not be a counter");
  EXPECT_EQ(d.warnings.size(), 1u);
  auto e = error_of(200, R"({"status":"success","infos":[1],"data":{"resultType":"vector","result":[]}})");
  EXPECT_NE(e.message.find("infos[0]"), std::string::npos) << e.message;
}

// An error message quotes at most a short, shallow rendering of the offending value: 200 000
// nested arrays must not recurse 200 000 times (stack overflow) to describe it.
TEST(ResponseHardening, DeeplyNestedValuesAreDescribedShallowly) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  for (const std::string& body :
       {R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":)" + deep + "}]}}",
        R"({"status":"success","data":{"resultType":"scalar","result":)" + deep + "}}",
        R"({"status":"success","warnings":[)" + deep + R"(],"data":{"resultType":"vector","result":[]}})",
        R"({"status":"success","data":{"resultType":)" + deep + "}}"}) {
    auto e = error_of(200, body);
    EXPECT_EQ(e.reason, ErrorReason::kParse);
    EXPECT_LT(e.message.size(), 400u);
  }
  auto e = error_of(500, deep);
  EXPECT_EQ(e.reason, ErrorReason::kHttp);
  EXPECT_LT(e.message.size(), 400u);
}

}  // namespace
}  // namespace rs::promql
