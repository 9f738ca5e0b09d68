// Routing (hash, ring, slots, range): every key goes to the same partition as
// the store's routing switch did before routing became classes — results files
// of the hot-partition scenario stay comparable across that change.
#include <hotshard/detail/hash.hpp>
#include <hotshard/harness/store.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace hotshard::harness;
namespace hd = hotshard::detail;

namespace {

// A verbatim copy of partitioned_store::partition_of as it stood before the
// routing classes (commit 14c723f), kept as the reference the classes must match.
namespace reference {

std::string_view hash_tag_of(std::string_view key) {
  const auto open = key.find('{');
  if (open == std::string_view::npos) return key;
  const auto close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

std::uint16_t crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (unsigned char byte : data) {
    crc = static_cast<std::uint16_t>(crc ^ (static_cast<std::uint16_t>(byte) << 8));
    for (int bit = 0; bit < 8; ++bit)
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
  }
  return crc;
}

std::uint64_t string_hash(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return hd::mix64(h);
}

struct routing {
  routing_kind kind;
  unsigned partitions;
  unsigned virtual_nodes;
  std::uint64_t key_space;
  std::vector<std::pair<std::uint64_t, unsigned>> ring;

  routing(routing_kind k, unsigned p, unsigned v, std::uint64_t space)
      : kind(k), partitions(p), virtual_nodes(v), key_space(space) {
    if (kind != routing_kind::ring) return;
    for (unsigned q = 0; q < partitions; ++q)
      for (unsigned n = 0; n < virtual_nodes; ++n)
        ring.emplace_back(hd::mix64((std::uint64_t{q} << 32 | n) ^ 0x7f4a7c159e3779b9ULL), q);
    std::sort(ring.begin(), ring.end());
  }

  unsigned route_hash(std::uint64_t h) const {
    if (kind == routing_kind::ring) {
      auto it = std::lower_bound(ring.begin(), ring.end(), std::pair<std::uint64_t, unsigned>{h, 0});
      if (it == ring.end()) it = ring.begin();
      return it->second;
    }
    return static_cast<unsigned>(h % partitions);
  }

  unsigned of(std::string_view key) const {
    if (kind == routing_kind::slots)
      return static_cast<unsigned>(std::uint64_t{static_cast<unsigned>(crc16(hash_tag_of(key)) & 16383u)} * partitions / 16384);
    const std::uint64_t h = string_hash(key);
    if (kind == routing_kind::range) return static_cast<unsigned>(hd::reduce(h, partitions));
    return route_hash(h);
  }

  unsigned of(std::uint64_t key) const {
    switch (kind) {
      case routing_kind::hash: return static_cast<unsigned>(hd::mix64(key) % partitions);
      case routing_kind::ring: return route_hash(hd::mix64(key));
      case routing_kind::slots: {
        char buf[24];
        const auto res = std::to_chars(buf, buf + sizeof buf, key);
        return of(std::string_view(buf, static_cast<std::size_t>(res.ptr - buf)));
      }
      case routing_kind::range: {
        if (key >= key_space) return partitions - 1;
        const std::uint64_t width = (key_space + partitions - 1) / partitions;
        return static_cast<unsigned>(std::min<std::uint64_t>(key / width, partitions - 1));
      }
    }
    return 0;
  }
};

}  // namespace reference

// Integer keys: a dense prefix, a spread of 64-bit values, and the edges of
// every range (width multiples +-1, the key space's end, the largest key).
std::vector<std::uint64_t> integer_keys(unsigned partitions, std::uint64_t key_space) {
  std::vector<std::uint64_t> keys;
  for (std::uint64_t k = 0; k < 5'000; ++k) keys.push_back(k);
  std::uint64_t x = 0x243f6a8885a308d3ULL;
  for (int i = 0; i < 5'000; ++i) keys.push_back(hd::mix64(x += 0x9e3779b97f4a7c15ULL));
  const std::uint64_t width = key_space / partitions + 1;
  for (unsigned p = 0; p <= partitions && p < 2'000; ++p)
    for (std::uint64_t d : {std::uint64_t{0}, std::uint64_t{1}})
      for (std::uint64_t edge : {p * width, p * (key_space / partitions)}) {
        keys.push_back(edge + d);
        keys.push_back(edge - d);
      }
  for (std::uint64_t edge : {key_space - 1, key_space, key_space + 1, ~std::uint64_t{0}}) keys.push_back(edge);
  return keys;
}

// String keys: plain, hash-tagged (including the spec's edge cases) and decimal.
std::vector<std::string> string_keys() {
  std::vector<std::string> keys = {"", "{", "}", "{}", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "foo{bar",
                                   "somekey", "{user1000}.following", "{user1000}.followers"};
  for (int i = 0; i < 2'000; ++i) {
    keys.push_back("user:" + std::to_string(i));
    keys.push_back("{user" + std::to_string(i % 97) + "}.post:" + std::to_string(i));
    keys.push_back(std::to_string(hd::mix64(static_cast<std::uint64_t>(i))));
  }
  return keys;
}

struct routing_case {
  routing_kind kind;
  unsigned virtual_nodes;
  std::uint64_t key_space;
};

std::vector<routing_case> every_routing() {
  std::vector<routing_case> cases = {{routing_kind::hash, 64, 1}, {routing_kind::slots, 64, 1}};
  for (unsigned v : {1u, 3u, 64u, 256u}) cases.push_back({routing_kind::ring, v, 1});
  for (std::uint64_t space : {std::uint64_t{1}, std::uint64_t{5}, std::uint64_t{400}, std::uint64_t{1'000'003},
                              std::uint64_t{1} << 32, std::uint64_t{1} << 63})
    cases.push_back({routing_kind::range, 64, space});
  return cases;
}

}  // namespace

TEST(routing, every_key_goes_to_the_partition_the_old_routing_switch_chose) {
  const auto strings = string_keys();
  for (const auto& c : every_routing())
    for (unsigned partitions : {1u, 2u, 3u, 7u, 16u, 17u, 64u, 1000u}) {
      SCOPED_TRACE(std::string(to_string(c.kind)) + " partitions=" + std::to_string(partitions) +
                   " virtual_nodes=" + std::to_string(c.virtual_nodes) + " key_space=" + std::to_string(c.key_space));
      const reference::routing old(c.kind, partitions, c.virtual_nodes, c.key_space);
      const partitioned_store store({.partitions = partitions, .routing = c.kind, .virtual_nodes = c.virtual_nodes,
                                     .key_space = c.key_space});
      std::size_t differ = 0;
      for (std::uint64_t k : integer_keys(partitions, c.key_space))
        if (store.partition_of(k) != old.of(k) && ++differ <= 5) ADD_FAILURE() << "integer key " << k;
      for (const auto& k : strings)
        if (store.partition_of(std::string_view(k)) != old.of(std::string_view(k)) && ++differ <= 5)
          ADD_FAILURE() << "string key '" << k << "'";
      EXPECT_EQ(differ, 0u);
    }
}
