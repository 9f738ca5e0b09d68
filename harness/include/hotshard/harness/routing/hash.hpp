// hotshard/harness/routing/hash.hpp — hash routing: mix64(key) mod P. Balanced
// for any key set, but adding a partition moves almost every key (compare ring).
// Progress and thread safety: routing.hpp (wait-free, immutable).
#pragma once

#include <hotshard/detail/hash.hpp>
#include <hotshard/harness/routing.hpp>

namespace hotshard::harness {

class hash_router final : public router {
 public:
  explicit hash_router(const routing_params& params) : partitions_(checked_partitions(params)) {}

  [[nodiscard]] routing_kind kind() const noexcept override { return routing_kind::hash; }
  [[nodiscard]] unsigned partition_of(std::uint64_t key) const noexcept override {
    return static_cast<unsigned>(detail::mix64(key) % partitions_);
  }
  [[nodiscard]] unsigned partition_of(std::string_view key) const noexcept override {
    return static_cast<unsigned>(string_key_hash(key) % partitions_);
  }

 private:
  unsigned partitions_;
};

}  // namespace hotshard::harness
