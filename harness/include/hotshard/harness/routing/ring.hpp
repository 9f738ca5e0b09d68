// hotshard/harness/routing/ring.hpp — consistent hashing (Karger et al.,
// STOC '97, https://doi.org/10.1145/258533.258660): each partition owns
// `virtual_nodes` points on a 64-bit ring and a key goes to the first point
// clockwise from its hash, so adding a partition moves only the keys the new
// points take. More virtual nodes, better balance.
// Progress and thread safety: routing.hpp (wait-free: a binary search over
// P x virtual_nodes points; immutable).
#pragma once

#include <hotshard/detail/hash.hpp>
#include <hotshard/harness/routing.hpp>
#include <hotshard/harness/scenario.hpp>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace hotshard::harness {

class ring_router final : public router {
 public:
  explicit ring_router(const routing_params& params) {
    const unsigned partitions = checked_partitions(params);
    if (params.virtual_nodes == 0) throw usage_error("store: virtual_nodes must be at least 1 for ring routing");
    points_.reserve(std::size_t{partitions} * params.virtual_nodes);
    for (unsigned p = 0; p < partitions; ++p)
      for (unsigned v = 0; v < params.virtual_nodes; ++v)
        points_.emplace_back(detail::mix64((std::uint64_t{p} << 32 | v) ^ point_salt), p);
    std::sort(points_.begin(), points_.end());
  }

  [[nodiscard]] routing_kind kind() const noexcept override { return routing_kind::ring; }
  [[nodiscard]] unsigned partition_of(std::uint64_t key) const noexcept override {
    return owner_of(detail::mix64(key));
  }
  [[nodiscard]] unsigned partition_of(std::string_view key) const noexcept override {
    return owner_of(string_key_hash(key));
  }

 private:
  // Keeps the virtual nodes' points apart from the keys' hashes (key p<<32|v
  // would otherwise land exactly on a point).
  static constexpr std::uint64_t point_salt = 0x7f4a7c159e3779b9ULL;

  // First virtual node clockwise from `point`; wraps at the top.
  [[nodiscard]] unsigned owner_of(std::uint64_t point) const noexcept {
    auto it = std::lower_bound(points_.begin(), points_.end(), std::pair<std::uint64_t, unsigned>{point, 0});
    if (it == points_.end()) it = points_.begin();
    return it->second;
  }

  std::vector<std::pair<std::uint64_t, unsigned>> points_;  // sorted (point, partition)
};

}  // namespace hotshard::harness
