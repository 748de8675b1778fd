// Client::query_all and query_range_all send identical queries of one batch once (contract in
// promql/client.h): rules that share a baseline, a min_samples or an slo window cost Prometheus
// one query per tick, and every position still gets its answer and its elapsed time.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "promql/client.h"
#include "tests/fakes/prometheus.h"

namespace rs::promql {
namespace {

TEST(ClientDedupe, IdenticalInstantQueriesAreSentOnceAndEveryPositionGetsTheAnswer) {
  auto prometheus = std::make_shared<fakes::CountingPrometheus>(0.25);
  Client client(ClientOptions{}, prometheus);
  std::vector<double> elapsed;
  const auto outcomes = client.query_all({"a", "base", "b", "base", "a", "base"}, 1700000000.0, &elapsed);
  ASSERT_EQ(outcomes.size(), 6u);
  ASSERT_EQ(elapsed.size(), 6u);
  for (const auto& outcome : outcomes) {
    const auto* data = std::get_if<QueryData>(&outcome);
    ASSERT_NE(data, nullptr);
    ASSERT_EQ(data->samples.size(), 1u);
    EXPECT_EQ(data->samples[0].value, 0.25);
  }
  EXPECT_EQ(prometheus->queries(), (std::vector<std::string>{"a", "base", "b"})) << "first appearance order, once each";
  EXPECT_EQ(elapsed[1], elapsed[3]) << "a shared query's time is every position's time";
  EXPECT_EQ(elapsed[1], elapsed[5]);
}

TEST(ClientDedupe, NextBatchAsksAgainAndDistinctTextIsNotMerged) {
  auto prometheus = std::make_shared<fakes::CountingPrometheus>();
  Client client(ClientOptions{}, prometheus);
  client.query_all({"x", "x"}, 1700000000.0);
  client.query_all({"x", "x "}, 1700000001.0);  // not the same text: Prometheus is asked for both
  EXPECT_EQ(prometheus->counts()["x"], 2) << "once per batch, not cached across batches";
  EXPECT_EQ(prometheus->counts()["x "], 1);
}

TEST(ClientDedupe, IdenticalRangeQueriesAreSentOnce) {
  auto prometheus = std::make_shared<fakes::CountingPrometheus>(3);
  Client client(ClientOptions{}, prometheus);
  const auto outcomes = client.query_range_all({"q", "r", "q"}, 1700000000, 1700000030, 15);
  ASSERT_EQ(outcomes.size(), 3u);
  for (const auto& outcome : outcomes) {
    const auto* data = std::get_if<RangeData>(&outcome);
    ASSERT_NE(data, nullptr);
    ASSERT_EQ(data->series.size(), 1u);
    EXPECT_EQ(data->series[0].points.size(), 3u);
  }
  EXPECT_EQ(prometheus->queries(), (std::vector<std::string>{"q", "r"}));
}

// An error is every position's error (each is counted per rule by the engine).
TEST(ClientDedupe, ASharedQuerysErrorReachesEveryPosition) {
  Client client(ClientOptions{}, nullptr);  // no transport: every query fails
  const auto outcomes = client.query_all({"x", "x"});
  ASSERT_EQ(outcomes.size(), 2u);
  for (const auto& outcome : outcomes) EXPECT_TRUE(std::holds_alternative<QueryError>(outcome));
}

}  // namespace
}  // namespace rs::promql
