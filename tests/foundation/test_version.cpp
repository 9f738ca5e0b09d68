#include <hotshard/version.hpp>

#include <gtest/gtest.h>

#include <string>

TEST(version, string_matches_the_numeric_parts) {
  const std::string expected = std::to_string(hotshard::version_major) + "." +
                               std::to_string(hotshard::version_minor) + "." +
                               std::to_string(hotshard::version_patch);
  EXPECT_EQ(hotshard::version_string, expected);
}

TEST(version, number_orders_major_before_minor_before_patch) {
  EXPECT_EQ(hotshard::version_number(),
            hotshard::version_major * 10000 + hotshard::version_minor * 100 + hotshard::version_patch);
}

// HOTSHARD_PROJECT_VERSION_* come from project(hotshard VERSION ...) in the
// top-level CMakeLists.txt (tests/foundation/CMakeLists.txt passes them):
// version.hpp must say the same as the build and the installed package.
TEST(version, header_matches_the_projects_cmake_version) {
  EXPECT_EQ(hotshard::version_major, HOTSHARD_PROJECT_VERSION_MAJOR);
  EXPECT_EQ(hotshard::version_minor, HOTSHARD_PROJECT_VERSION_MINOR);
  EXPECT_EQ(hotshard::version_patch, HOTSHARD_PROJECT_VERSION_PATCH);
  EXPECT_EQ(hotshard::version_string, HOTSHARD_PROJECT_VERSION);
}
