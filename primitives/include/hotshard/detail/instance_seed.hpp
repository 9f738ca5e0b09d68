// hotshard/detail/instance_seed.hpp — the default seed of a primitive whose
// hashing an outsider must not be able to predict (hash flooding).
//
// One value per process from std::random_device (the OS entropy source),
// then a distinct, well-mixed seed per call: an attacker who knows the code
// but not the process's entropy cannot craft keys that collide in every
// instance. An explicit seed (the options' `seed`) replaces it for
// reproducible runs, tests and merging.
//
// Progress: the first call in a process reads std::random_device (a system
// call, under the static-init guard: blocking once); later calls are
// wait-free (one relaxed fetch_add: only uniqueness matters).
#pragma once

#include <hotshard/detail/hash.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>

namespace hotshard::detail {

[[nodiscard]] inline std::uint64_t random_instance_seed() {
  static const std::uint64_t process = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  static std::atomic<std::uint64_t> next{0};
  return mix64(process ^ mix64(next.fetch_add(1, std::memory_order_relaxed)));  // uniqueness only
}

[[nodiscard]] inline std::uint64_t seed_or_random(const std::optional<std::uint64_t>& seed) {
  return seed ? *seed : random_instance_seed();
}

}  // namespace hotshard::detail
