// Compatibility shim: the shared helpers moved to tests/support
// (<hotshard/test/support.hpp>). Kept only for tests/foundation/test_prometheus.cpp
// until it includes the support header itself; delete it then.
#pragma once

#include <hotshard/test/support.hpp>

namespace hotshard::test {
inline constexpr std::uint64_t stress_scale = sanitizer_scale;
}  // namespace hotshard::test
