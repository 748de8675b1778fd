// Every Prometheus-API body and every Alertmanager webhook body other projects wrote (see
// ../shared/real-world/README.md and the manifests) goes through the sidecar's parsers: each is
// parsed or refused with an error naming what is wrong, none crashes, none is misread. The
// expectations are per file, so a new file in the collection fails here until it is classified;
// accepted answers are also checked against an independent reading of the same JSON.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <set>
#include <variant>

#include <nlohmann/json.hpp>

#include "promql/response.h"
#include "sidecar/api/alert_intake.h"
#include "tests/realworld/realworld_support.h"

namespace rs::realworld {
namespace {

using promql::ErrorReason;
using promql::QueryData;
using promql::QueryError;
using promql::ResultType;

enum class Kind { kVector, kScalar, kPrometheus, kUnsupported, kParse };

struct Expect {
  Kind kind;
  std::string detail{};    // kPrometheus: errorType; kParse/kUnsupported: a word the message must name
  bool transient = false;  // kPrometheus
  bool partial = false;    // kVector/kScalar: isPartial
};

const std::map<std::string, Expect>& expectations() {
  static const std::map<std::string, Expect> table = {
      {"DERIVED-prom-error-canceled.json", {Kind::kPrometheus, "canceled", true}},
      {"DERIVED-prom-error-unavailable.json", {Kind::kPrometheus, "unavailable", true}},
      {"cortex-empty-vector-with-stats.json", {Kind::kVector}},
      {"cortex-error-bad_data-max-resolution.json", {Kind::kPrometheus, "bad_data", false}},
      {"cortex-error-server_error-nonstandard-type.json", {Kind::kPrometheus, "server_error", true}},
      {"cortex-infos-before-data.json", {Kind::kVector}},
      {"cortex-matrix-infos-promql-info-annotation.json", {Kind::kUnsupported, "matrix"}},
      {"cortex-string-result-with-stats.json", {Kind::kUnsupported, "string"}},
      {"cortex-string-result.json", {Kind::kUnsupported, "string"}},
      {"cortex-vector-nan-pretty.json", {Kind::kVector}},
      {"cortex-vector-native-histogram-full.json", {Kind::kUnsupported, "histogram"}},
      {"cortex-warnings-before-data.json", {Kind::kVector}},
      {"flagger-matrix-nan-values.json", {Kind::kUnsupported, "matrix"}},
      {"flagger-vector-empty.json", {Kind::kVector}},
      {"flagger-vector-nan.json", {Kind::kVector}},
      {"grafana-prom-error-bad_data.json", {Kind::kPrometheus, "bad_data", false}},
      {"grafana-prom-infos-no-data.json", {Kind::kVector}},
      {"grafana-prom-infos-vector-inf-nan.json", {Kind::kVector}},
      {"grafana-prom-matrix-with-nans.json", {Kind::kUnsupported, "matrix"}},
      {"grafana-prom-scalar.json", {Kind::kScalar}},
      {"grafana-prom-warnings-no-data.json", {Kind::kVector}},
      {"grafana-prom-warnings-vector-inf-nan.json", {Kind::kVector}},
      {"pint-error-bad_data-http200.json", {Kind::kPrometheus, "bad_data", false}},
      {"pint-error-bad_data-no-message.json", {Kind::kPrometheus, "bad_data", false}},
      {"pint-error-execution-too-many-samples.json", {Kind::kPrometheus, "execution", false}},
      {"pint-error-timeout.json", {Kind::kPrometheus, "timeout", true}},
      {"pint-malformed-metric-array.json", {Kind::kParse, "metric"}},
      {"pint-malformed-nonnumeric-timestamp.json", {Kind::kParse, "timestamp"}},
      {"pint-malformed-value-extra-element.json", {Kind::kParse, "value"}},
      {"pint-unexpected-matrix-empty.json", {Kind::kUnsupported, "matrix"}},
      {"pint-vector-stats-timings.json", {Kind::kVector}},
      {"pint-vector-three-fractional-ts.json", {Kind::kVector}},
      {"prom-codec-matrix-native-histograms-negative-buckets.json", {Kind::kUnsupported, "matrix"}},
      {"prom-docs-instant-vector-up.json", {Kind::kVector}},
      {"prom-openapi-error-internal-tsdb-not-ready.json", {Kind::kPrometheus, "internal", true}},
      {"prom-openapi-instant-matrix-range-selector.json", {Kind::kUnsupported, "matrix"}},
      {"prom-openapi-scalar.json", {Kind::kScalar}},
      {"prom-openapi-vector-native-histogram.json", {Kind::kUnsupported, "histogram"}},
      {"prom-openapi-vector-up.json", {Kind::kVector}},
      {"prom-respond-error-timeout-with-data.json", {Kind::kPrometheus, "timeout", true}},
      {"thanos-matrix-native-histograms.json", {Kind::kUnsupported, "matrix"}},
      {"thanos-matrix-stats-analysis-null.json", {Kind::kUnsupported, "matrix"}},
      {"thanos-matrix-stats-analysis-object.json", {Kind::kUnsupported, "matrix"}},
      {"thanos-matrix-warnings-analysis-null.json", {Kind::kUnsupported, "matrix"}},
      {"vm-cluster-docs-isPartial-false-stats.json", {Kind::kVector, "", false, false}},
      {"vm-vmalert-error-odd-errorType.json", {Kind::kPrometheus, "type:", false}},  // unknown type, HTTP 200
      {"vm-vmalert-isPartial-true.json", {Kind::kScalar, "", false, true}},
      {"vm-vmalert-scalar-stats-seriesFetched-string.json", {Kind::kScalar}},
      {"vm-vmalert-vector-missing-result.json", {Kind::kParse, "data.result"}},
      {"vm-vmalert-vector-with-scalar-shaped-result.json", {Kind::kParse, "data.result[0]"}},
  };
  return table;
}

// The manifest's http_status column: "400", "200 (mock default)", "400 (not recorded in fixture)".
long manifest_status(const std::string& cell) {
  long status = std::strtol(cell.c_str(), nullptr, 10);
  return status > 0 ? status : 200;
}

// An independent reading of a sample value string (Prometheus's FormatFloat output).
double independent_value(const std::string& text) {
  if (text == "NaN") return std::nan("");
  if (text == "+Inf" || text == "Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  return std::strtod(text.c_str(), nullptr);
}

bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

std::string promql_dir() { return root() + "/promql-responses"; }

class PrometheusBodies : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!exists(promql_dir() + "/manifest.tsv")) GTEST_SKIP() << "no real-world collection at " << root();
  }
};

TEST_F(PrometheusBodies, EveryFileIsClassifiedAndInTheManifest) {
  std::set<std::string> in_manifest;
  for (const auto& row : read_tsv(promql_dir() + "/manifest.tsv")) in_manifest.insert(row.at("file"));
  const auto names = files(promql_dir(), ".json");
  EXPECT_GE(names.size(), 50u);
  for (const auto& name : names) {
    EXPECT_TRUE(expectations().count(name)) << name << " is new: add it to expectations()";
    EXPECT_TRUE(in_manifest.count(name)) << name << " is not in manifest.tsv";
  }
}

TEST_F(PrometheusBodies, EachIsParsedOrRefusedAsExpected) {
  int checked = 0;
  for (const auto& row : read_tsv(promql_dir() + "/manifest.tsv")) {
    const std::string& name = row.at("file");
    SCOPED_TRACE(name);
    auto expect = expectations().find(name);
    if (expect == expectations().end()) continue;  // reported by the test above
    const std::string body = slurp(promql_dir() + "/" + name);
    const long status = manifest_status(row.at("http_status"));
    const auto outcome = promql::parse_query_response(status, body);
    const Expect& e = expect->second;
    ++checked;
    if (e.kind == Kind::kVector || e.kind == Kind::kScalar) {
      ASSERT_TRUE(std::holds_alternative<QueryData>(outcome)) << std::get<QueryError>(outcome).message;
      const auto& data = std::get<QueryData>(outcome);
      const auto j = nlohmann::json::parse(body);
      EXPECT_EQ(data.partial, e.partial);
      EXPECT_EQ(data.warnings.size(), j.contains("warnings") ? j["warnings"].size() : 0u);
      EXPECT_EQ(data.infos.size(), j.contains("infos") ? j["infos"].size() : 0u);
      const auto& result = j["data"]["result"];
      if (e.kind == Kind::kScalar) {
        EXPECT_EQ(data.type, ResultType::kScalar);
        ASSERT_EQ(data.samples.size(), 1u);
        EXPECT_TRUE(same_value(data.samples[0].value, independent_value(result[1].get<std::string>())));
        EXPECT_EQ(data.samples[0].timestamp, result[0].get<double>());
        continue;
      }
      EXPECT_EQ(data.type, ResultType::kVector);
      ASSERT_EQ(data.samples.size(), result.size());
      for (std::size_t i = 0; i < result.size(); ++i) {
        EXPECT_TRUE(same_value(data.samples[i].value, independent_value(result[i]["value"][1].get<std::string>())))
            << i;
        EXPECT_EQ(data.samples[i].timestamp, result[i]["value"][0].get<double>()) << i;
        EXPECT_EQ(nlohmann::json(data.samples[i].labels), result[i]["metric"]) << i;
      }
      continue;
    }
    ASSERT_TRUE(std::holds_alternative<QueryError>(outcome)) << "accepted a body that must be refused";
    const auto& error = std::get<QueryError>(outcome);
    EXPECT_FALSE(error.message.empty());
    EXPECT_EQ(error.http_status, status);
    switch (e.kind) {
      case Kind::kPrometheus:
        EXPECT_EQ(error.reason, ErrorReason::kPrometheus) << error.message;
        EXPECT_EQ(error.error_type, e.detail);
        EXPECT_EQ(promql::is_transient(error), e.transient);
        break;
      case Kind::kUnsupported:
        EXPECT_EQ(error.reason, ErrorReason::kUnsupported) << error.message;
        EXPECT_NE(error.message.find(e.detail), std::string::npos) << error.message;
        break;
      case Kind::kParse:
        EXPECT_EQ(error.reason, ErrorReason::kParse) << error.message;
        EXPECT_NE(error.message.find(e.detail), std::string::npos) << error.message;
        EXPECT_FALSE(promql::is_transient(error));
        break;
      default: break;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(expectations().size()));
}

// The same bodies under every status Prometheus uses: nothing crashes, a non-2xx answer is never
// data, and a Prometheus error body keeps its errorType whatever the status.
TEST_F(PrometheusBodies, NoBodyIsDataUnderAnErrorStatus) {
  for (const auto& name : files(promql_dir(), ".json")) {
    SCOPED_TRACE(name);
    const std::string body = slurp(promql_dir() + "/" + name);
    for (long status : {200L, 400L, 422L, 499L, 500L, 503L}) {
      const auto outcome = promql::parse_query_response(status, body);
      if (status != 200) {
        EXPECT_TRUE(std::holds_alternative<QueryError>(outcome)) << status;
      }
    }
  }
}

// --- Alertmanager webhooks -------------------------------------------------------------------

struct WebhookExpect {
  bool accepted;
  std::string error_names;  // refused: what the error must quote
  long long truncated = 0;  // accepted
};

const std::map<std::string, WebhookExpect>& webhook_expectations() {
  static const std::map<std::string, WebhookExpect> table = {
      {"DERIVED-alertmanager-v0.34-shape.json", {true, "", 2}},
      {"alerta-v3-groupKey-number.json", {false, "got the string \"3\""}},
      {"alerta-v4-heartbeat-truncatedAlerts.json", {true, "", 0}},
      {"alerta-v4-old-groupKey-unquoted.json", {true, "", 0}},
      {"alertmonitor-swarm-firing.json", {true, "", 0}},
      {"alertmonitor-swarm-resolved.json", {true, "", 0}},
      {"am-executor-alert_payload.json", {false, "version is missing"}},
      {"chopsticks-grafana-version1.json", {false, "Grafana"}},
      {"chopsticks-truncated-123-resolved-in-firing-group.json", {true, "", 123}},
      {"dingtalk-playground-demo-v3.json", {false, "got the string \"3\""}},
      {"keep-grafana12-webhook-version1.json", {false, "Grafana"}},
      {"kubesphere-alert2-no-version.json", {false, "version is missing"}},
      {"kubesphere-alert3-8-alerts.json", {false, "version is missing"}},
      {"kubesphere-alerts-without-namespace.json", {false, "version is missing"}},
      {"msteams-prom_post_request.json", {false, "alerts[0].status"}},
      {"oncall-example_payload.json", {true, "", 0}},
      {"oncall-legacy-test-3-alerts.json", {true, "", 0}},
      {"prometheus_bot-noGenURL-resolved.json", {false, "got number 0"}},
      {"prometheus_bot-production_example.json", {false, "got number 0"}},
      {"prometheus_bot-simpe-groupKey-overflow.json", {false, "got the string \"3\""}},
  };
  return table;
}

std::string webhook_dir() { return root() + "/alertmanager-webhooks"; }

TEST(AlertmanagerWebhooks, EachIsParsedOrRefusedAsExpected) {
  if (!exists(webhook_dir() + "/manifest.tsv")) GTEST_SKIP() << "no real-world collection at " << root();
  const auto names = files(webhook_dir(), ".json");
  EXPECT_GE(names.size(), 20u);
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    auto expect = webhook_expectations().find(name);
    ASSERT_NE(expect, webhook_expectations().end()) << name << " is new: add it to webhook_expectations()";
    const std::string body = slurp(webhook_dir() + "/" + name);
    std::vector<sidecar::ReceivedAlert> alerts;
    std::string error;
    sidecar::WebhookInfo info;
    const bool ok = sidecar::parse_alertmanager_webhook(body, &alerts, &error, &info);
    if (!expect->second.accepted) {
      EXPECT_FALSE(ok);
      EXPECT_NE(error.find(expect->second.error_names), std::string::npos) << error;
      continue;
    }
    ASSERT_TRUE(ok) << error;
    EXPECT_EQ(info.truncated_alerts, expect->second.truncated);
    // Independent reading: every alert, with its labels, status and startsAt as sent.
    const auto j = nlohmann::json::parse(body);
    EXPECT_EQ(info.status, j.value("status", ""));
    EXPECT_EQ(info.receiver, j.value("receiver", ""));
    EXPECT_EQ(info.group_key, j.value("groupKey", ""));
    ASSERT_EQ(alerts.size(), j["alerts"].size());
    for (std::size_t i = 0; i < alerts.size(); ++i) {
      const auto& a = j["alerts"][i];
      EXPECT_EQ(alerts[i].status, a["status"].get<std::string>()) << i;
      EXPECT_EQ(nlohmann::json(alerts[i].labels), a["labels"]) << i;
      EXPECT_EQ(alerts[i].starts_at, a.value("startsAt", "")) << i;
      EXPECT_EQ(alerts[i].fingerprint, a.value("fingerprint", "")) << i;
    }
  }
}

// Go's zero startsAt (chopsticks) counts as "unknown", not as a time in year 1.
TEST(AlertmanagerWebhooks, ZeroStartsAtIsUnknown) {
  const std::string path = webhook_dir() + "/chopsticks-truncated-123-resolved-in-firing-group.json";
  if (!exists(path)) GTEST_SKIP() << "no real-world collection at " << root();
  std::vector<sidecar::ReceivedAlert> alerts;
  std::string error;
  ASSERT_TRUE(sidecar::parse_alertmanager_webhook(slurp(path), &alerts, &error)) << error;
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_FALSE(alerts[0].started.has_value());
  EXPECT_EQ(alerts[0].status, "resolved");  // in a group whose status is firing: read per alert
}

}  // namespace
}  // namespace rs::realworld
