// vector_selectors: the series a rule reads, for scrape-aligned evaluation's timestamp() queries.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "promql/selectors.h"

namespace rs::promql {
namespace {

using Selectors = std::vector<std::string>;

TEST(VectorSelectors, ErrorRatioOfTheDefaultPolicy) {
  EXPECT_EQ(
      vector_selectors(R"((sum(rate(http_requests_total{service="checkout",version="v2",code=~"5.."}[1m])) or vector(0))
 / sum(rate(http_requests_total{service="checkout",version="v2"}[1m])))"),
      (Selectors{R"(http_requests_total{service="checkout",version="v2",code=~"5.."})",
                 R"(http_requests_total{service="checkout",version="v2"})"}));
}

TEST(VectorSelectors, HistogramQuantileWithLabelLists) {
  EXPECT_EQ(
      vector_selectors("histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{job=\"a\"}"
                       "[5m]))) > on(job) group_left(team) max without(instance) (up)"),
      (Selectors{"http_request_duration_seconds_bucket{job=\"a\"}", "up"}));
}

TEST(VectorSelectors, BareNamesRangesModifiersAndDuplicates) {
  EXPECT_EQ(vector_selectors("up"), Selectors{"up"});
  EXPECT_EQ(vector_selectors("rate(node_cpu_seconds_total[5m] offset 1h) > bool 0.5"),
            Selectors{"node_cpu_seconds_total"});
  EXPECT_EQ(vector_selectors("up{job=\"x\"} and up{job=\"x\"} unless up @ start()"),
            (Selectors{"up{job=\"x\"}", "up"}));
  EXPECT_EQ(vector_selectors("{__name__=~\"http_.*\", job=\"a\"}"), Selectors{"{__name__=~\"http_.*\", job=\"a\"}"});
}

TEST(VectorSelectors, StringsCommentsNumbersAndSubqueriesAreNotSelectors) {
  EXPECT_EQ(vector_selectors("label_replace(x{a=\"}{\"}, \"dst\", \"$1\", \"src\", \"(.*)\") # y{z=\"1\"}\n"),
            Selectors{"x{a=\"}{\"}"});
  EXPECT_EQ(vector_selectors("max_over_time(rate(errors_total[1m])[10m:30s]) * 1e3 + 0x1f - Inf"),
            Selectors{"errors_total"});
  EXPECT_EQ(vector_selectors("vector(1) + scalar(time())"), Selectors{});
}

TEST(VectorSelectors, UnbalancedInputYieldsNothingWrong) {
  EXPECT_EQ(vector_selectors("rate(x{job=\"a\"[5m]"), Selectors{});
  EXPECT_EQ(vector_selectors("sum(rate(y{job=\"a\"}[5"), Selectors{"y{job=\"a\"}"});
  EXPECT_EQ(vector_selectors(""), Selectors{});
}

}  // namespace
}  // namespace rs::promql
