// ScrapePhase: the scrape interval, phase and lag learned from the newest sample timestamps, and
// the evaluation grid they give (pure arithmetic; the aligner's I/O is in scrape_aligner_test).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sidecar/core/scrape_phase.h"

namespace rs::sidecar {
namespace {

using Series = std::vector<ScrapePhase::SeriesTime>;
constexpr std::int64_t kBase = 1'700'000'000'000;  // a cycle boundary of every interval used here

// One target scraped every `interval` at `phase`: what timestamp() shows at each of `looks`.
ScrapePhase learned(std::int64_t evaluation, std::int64_t interval, std::int64_t phase, int looks = 3) {
  ScrapePhase p(evaluation);
  for (int i = 0; i < looks; ++i) p.observe({{"{job=\"a\"}", kBase + phase + i * interval}});
  return p;
}

TEST(ScrapePhase, LearnsIntervalAndPhaseFromTwoStepsAndStartsWithoutMargin) {
  ScrapePhase p(1000);
  p.observe({{"{job=\"a\"}", kBase + 230}});
  p.observe({{"{job=\"a\"}", kBase + 1230}});
  EXPECT_EQ(p.state(), AlignmentState::kLearning) << "one step could be a multiple of the interval";
  EXPECT_FALSE(p.grid_phase());
  p.observe({{"{job=\"a\"}", kBase + 2229}});  // a millisecond of jitter
  EXPECT_EQ(p.state(), AlignmentState::kAligned);
  EXPECT_EQ(p.scrape_interval_ms(), 1000);
  EXPECT_EQ(p.aligned_phase_ms(), 229);
  EXPECT_EQ(p.margin_ms(), 0) << "nothing measured yet: the first aligned tick waits and measures";
  EXPECT_EQ(p.grid_phase(), 229);
}

TEST(ScrapePhase, AMeasuredLagBecomesTheMarginWithSomeToSpare) {
  ScrapePhase p = learned(1000, 1000, 230);
  const std::int64_t cycle = kBase + 3230;
  EXPECT_EQ(p.expected_cycle(cycle + 2), cycle);
  EXPECT_EQ(p.expected_cycle(cycle - 3), cycle) << "a tick that wakes a little early still expects its cycle";
  EXPECT_EQ(p.expected_cycle(cycle - 400), cycle - 1000);
  p.landed(cycle, cycle + 40, /*waited=*/true);
  EXPECT_EQ(p.margin_ms(), 45);
  EXPECT_EQ(p.grid_phase(), 275);
  p.landed(cycle + 1000, cycle + 1000 + 200, true);
  EXPECT_EQ(p.margin_ms(), 220) << "the largest recent lag, plus 10 %";
}

TEST(ScrapePhase, CurrentHoldsEverySeriesToItsOwnSampleOfTheCycle) {
  ScrapePhase p(1000);
  // Two targets: one at phase 100, one at 300. The one at 300 lands last.
  for (int i = 0; i < 3; ++i) {
    p.observe({{"{i=\"1\"}", kBase + 100 + i * 1000}, {"{i=\"2\"}", kBase + 300 + i * 1000}});
  }
  ASSERT_EQ(p.state(), AlignmentState::kAligned);
  EXPECT_EQ(p.aligned_phase_ms(), 300);
  const std::int64_t cycle = kBase + 3300;
  EXPECT_TRUE(p.current({{"{i=\"1\"}", kBase + 3100}, {"{i=\"2\"}", kBase + 3300}}, cycle));
  EXPECT_FALSE(p.current({{"{i=\"1\"}", kBase + 3100}, {"{i=\"2\"}", kBase + 2300}}, cycle));
  EXPECT_FALSE(p.current({{"{i=\"1\"}", kBase + 2100}, {"{i=\"2\"}", kBase + 3300}}, cycle))
      << "the early target's sample of this cycle is missing";
  EXPECT_TRUE(p.current({{"{i=\"1\"}", kBase + 3100}, {"{i=\"2\"}", kBase + 3300}, {"{i=\"3\"}", kBase}}, cycle))
      << "a series first seen now has no phase to be held to";
}

TEST(ScrapePhase, PhasesAcrossTheCycleBoundaryPickTheOneBeforeTheLargestGap) {
  ScrapePhase p(1000);
  for (int i = 0; i < 3; ++i) {
    p.observe({{"{i=\"1\"}", kBase + 950 + i * 1000}, {"{i=\"2\"}", kBase + 1050 + i * 1000}});
  }
  EXPECT_EQ(p.aligned_phase_ms(), 50) << "950 and 50 are 100 ms apart across the boundary; 50 lands last";
}

TEST(ScrapePhase, AChangedScrapeIntervalStartsLearningAgainAndSaysWhy) {
  ScrapePhase p = learned(500, 1000, 230, 4);
  ASSERT_EQ(p.state(), AlignmentState::kAligned);
  p.observe({{"{job=\"a\"}", kBase + 3230 + 1500}});
  EXPECT_EQ(p.state(), AlignmentState::kLearning);
  EXPECT_NE(p.reason().find("stepped 1500ms, not a multiple of the scrape interval 1000ms"), std::string::npos)
      << p.reason();
  p.observe({{"{job=\"a\"}", kBase + 3230 + 3000}});
  p.observe({{"{job=\"a\"}", kBase + 3230 + 4500}});
  EXPECT_EQ(p.state(), AlignmentState::kAligned);
  EXPECT_EQ(p.scrape_interval_ms(), 1500);
}

TEST(ScrapePhase, IntervalsThatDoNotDivideEachOtherStayUnaligned) {
  ScrapePhase p = learned(1500, 1000, 0, 3);
  EXPECT_EQ(p.state(), AlignmentState::kUnaligned);
  EXPECT_NE(p.reason().find("neither is a multiple of the other"), std::string::npos) << p.reason();
  EXPECT_FALSE(p.grid_phase());
  EXPECT_FALSE(p.expected_cycle(kBase + 5000));

  EXPECT_EQ(learned(5000, 15000, 0).state(), AlignmentState::kAligned) << "every third evaluation follows a scrape";
  EXPECT_EQ(learned(5000, 1000, 0).state(), AlignmentState::kAligned);
}

TEST(ScrapePhase, PhasesSpreadOverTheWholeIntervalCannotBeFollowedUntilTheySpreadLess) {
  ScrapePhase p(1000);
  Series spread;
  for (int t = 0; t < 100; ++t) spread.push_back({"{i=\"" + std::to_string(t) + "\"}", kBase + t * 10});
  for (int i = 0; i < 3; ++i) {
    Series look = spread;
    for (auto& s : look) s.ms += i * 1000;
    p.observe(look);
  }
  EXPECT_EQ(p.state(), AlignmentState::kUnaligned);
  EXPECT_NE(p.reason().find("spread over the whole"), std::string::npos) << p.reason();
  p.observe({{"{i=\"0\"}", kBase + 3000}});  // the others went stale
  EXPECT_EQ(p.state(), AlignmentState::kAligned);
  EXPECT_EQ(p.aligned_phase_ms(), 0);
}

TEST(ScrapePhase, WithoutRecentWaitsTheMarginHalvesUntilAWaitMeasuresIt) {
  ScrapePhase p = learned(1000, 1000, 0);
  std::int64_t cycle = kBase + 3000;
  p.landed(cycle, cycle + 200, true);
  ASSERT_EQ(p.margin_ms(), 220);
  for (std::size_t i = 0; i <= ScrapePhase::kLagMemory; ++i) {
    cycle += 1000;
    p.observe({{"{job=\"a\"}", cycle}});
    p.landed(cycle, cycle + 225, false);  // there at the first look
  }
  EXPECT_EQ(p.margin_ms(), 110) << "the 200 ms lag is forgotten; the margin is probed downwards";
  p.landed(cycle, cycle + 115, false);
  EXPECT_EQ(p.margin_ms(), 55);
  p.landed(cycle, cycle + 60, true);  // the samples were late: measured
  EXPECT_EQ(p.margin_ms(), 66);
}

TEST(ScrapePhase, AMissGrowsTheMarginUntilEvaluationsFindTheirSamples) {
  // A backend that shows samples only 1 s after their timestamp (VictoriaMetrics'
  // -search.latencyOffset): each evaluation waits a quarter second, gives up, and moves later.
  ScrapePhase p = learned(1000, 1000, 0);
  std::int64_t cycle = kBase + 3000;
  p.missed(cycle, cycle + 250);
  EXPECT_EQ(p.margin_ms(), 275);
  p.missed(cycle + 1000, cycle + 1000 + 275 + 250);
  EXPECT_EQ(p.margin_ms(), 577);
  EXPECT_EQ(p.expected_cycle(cycle + 2000 + 577), cycle + 2000);
  p.missed(cycle, cycle + 60'000);
  EXPECT_EQ(p.margin_ms(), 3300) << "a miss counts for at most kStaleCycles intervals";
  p.landed(cycle + 3000, cycle + 3000 + 1040, /*waited=*/true);
  EXPECT_EQ(p.margin_ms(), 1144) << "the lag measured when samples land replaces the misses' bounds";
}

TEST(ScrapePhase, OneSlowScrapeDoesNotHoldTheMarginUp) {
  ScrapePhase p = learned(1000, 1000, 0);
  std::int64_t cycle = kBase + 3000;
  p.landed(cycle, cycle + 30, true);
  ASSERT_EQ(p.margin_ms(), 35);
  p.missed(cycle + 1000, cycle + 1000 + 35 + 250);
  EXPECT_EQ(p.margin_ms(), 313) << "the next evaluation moves past where the slow scrape was given up";
  p.landed(cycle + 2000, cycle + 2000 + 313, /*waited=*/false);
  EXPECT_EQ(p.margin_ms(), 35) << "back to the measured lag once samples land on time again";
}

TEST(ScrapePhase, ASeriesWhoseTargetStoppedIsNotWaitedFor) {
  ScrapePhase p(1000);
  for (int i = 0; i < 3; ++i) p.observe({{"{i=\"1\"}", kBase + 100 + i * 1000}, {"{i=\"2\"}", kBase + 300 + i * 1000}});
  const std::int64_t cycle = kBase + 6300;
  EXPECT_FALSE(p.current({{"{i=\"1\"}", kBase + 6100}, {"{i=\"2\"}", kBase + 5300}}, cycle));
  EXPECT_TRUE(p.current({{"{i=\"1\"}", kBase + 2100}, {"{i=\"2\"}", kBase + 6300}}, cycle))
      << "series 1 has not been scraped for 4 s: its target is down, not late";
}

}  // namespace
}  // namespace rs::sidecar
