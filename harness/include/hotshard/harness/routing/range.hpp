// hotshard/harness/routing/range.hpp — range routing: P equal ranges of
// [0, key_space), keys beyond it in the last one — what time-ordered keys do
// to a range-partitioned table (every new key lands in the last range). A
// string key has no order here, so it is hashed onto [0, P).
// Progress and thread safety: routing.hpp (wait-free; immutable).
#pragma once

#include <hotshard/detail/hash.hpp>
#include <hotshard/harness/routing.hpp>
#include <hotshard/harness/scenario.hpp>

#include <algorithm>
#include <cstdint>

namespace hotshard::harness {

class range_router final : public router {
 public:
  explicit range_router(const routing_params& params) : partitions_(checked_partitions(params)) {
    if (params.key_space == 0) throw usage_error("store: key_space must be at least 1 for range routing");
    key_space_ = params.key_space;
    // ceil(key_space / P), written so that a key space near 2^64 cannot overflow.
    width_ = key_space_ / partitions_ + (key_space_ % partitions_ != 0 ? 1 : 0);
  }

  [[nodiscard]] routing_kind kind() const noexcept override { return routing_kind::range; }
  [[nodiscard]] unsigned partition_of(std::uint64_t key) const noexcept override {
    if (key >= key_space_) return partitions_ - 1;
    return static_cast<unsigned>(std::min<std::uint64_t>(key / width_, partitions_ - 1));
  }
  [[nodiscard]] unsigned partition_of(std::string_view key) const noexcept override {
    return static_cast<unsigned>(detail::reduce(string_key_hash(key), partitions_));
  }

 private:
  unsigned partitions_;
  std::uint64_t key_space_ = 0;
  std::uint64_t width_ = 1;  // keys per range
};

}  // namespace hotshard::harness
