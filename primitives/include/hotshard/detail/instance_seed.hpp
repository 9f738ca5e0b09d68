// hotshard/detail/instance_seed.hpp — the default seed of a primitive whose
// hashing an outsider must not be able to predict (hash flooding).
//
// detail::random_seed() (hash.hpp): one std::random_device draw per process,
// then a distinct, well-mixed seed per call, so an attacker who knows the code
// but not the process's entropy cannot craft keys that collide in every
// instance. An explicit seed (the options' `seed`) replaces it for
// reproducible runs, tests and merging.
//
// Progress: as random_seed(): blocking once per process (the entropy read),
// wait-free after.
#pragma once

#include <hotshard/detail/hash.hpp>

#include <cstdint>
#include <optional>

namespace hotshard::detail {

[[nodiscard]] inline std::uint64_t seed_or_random(const std::optional<std::uint64_t>& seed) {
  return seed ? *seed : random_seed();
}

}  // namespace hotshard::detail
