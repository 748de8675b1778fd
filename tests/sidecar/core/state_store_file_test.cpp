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

}  // namespace
}  // namespace rs::sidecar
