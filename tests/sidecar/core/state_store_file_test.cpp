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

}  // namespace
}  // namespace rs::sidecar
