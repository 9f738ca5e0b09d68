// hotshard/harness/routing/slots.hpp — Redis Cluster routing
// (https://redis.io/docs/reference/cluster-spec/): a key's slot is CRC16 of
// the key (or of its `{hash tag}`) mod 16,384, and each of P nodes owns one
// contiguous range of slots, as `redis-cli --cluster create` assigns them. An
// integer key is routed as its decimal string, the name a client would use.
// The slot function is shared with the Redis Cluster backend (redis_store.hpp).
// Progress and thread safety: routing.hpp (wait-free: O(key length); immutable).
#pragma once

#include <hotshard/harness/routing.hpp>

#include <charconv>
#include <cstdint>
#include <string_view>

namespace hotshard::harness {

// CRC16 as Redis Cluster computes it: CCITT polynomial 0x1021, initial value
// 0, no reflection, no final xor (a.k.a. CRC16-XMODEM). crc16("123456789") == 0x31C3.
// Bitwise, without a table: the store is not what is measured, and a loop
// over 8 bits is easy to check against the spec.
[[nodiscard]] constexpr std::uint16_t crc16_xmodem(std::string_view data) noexcept {
  std::uint16_t crc = 0;
  for (unsigned char byte : data) {
    crc = static_cast<std::uint16_t>(crc ^ (static_cast<std::uint16_t>(byte) << 8));
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
  }
  return crc;
}

inline constexpr unsigned redis_slot_count = 16384;

// What HASH_SLOT hashes: if the key has a '{' followed later by a '}' with at
// least one character between, only that substring; otherwise the whole key.
[[nodiscard]] constexpr std::string_view redis_hash_tag(std::string_view key) noexcept {
  const auto open = key.find('{');
  if (open == std::string_view::npos) return key;
  const auto close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

// HASH_SLOT of the cluster spec.
[[nodiscard]] constexpr unsigned redis_key_slot(std::string_view key) noexcept {
  return crc16_xmodem(redis_hash_tag(key)) & (redis_slot_count - 1);
}

class slots_router final : public router {
 public:
  explicit slots_router(const routing_params& params) : partitions_(checked_partitions(params)) {}

  [[nodiscard]] routing_kind kind() const noexcept override { return routing_kind::slots; }
  [[nodiscard]] unsigned partition_of(std::uint64_t key) const noexcept override {
    char digits[24];  // 20 digits at most
    const auto end = std::to_chars(digits, digits + sizeof digits, key).ptr;
    return partition_of(std::string_view(digits, static_cast<std::size_t>(end - digits)));
  }
  [[nodiscard]] unsigned partition_of(std::string_view key) const noexcept override {
    return static_cast<unsigned>(std::uint64_t{redis_key_slot(key)} * partitions_ / redis_slot_count);
  }

 private:
  unsigned partitions_;
};

}  // namespace hotshard::harness
