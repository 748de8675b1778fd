// The client against a real Prometheus (Debian's package) scraping an in-process exporter.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>

#include "promql/client.h"
#include "tests/support/harness.h"

namespace rs::promql {
namespace {

using namespace std::chrono_literals;
using rs::testing::FakeHttpServer;
using rs::testing::PrometheusServer;

const std::string kQuery = R"(demo_value{kind="a"})";

class PrometheusIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    exporter_.set_metrics("# TYPE demo_value gauge\ndemo_value{kind=\"a\"} 0.25\ndemo_value{kind=\"b\"} 7\n");
    PrometheusServer::Options options;
    options.targets = {"127.0.0.1:" + std::to_string(exporter_.port())};
    options.job = "demo";
    prometheus_ = std::make_unique<PrometheusServer>(options);
    ASSERT_NO_THROW(prometheus_->start());
    // No wait for the first scrape here: Prometheus takes ~5 s to hand new targets to its
    // scrape loop, and only tests that read scraped data should pay for it.
    ClientOptions client_options;
    client_options.url = prometheus_->url();
    client_options.timeout = 5s;  // generous: a loaded CI box
    client_ = std::make_unique<Client>(client_options, make_curl_transport());
  }

  // Polls until the query returns exactly one sample with `value`; returns the last outcome.
  QueryOutcome wait_for_value(double value, std::chrono::milliseconds timeout = 30s) {
    QueryOutcome last;
    rs::testing::wait_until(
        [&] {
          last = client_->query(kQuery);
          auto* data = std::get_if<QueryData>(&last);
          return data && data->samples.size() == 1 && data->samples[0].value == value;
        },
        timeout, 200ms);
    return last;
  }

  // Last outcome plus the end of Prometheus's log, for failure messages.
  std::string explain(const QueryOutcome& outcome) {
    std::string log = prometheus_->log();
    if (log.size() > 2000) log = log.substr(log.size() - 2000);
    return describe(outcome) + "\nPrometheus log tail:\n" + log;
  }

  static std::string describe(const QueryOutcome& outcome) {
    if (auto* error = std::get_if<QueryError>(&outcome)) {
      return std::string(error_reason_name(error->reason)) + ": " + error->message;
    }
    auto& data = std::get<QueryData>(outcome);
    std::string out = std::to_string(data.samples.size()) + " samples";
    for (auto& sample : data.samples) out += " " + std::to_string(sample.value);
    return out;
  }

  FakeHttpServer exporter_;
  std::unique_ptr<PrometheusServer> prometheus_;
  std::unique_ptr<Client> client_;
};

TEST_F(PrometheusIntegration, ReturnsScrapedValueWithLabelsAndFollowsChanges) {
  auto outcome = wait_for_value(0.25);
  auto* data = std::get_if<QueryData>(&outcome);
  ASSERT_TRUE(data && data->samples.size() == 1 && data->samples[0].value == 0.25) << explain(outcome);
  EXPECT_EQ(data->type, ResultType::kVector);
  const auto& labels = data->samples[0].labels;
  EXPECT_EQ(labels.at("__name__"), "demo_value");
  EXPECT_EQ(labels.at("kind"), "a");
  EXPECT_EQ(labels.at("job"), "demo");
  EXPECT_EQ(labels.at("instance"), "127.0.0.1:" + std::to_string(exporter_.port()));
  EXPECT_GT(data->samples[0].timestamp, 1.6e9);

  exporter_.set_metrics("demo_value{kind=\"a\"} 0.75\ndemo_value{kind=\"b\"} 7\n");
  outcome = wait_for_value(0.75);
  data = std::get_if<QueryData>(&outcome);
  ASSERT_TRUE(data && data->samples.size() == 1 && data->samples[0].value == 0.75) << explain(outcome);
}

TEST_F(PrometheusIntegration, BatchOfMixedQueries) {
  auto scraped = wait_for_value(0.25);
  ASSERT_TRUE(std::holds_alternative<QueryData>(scraped)) << explain(scraped);
  auto outcomes = client_->query_all({kQuery, "sum(demo_value)", "scalar(demo_value{kind=\"b\"})",
                                      "demo_value{kind=\"nope\"}", "demo_value[1m]", "0/0"});
  ASSERT_EQ(outcomes.size(), 6u);
  auto* one = std::get_if<QueryData>(&outcomes[0]);
  ASSERT_TRUE(one) << describe(outcomes[0]);
  EXPECT_EQ(one->samples.at(0).value, 0.25);

  auto* sum = std::get_if<QueryData>(&outcomes[1]);
  ASSERT_TRUE(sum) << describe(outcomes[1]);
  EXPECT_EQ(sum->samples.at(0).value, 7.25);
  EXPECT_TRUE(sum->samples.at(0).labels.empty());

  auto* scalar = std::get_if<QueryData>(&outcomes[2]);
  ASSERT_TRUE(scalar) << describe(outcomes[2]);
  EXPECT_EQ(scalar->type, ResultType::kScalar);
  EXPECT_EQ(scalar->samples.at(0).value, 7);

  auto* empty = std::get_if<QueryData>(&outcomes[3]);
  ASSERT_TRUE(empty) << describe(outcomes[3]);
  EXPECT_TRUE(empty->samples.empty());

  auto* matrix = std::get_if<QueryError>(&outcomes[4]);
  ASSERT_TRUE(matrix) << describe(outcomes[4]);
  EXPECT_EQ(matrix->reason, ErrorReason::kUnsupported);

  auto* nan = std::get_if<QueryData>(&outcomes[5]);
  ASSERT_TRUE(nan) << describe(outcomes[5]);
  EXPECT_TRUE(std::isnan(nan->samples.at(0).value));
}

TEST_F(PrometheusIntegration, SyntaxErrorIsBadData) {
  auto outcome = client_->query("sum(demo_value");
  auto* error = std::get_if<QueryError>(&outcome);
  ASSERT_TRUE(error) << describe(outcome);
  EXPECT_EQ(error->reason, ErrorReason::kPrometheus);
  EXPECT_EQ(error->error_type, "bad_data");
  EXPECT_EQ(error->http_status, 400);
  EXPECT_NE(error->message.find("parse error"), std::string::npos) << error->message;
}

TEST_F(PrometheusIntegration, StoppedIsConnectAndRestartedRecovers) {
  auto scraped = wait_for_value(0.25);
  ASSERT_TRUE(std::holds_alternative<QueryData>(scraped)) << explain(scraped);
  prometheus_->stop();
  auto outcome = client_->query(kQuery);
  auto* error = std::get_if<QueryError>(&outcome);
  ASSERT_TRUE(error) << describe(outcome);
  EXPECT_EQ(error->reason, ErrorReason::kConnect) << error->message;

  ASSERT_NO_THROW(prometheus_->start());  // same port and data dir
  exporter_.set_metrics("demo_value{kind=\"a\"} 0.5\n");
  outcome = wait_for_value(0.5, 30s);
  auto* data = std::get_if<QueryData>(&outcome);
  ASSERT_TRUE(data && data->samples.size() == 1 && data->samples[0].value == 0.5) << explain(outcome);
}

}  // namespace
}  // namespace rs::promql
