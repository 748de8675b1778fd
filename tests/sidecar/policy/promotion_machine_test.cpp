// PromotionMachine as a table: situation in, state and step out.
#include <gtest/gtest.h>

#include "sidecar/policy/promotion_machine.h"

namespace rs::sidecar {
namespace {

using namespace std::chrono_literals;
using S = PromotionState;

const WallTime kT0 = WallTime(std::chrono::hours(480000));

PromotionInputs ok_at(Duration since_start) {
  PromotionInputs in;
  in.all_rules_ok = true;
  in.now = kT0 + since_start;
  return in;
}

struct Case {
  const char* name;
  PromotionProgress before;
  PromotionInputs in;
  S after;
  int step_due;  // -1: none
};

class PromotionTable : public ::testing::TestWithParam<Case> {};

TEST_P(PromotionTable, StateAndStepFollowTheSituation) {
  const Case& c = GetParam();
  PromotionMachine m({10, 50, 100}, 60s);
  m.restore(c.before);
  auto due = m.step(c.in);
  EXPECT_EQ(promotion_state_name(m.state()), std::string(promotion_state_name(c.after)));
  EXPECT_EQ(due ? due->index : -1, c.step_due);
  if (due) {
    EXPECT_EQ(due->percent, (std::vector<int>{10, 50, 100})[static_cast<std::size_t>(due->index)]);
  }
}

PromotionInputs with(PromotionInputs in, bool rollback, bool dry_run, bool frozen, bool ok) {
  in.rollback = rollback;
  in.dry_run = dry_run;
  in.frozen = frozen;
  in.all_rules_ok = ok;
  return in;
}

const PromotionProgress kFresh{};
const PromotionProgress kAtStep1{0, 10, S::kPromoting};
const PromotionProgress kComplete{2, 100, S::kComplete};
const PromotionProgress kFailed{0, 10, S::kFailed};

INSTANTIATE_TEST_SUITE_P(
    Situations, PromotionTable,
    ::testing::Values(Case{"FreshAndAllOkSetsTheFirstStepAtOnce", kFresh, ok_at(0s), S::kPromoting, 0},
                      Case{"ALaterStepWaitsForItsWindow", kAtStep1, ok_at(0s), S::kPromoting, -1},
                      Case{"NotAllOkPauses", kFresh, with(ok_at(0s), false, false, false, false), S::kPaused, -1},
                      Case{"AFreezeHolds", kAtStep1, with(ok_at(0s), false, false, true, true), S::kFrozen, -1},
                      Case{"AFreezeWinsOverFiringRules", kAtStep1, with(ok_at(0s), false, false, true, false),
                           S::kFrozen, -1},
                      Case{"DryRunNeverPromotes", kFresh, with(ok_at(0s), false, true, false, true), S::kDryRun, -1},
                      Case{"ARollbackStops", kAtStep1, with(ok_at(0s), true, false, false, true), S::kStopped, -1},
                      Case{"ARollbackStopsEvenACompletePromotion", kComplete, with(ok_at(0s), true, false, false, true),
                           S::kStopped, -1},
                      Case{"CompleteIsFinal", kComplete, with(ok_at(0s), false, true, true, false), S::kComplete, -1},
                      Case{"FailedIsFinal", kFailed, ok_at(0s), S::kFailed, -1}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(PromotionMachine, EachStepWaitsAWindowOfAllOkEvaluationsAndTheLastCompletes) {
  PromotionMachine m({10, 50, 100}, 60s);
  auto first = m.step(ok_at(0s));
  ASSERT_TRUE(first);
  m.applied(*first, true, false, kT0);
  EXPECT_EQ(m.progress().weight, 10);
  EXPECT_FALSE(m.step(ok_at(59s)));
  auto paused = with(ok_at(59s), false, false, false, false);
  EXPECT_FALSE(m.step(paused));
  EXPECT_EQ(m.state(), S::kPaused);
  EXPECT_FALSE(m.step(ok_at(100s))) << "a pause restarts the window";
  EXPECT_FALSE(m.step(ok_at(159s)));
  auto second = m.step(ok_at(160s));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->percent, 50);
  m.applied(*second, true, false, kT0 + 160s);
  auto last = m.step(ok_at(220s));
  ASSERT_TRUE(last);
  m.applied(*last, true, false, kT0 + 220s);
  EXPECT_EQ(m.state(), S::kComplete);
  EXPECT_EQ(m.progress().step, 2);
  EXPECT_FALSE(m.step(ok_at(999s)));
}

TEST(PromotionMachine, AFailedStepIsFinalUnlessShutdownCutItShort) {
  PromotionMachine m({10, 100}, 60s);
  auto first = m.step(ok_at(0s));
  m.applied(*first, false, true, kT0);
  EXPECT_EQ(m.state(), S::kPromoting) << "interrupted: tried again after the restart";
  EXPECT_EQ(m.progress().step, -1);
  m.applied(*first, false, false, kT0);
  EXPECT_EQ(m.state(), S::kFailed);
  EXPECT_FALSE(m.step(ok_at(120s)));
}

TEST(PromotionMachine, EveryStateHasOneNameThatParsesBack) {
  for (S s : {S::kWaiting, S::kPromoting, S::kPaused, S::kFrozen, S::kDryRun, S::kStopped, S::kComplete, S::kFailed}) {
    EXPECT_EQ(parse_promotion_state(promotion_state_name(s)), s) << promotion_state_name(s);
  }
  EXPECT_EQ(std::string(promotion_state_name(S::kDryRun)), "dry_run");
  EXPECT_FALSE(parse_promotion_state("Promoting"));
}

}  // namespace
}  // namespace rs::sidecar
