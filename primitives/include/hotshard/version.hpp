// hotshard/version.hpp — the library's version, for run reports and feature checks.
//
// Progress: every function here is constexpr and wait-free. No shared state.
#pragma once

#include <string_view>

namespace hotshard {

inline constexpr int version_major = 0;
inline constexpr int version_minor = 1;
inline constexpr int version_patch = 0;
inline constexpr std::string_view version_string = "0.1.0";

// One number that orders releases: major * 10000 + minor * 100 + patch.
[[nodiscard]] constexpr int version_number() noexcept {
  return version_major * 10000 + version_minor * 100 + version_patch;
}

}  // namespace hotshard
