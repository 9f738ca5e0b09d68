// hotshard/harness/hot_partition/config.hpp — what a hot-partition client is
// built from: its mitigations (each a flag, combined freely; client.hpp says
// what each does) and its configuration.
//
// Progress and memory ordering: plain values, no atomics.
#pragma once

#include <hotshard/harness/store.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hotshard::harness::hot_partition {

struct mitigations {
  bool salting = false;
  bool cache = false;
  bool buffer = false;
  bool adaptive = false;

  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> v;
    if (salting) v.emplace_back("salting");
    if (cache) v.emplace_back("cache");
    if (buffer) v.emplace_back("buffer");
    if (adaptive) v.emplace_back("adaptive");
    return v;
  }
};

// The implementations the scenario registers, in display order.
[[nodiscard]] inline std::optional<mitigations> mitigations_of(const std::string& impl) {
  if (impl == "unmitigated") return mitigations{};
  if (impl == "salting") return mitigations{.salting = true};
  if (impl == "cache") return mitigations{.cache = true};
  if (impl == "buffer") return mitigations{.buffer = true};
  if (impl == "adaptive") return mitigations{.adaptive = true};
  if (impl == "mitigated") return mitigations{.salting = true, .cache = true, .buffer = true};
  return std::nullopt;
}

struct client_config {
  double offered_rate = 200'000;     // simulated operations per second, all clients
  unsigned partitions = 16;
  double headroom = 2.0;             // partition capacity = headroom × offered_rate / partitions
  routing_kind routing = routing_kind::hash;
  unsigned salt = 16;                // the largest K for a hot key (≤ partitions)
  double salt_target = 0.5;          // K: a sub-key's load at most this share of a partition's capacity
  double hot_share = 0.01;           // detector threshold φ
  std::uint64_t detector_window = 8192;
  double ttl_seconds = 0.5;          // cache TTL, simulated
  std::size_t cache_capacity = 8192;
  std::uint64_t backend_read_us = 10;  // real latency of every backend read, a loopback round trip (lets a herd overlap)
  bool write_invalidates = true;     // cache: a write drops the key's cached entry
  std::size_t buffer_capacity = 8192;
  std::size_t drain_every = 16;      // each client drains one batch every this many ops
};

// A backend read refused by a throttled partition, as a loader failure.
struct throttled_error : std::runtime_error {
  throttled_error() : std::runtime_error("partition throttled") {}
};

}  // namespace hotshard::harness::hot_partition
