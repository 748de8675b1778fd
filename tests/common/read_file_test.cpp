// Bounded file reads: /dev/zero, FIFOs, directories and oversize files give a clear error at
// once instead of reading until memory runs out (check --config /dev/zero, state_file:
// /dev/zero, bearer_token_file: /dev/zero all used to end in bad_alloc).
#include "common/read_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/secret_file.h"
#include "tests/support/harness.h"

namespace rs::common {
namespace {

TEST(ReadRegularFile, ReadsARegularFileWhole) {
  testing::TempDir dir;
  testing::write_file(dir.file("a"), std::string("x\0y", 3));
  std::string error;
  auto text = read_regular_file(dir.file("a"), 3, &error);
  ASSERT_TRUE(text) << error;
  EXPECT_EQ(*text, std::string("x\0y", 3));
}

TEST(ReadRegularFile, MissingIsToldApart) {
  std::string error;
  bool missing = false;
  EXPECT_FALSE(read_regular_file("/nonexistent/rs-file", 10, &error, &missing));
  EXPECT_TRUE(missing);
  EXPECT_EQ(error, "/nonexistent/rs-file: No such file or directory");
}

TEST(ReadRegularFile, DevZeroIsRefusedAtOnce) {
  std::string error;
  bool missing = true;
  EXPECT_FALSE(read_regular_file("/dev/zero", 1 << 20, &error, &missing));
  EXPECT_FALSE(missing);
  EXPECT_EQ(error, "/dev/zero: not a regular file (character device)");
}

TEST(ReadRegularFile, DirectoryAndFifoAreRefusedWithoutBlocking) {
  testing::TempDir dir;
  std::string error;
  EXPECT_FALSE(read_regular_file(dir.path(), 10, &error));
  EXPECT_NE(error.find("not a regular file (directory)"), std::string::npos) << error;
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  EXPECT_FALSE(read_regular_file(dir.file("fifo"), 10, &error));  // no writer: must not wait for one
  EXPECT_NE(error.find("not a regular file (FIFO)"), std::string::npos) << error;
}

TEST(ReadRegularFile, OversizeIsRefusedNamingTheLimit) {
  testing::TempDir dir;
  testing::write_file(dir.file("big"), std::string(101, 'x'));
  std::string error;
  EXPECT_FALSE(read_regular_file(dir.file("big"), 100, &error));
  EXPECT_EQ(error, dir.file("big") + ": 101 bytes, more than the limit of 100");
  EXPECT_TRUE(read_regular_file(dir.file("big"), 101, &error));
}

TEST(SecretFile, DevZeroAndHugeFilesAreRefusedWithoutTheirContent) {
  std::string secret, error;
  EXPECT_FALSE(read_secret_file("/dev/zero", "bearer token", &secret, &error));
  EXPECT_EQ(error, "cannot read bearer token file /dev/zero: not a regular file (character device)");
  testing::TempDir dir;
  testing::write_file(dir.file("token"), std::string(kMaxSecretFileBytes + 1, 'k'));
  EXPECT_FALSE(read_secret_file(dir.file("token"), "bearer token", &secret, &error));
  EXPECT_NE(error.find("more than the limit of 65536"), std::string::npos) << error;
  EXPECT_EQ(error.find("kkk"), std::string::npos);
  EXPECT_TRUE(secret.empty());
}

TEST(SecretFile, MissingFileKeepsItsMessage) {
  std::string secret, error;
  EXPECT_FALSE(read_secret_file("/run/rs-none", "bearer token", &secret, &error));
  EXPECT_EQ(error, "cannot read bearer token file /run/rs-none: No such file or directory");
}

}  // namespace
}  // namespace rs::common
