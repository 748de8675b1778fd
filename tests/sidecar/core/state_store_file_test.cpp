// The state file is read with a cap and only when it is a regular file.
#include <gtest/gtest.h>

#include "common/read_file.h"
#include "sidecar/core/state_store.h"
#include "tests/support/harness.h"

namespace rs::sidecar {
namespace {

TEST(StateStoreFile, DevZeroIsAnErrorNotAnEndlessRead) {
  StateStore store("/dev/zero");
  std::optional<PersistedState> state;
  std::string error;
  EXPECT_FALSE(store.load(&state, &error));
  EXPECT_EQ(error, "state file /dev/zero: cannot read: not a regular file (character device)");
}

TEST(StateStoreFile, MissingFileIsAFreshStart) {
  testing::TempDir dir;
  StateStore store(dir.file("state.json"));
  std::optional<PersistedState> state;
  std::string error;
  EXPECT_TRUE(store.load(&state, &error)) << error;
  EXPECT_FALSE(state);
}

TEST(StateStoreFile, OversizeIsRefusedNamingTheLimit) {
  testing::TempDir dir;
  testing::write_file(dir.file("state.json"), std::string(common::kMaxStateFileBytes + 1, ' '));
  StateStore store(dir.file("state.json"));
  std::optional<PersistedState> state;
  std::string error;
  EXPECT_FALSE(store.load(&state, &error));
  EXPECT_NE(error.find("more than the limit of"), std::string::npos) << error;
}

// Files written before deployment_since and seen_alerts were kept still load (both unknown /
// empty); both round-trip.
TEST(StateStoreFile, OlderFilesWithoutTheAlertFieldsLoadAndNewOnesRoundTrip) {
  testing::TempDir dir;
  testing::write_file(dir.file("state.json"),
                      R"({"version": 1, "identity": "checkout:canary=v1", "state": "healthy", "last_decision": null,)"
                      R"( "freeze": null, "promotion": null})");
  StateStore store(dir.file("state.json"));
  std::optional<PersistedState> state;
  std::string error;
  ASSERT_TRUE(store.load(&state, &error)) << error;
  ASSERT_TRUE(state);
  EXPECT_FALSE(state->deployment_since);
  EXPECT_TRUE(state->seen_alerts.empty());

  WallTime since;
  ASSERT_TRUE(parse_rfc3339("2026-12-01T10:00:00.250Z", &since));
  state->deployment_since = since;
  state->seen_alerts = {"fp1@2026-12-01T10:05:00Z", "fp2@2026-12-01T10:06:00Z"};
  ASSERT_TRUE(store.save(*state, &error)) << error;
  std::optional<PersistedState> again;
  ASSERT_TRUE(store.load(&again, &error)) << error;
  ASSERT_TRUE(again && again->deployment_since);
  EXPECT_EQ(*again->deployment_since, since);
  EXPECT_EQ(again->seen_alerts, state->seen_alerts);

  testing::write_file(dir.file("state.json"),
                      R"({"version": 1, "identity": "x", "state": "healthy", "seen_alerts": [1]})");
  EXPECT_FALSE(store.load(&again, &error));
  EXPECT_NE(error.find("seen_alerts is malformed"), std::string::npos) << error;
}

// Found by the state_file fuzz target: nlohmann's get<uint64_t>() of 1e51 is a float cast out of
// range (undefined behaviour; UBSan stops there). Numbers must be integers their field holds.
TEST(StateStoreFile, NumbersThatAreNotIntegersOfTheirFieldsRangeAreRefused) {
  const std::string decision = R"({"kind": "rollback", "trigger": "rule", "rule": "errors",)"
                               R"( "decided_at": "2026-12-01T10:00:00Z", "actuators": [)";
  auto state_with = [&](const std::string& id, const std::string& attempts) {
    return R"({"version": 1, "identity": "x", "state": "rolling_back", "last_decision": )" + decision +
           R"({"actuator": "haproxy", "result": "ok", "attempts": )" + attempts + R"(}], "id": )" + id + "}}";
  };
  PersistedState state;
  std::string why;
  ASSERT_TRUE(parse_persisted_state(state_with("7", "1"), &state, &why)) << why;
  EXPECT_EQ(state.last_decision->id, 7u);
  for (const char* id : {"1e51", "999999999999999999999999999999", "-1", "2.5", "\"7\""}) {
    EXPECT_FALSE(parse_persisted_state(state_with(id, "1"), &state, &why)) << id;
    EXPECT_EQ(why, "decision.id is not a non-negative integer") << id;
  }
  for (const char* attempts : {"1e30", "4294967296", "1.5"}) {
    EXPECT_FALSE(parse_persisted_state(state_with("7", attempts), &state, &why)) << attempts;
    EXPECT_EQ(why, "decision.actuators[].attempts is not an integer") << attempts;
  }
  const std::string promotion = R"({"version": 1, "identity": "x", "state": "healthy", "promotion": )";
  EXPECT_FALSE(parse_persisted_state(promotion + R"({"step": 1, "weight": 1e40, "state": "paused"}})", &state, &why));
  EXPECT_EQ(why, "promotion is malformed (needs step, weight, state)");
  EXPECT_FALSE(
      parse_persisted_state(promotion + R"({"step": 4294967297, "weight": 5, "state": "paused"}})", &state, &why));
}

}  // namespace
}  // namespace rs::sidecar
