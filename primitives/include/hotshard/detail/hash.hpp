// hotshard/detail/hash.hpp — key hashing shared by every table and sketch.
//
// std::hash of an integer is the identity on libstdc++, which would put
// consecutive keys in consecutive slots and every sketch row on the same
// columns. We run whatever std::hash gives through a strong 64-bit finalizer
// (the SplitMix64 / murmur3 fmix64 family: Stafford's "variant 13",
// https://zimbry.blogspot.com/2011/09/better-bit-mixing-improving-on.html),
// which is a bijection on 64-bit words, and derive independent row hashes by
// mixing in a per-row seed.
//
// random_seed() draws the per-instance seeds of the sketches and keyed tables
// (hash flooding: an outsider who knows this code but not the seed cannot
// craft keys that collide in every row or in one probe run). It is not a
// cryptographic keyed hash (SipHash would be): it raises the bar from "read
// the source" to "observe the structure's timing at length".
//
// Progress: pure functions, wait-free; random_seed() is wait-free after the
// first call of the process (one std::random_device draw, then a fetch_add).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <random>

namespace hotshard::detail {

// Bijective 64-bit mixer (every output bit depends on every input bit).
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Inverse of mix64, so tests can prove the bijection and tools can un-scramble.
[[nodiscard]] constexpr std::uint64_t unmix64(std::uint64_t x) noexcept {
  x ^= x >> 31 ^ x >> 62;
  x *= 0x319642b2d24d8ec3ULL;  // inverse of 0x94d049bb133111eb mod 2^64
  x ^= x >> 27 ^ x >> 54;
  x *= 0x96de1b173f119089ULL;  // inverse of 0xbf58476d1ce4e5b9 mod 2^64
  x ^= x >> 30 ^ x >> 60;
  return x;
}

// A well-mixed 64-bit hash of any std::hash-able key.
template <class Key, class Hash = std::hash<Key>>
[[nodiscard]] inline std::uint64_t hash_key(const Key& key, const Hash& hash = Hash{}) noexcept(
    noexcept(hash(key))) {
  return mix64(static_cast<std::uint64_t>(hash(key)));
}

// The seeded variant: the hash of `h` (already mixed) for row/function `seed`.
// Distinct seeds give hash functions that behave as independent for sketches.
[[nodiscard]] constexpr std::uint64_t seeded_hash(std::uint64_t h, std::uint64_t seed) noexcept {
  return mix64(h ^ mix64(seed + 0x9e3779b97f4a7c15ULL));
}

// Maps a 64-bit hash to [0, n) without a division (Lemire's multiply-shift).
[[nodiscard]] constexpr std::uint64_t reduce(std::uint64_t h, std::uint64_t n) noexcept {
  __extension__ using u128 = unsigned __int128;  // GCC/Clang; __extension__ keeps -Wpedantic quiet
  return static_cast<std::uint64_t>((static_cast<u128>(h) * n) >> 64);
}

// A fresh nonzero 64-bit seed per call: the process's random_device draw
// mixed with a counter (distinct per call even if random_device is a
// deterministic fallback).
[[nodiscard]] inline std::uint64_t random_seed() {
  static const std::uint64_t base = [] {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
  }();
  static std::atomic<std::uint64_t> calls{0};
  // Relaxed: only distinctness of the returned values matters.
  const std::uint64_t s = mix64(base ^ mix64(calls.fetch_add(1, std::memory_order_relaxed) + 0x9e3779b97f4a7c15ULL));
  return s == 0 ? 1 : s;
}

}  // namespace hotshard::detail
