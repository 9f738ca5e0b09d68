// hotshard/harness/routing.hpp — which partition of a partitioned store a key
// lives on. The simulated store (store.hpp) holds one router; each routing is
// one class in its own file under routing/:
//  - hash  (routing/hash.hpp):  mix64(key) mod P;
//  - ring  (routing/ring.hpp):  consistent hashing with virtual nodes;
//  - slots (routing/slots.hpp): Redis Cluster's 16,384 CRC16 hash slots with
//    `{hash tag}` rules, in contiguous slot ranges per node;
//  - range (routing/range.hpp): P equal ranges of [0, key_space).
// Adding a routing: one file with its class, plus its enumerator below and
// its row in the table of routing.cpp (which parse_routing, to_string and
// make_router all read).
//
// Progress: partition_of is wait-free (bounded work, no shared writes): a
// router is immutable once built, so any number of threads may call it
// concurrently; it needs no ordering beyond the happens-before of handing the
// built router to those threads (the store builds its router in its constructor).
// Building one allocates (ring: P x virtual_nodes points) and may throw.
#pragma once

#include <hotshard/detail/hash.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hotshard::harness {

enum class routing_kind { hash, ring, slots, range };

// What a routing may need; each routing reads the fields it uses.
struct routing_params {
  unsigned partitions = 16;
  unsigned virtual_nodes = 64;                       // ring
  std::uint64_t key_space = std::uint64_t{1} << 32;  // range: equal ranges of [0, key_space)
};

// A key -> partition map onto [0, partitions). Integer keys are the
// scenarios' keys; string keys are how a real store names them (slots routing
// applies hash tags to them; the other routings hash their bytes).
class router {
 public:
  virtual ~router() = default;
  [[nodiscard]] virtual routing_kind kind() const noexcept = 0;
  [[nodiscard]] virtual unsigned partition_of(std::uint64_t key) const noexcept = 0;
  [[nodiscard]] virtual unsigned partition_of(std::string_view key) const noexcept = 0;
  [[nodiscard]] std::string_view name() const noexcept;  // to_string(kind())
};

// The router for `kind`; usage_error naming the parameter when `params` does
// not suit it (no partitions, a ring without virtual nodes, an empty key space).
[[nodiscard]] std::unique_ptr<const router> make_router(routing_kind kind, const routing_params& params);

// Routing names, for scenario knobs: usage_error names the value and what is accepted.
[[nodiscard]] routing_kind parse_routing(std::string_view name);
[[nodiscard]] std::string_view to_string(routing_kind r) noexcept;
// Every routing's name, in the table's order (the accepted values of a routing knob).
[[nodiscard]] std::vector<std::string> routing_names();

// The hash of a string key, for the routings that hash bytes: FNV-1a, then
// the project's finalizer for avalanche.
[[nodiscard]] constexpr std::uint64_t string_key_hash(std::string_view key) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ULL;
  return detail::mix64(h);
}

// params.partitions, checked first by every router: a map onto no partitions
// is meaningless (usage_error).
[[nodiscard]] unsigned checked_partitions(const routing_params& params);

}  // namespace hotshard::harness
