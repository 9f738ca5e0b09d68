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
