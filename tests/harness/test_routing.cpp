// Routing (hash, ring, slots, range): the Redis slot function against the
// cluster spec, each routing's defining property, and every key going to the
// same partition as the store's routing switch sent it to before routing
// became classes — so hot-partition results stay comparable across that change.
#include <hotshard/detail/hash.hpp>
#include <hotshard/harness/routing.hpp>
#include <hotshard/harness/routing/range.hpp>
#include <hotshard/harness/routing/ring.hpp>
#include <hotshard/harness/routing/slots.hpp>
#include <hotshard/harness/scenario.hpp>
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

std::vector<std::uint64_t> load_of(const router& r, unsigned partitions, std::uint64_t keys) {
  std::vector<std::uint64_t> per(partitions, 0);
  for (std::uint64_t k = 0; k < keys; ++k) ++per[r.partition_of(k)];
  return per;
}

double max_over_mean(const std::vector<std::uint64_t>& v) {
  double sum = 0;
  for (auto x : v) sum += static_cast<double>(x);
  return static_cast<double>(*std::max_element(v.begin(), v.end())) / (sum / static_cast<double>(v.size()));
}

}  // namespace

TEST(routing_slots, crc16_matches_the_cluster_spec_check_value) {
  static_assert(crc16_xmodem("123456789") == 0x31C3);
  EXPECT_EQ(crc16_xmodem(""), 0);
}

TEST(routing_slots, key_slot_matches_redis_cluster_keyslot_examples) {
  // redis.io/commands/cluster-keyslot
  EXPECT_EQ(redis_key_slot("somekey"), 11058u);
  EXPECT_EQ(redis_key_slot("foo{hash_tag}"), 2515u);
  EXPECT_EQ(redis_key_slot("bar{hash_tag}"), 2515u);
  // The same answer as CLUSTER KEYSLOT {user1}.following on Valkey/Dragonfly.
  EXPECT_EQ(redis_key_slot("{user1}.following"), 8106u);
}

TEST(routing_slots, hash_tag_rules_follow_the_cluster_spec) {
  EXPECT_EQ(redis_key_slot("{user1000}.following"), redis_key_slot("{user1000}.followers"));
  EXPECT_EQ(redis_key_slot("{user1000}.following"), redis_key_slot("user1000"));
  // Empty tag: the whole key is hashed.
  EXPECT_EQ(redis_key_slot("foo{}{bar}"), crc16_xmodem("foo{}{bar}") % 16384u);
  // Only up to the first '}' after the first '{'.
  EXPECT_EQ(redis_key_slot("foo{{bar}}zap"), redis_key_slot("{bar"));
  EXPECT_EQ(redis_key_slot("foo{bar}{zap}"), redis_key_slot("bar"));
  // No closing brace: the whole key.
  EXPECT_EQ(redis_key_slot("foo{bar"), crc16_xmodem("foo{bar") % 16384u);
}

TEST(routing_slots, integer_keys_route_as_their_decimal_string) {
  const slots_router s({.partitions = 3});
  for (std::uint64_t k : {0ull, 7ull, 12345ull, 18446744073709551615ull}) {
    const std::string text = std::to_string(k);
    EXPECT_EQ(s.partition_of(k), s.partition_of(std::string_view(text)));
    EXPECT_EQ(s.partition_of(k), redis_key_slot(text) * 3u / 16384u);
  }
  const slots_router tags({.partitions = 16});
  EXPECT_EQ(tags.partition_of(std::string_view("{user1000}.following")),
            tags.partition_of(std::string_view("{user1000}.followers")));
}

TEST(routing_ring, balance_improves_with_virtual_nodes) {
  const ring_router one({.partitions = 16, .virtual_nodes = 1});
  const ring_router many({.partitions = 16, .virtual_nodes = 256});
  const double skew_one = max_over_mean(load_of(one, 16, 200'000));
  const double skew_many = max_over_mean(load_of(many, 16, 200'000));
  EXPECT_LT(skew_many, 1.35);
  EXPECT_LT(skew_many, skew_one);
}

TEST(routing_ring, moves_keys_only_to_an_added_partition) {
  const ring_router before({.partitions = 16, .virtual_nodes = 64});
  const ring_router after({.partitions = 17, .virtual_nodes = 64});
  std::uint64_t moved = 0;
  for (std::uint64_t k = 0; k < 100'000; ++k) {
    const unsigned a = before.partition_of(k), b = after.partition_of(k);
    if (a != b) {
      EXPECT_EQ(b, 16u) << "key " << k << " moved between old partitions";
      ++moved;
    }
  }
  // About 1/17 of the keys move; far from the ~94% that hash mod P would move.
  EXPECT_GT(moved, 2'000u);
  EXPECT_LT(moved, 12'000u);
}

TEST(routing, hash_routing_is_balanced_and_range_routing_is_contiguous) {
  EXPECT_LT(max_over_mean(load_of(*make_router(routing_kind::hash, {.partitions = 16}), 16, 160'000)), 1.1);
  const range_router r({.partitions = 4, .key_space = 400});
  EXPECT_EQ(r.partition_of(0), 0u);
  EXPECT_EQ(r.partition_of(99), 0u);
  EXPECT_EQ(r.partition_of(100), 1u);
  EXPECT_EQ(r.partition_of(399), 3u);
  EXPECT_EQ(r.partition_of(1'000'000), 3u);  // beyond the key space: the last range
}

// The ranges' width was (key_space + P - 1) / P, which wrapped for a key
// space within P of 2^64: width 0, a division by zero on the first key.
TEST(routing_range, a_key_space_near_two_to_the_64_splits_evenly) {
  const std::uint64_t all = ~std::uint64_t{0};
  for (unsigned partitions : {2u, 3u, 16u}) {
    const range_router r({.partitions = partitions, .key_space = all});
    EXPECT_EQ(r.partition_of(0), 0u);
    const std::uint64_t width = all / partitions;
    for (unsigned p = 0; p < partitions; ++p) EXPECT_EQ(r.partition_of(p * width + width / 2), p) << "midpoint of range " << p;
    EXPECT_EQ(r.partition_of(all - 1), partitions - 1);
    EXPECT_EQ(r.partition_of(all), partitions - 1);
  }
}

TEST(routing, names_round_trip_and_a_bad_one_is_a_usage_error_listing_the_accepted) {
  for (auto kind : {routing_kind::hash, routing_kind::ring, routing_kind::slots, routing_kind::range}) {
    EXPECT_EQ(parse_routing(to_string(kind)), kind);
    EXPECT_EQ(make_router(kind, {})->kind(), kind);
    EXPECT_EQ(make_router(kind, {})->name(), to_string(kind));
  }
  try {
    (void)parse_routing("modulo");
    ADD_FAILURE() << "modulo was accepted";
  } catch (const usage_error& e) {
    EXPECT_STREQ(e.what(), "routing 'modulo' is not known; accepted: hash, ring, slots, range");
  }
}

TEST(routing, parameters_a_routing_cannot_use_are_usage_errors_naming_them) {
  const auto message_of = [](routing_kind kind, const routing_params& params) -> std::string {
    try {
      (void)make_router(kind, params);
    } catch (const usage_error& e) {
      return e.what();
    }
    return "accepted";
  };
  for (auto kind : {routing_kind::hash, routing_kind::ring, routing_kind::slots, routing_kind::range})
    EXPECT_EQ(message_of(kind, {.partitions = 0}), "store: partitions must be at least 1") << to_string(kind);
  EXPECT_EQ(message_of(routing_kind::ring, {.virtual_nodes = 0}), "store: virtual_nodes must be at least 1 for ring routing");
  EXPECT_EQ(message_of(routing_kind::range, {.key_space = 0}), "store: key_space must be at least 1 for range routing");
  // A routing ignores the parameters it does not use.
  EXPECT_EQ(message_of(routing_kind::hash, {.virtual_nodes = 0, .key_space = 0}), "accepted");
}

TEST(routing, every_key_goes_to_the_partition_the_old_routing_switch_chose) {
  const auto strings = string_keys();
  for (const auto& c : every_routing())
    for (unsigned partitions : {1u, 2u, 3u, 7u, 16u, 17u, 64u, 1000u}) {
      SCOPED_TRACE(std::string(to_string(c.kind)) + " partitions=" + std::to_string(partitions) +
                   " virtual_nodes=" + std::to_string(c.virtual_nodes) + " key_space=" + std::to_string(c.key_space));
      const reference::routing old(c.kind, partitions, c.virtual_nodes, c.key_space);
      const auto now = make_router(c.kind, {.partitions = partitions, .virtual_nodes = c.virtual_nodes,
                                            .key_space = c.key_space});
      // The store asks its router; checked too, so the store cannot route by anything else.
      const partitioned_store store({.partitions = partitions, .routing = c.kind, .virtual_nodes = c.virtual_nodes,
                                     .key_space = c.key_space});
      std::size_t differ = 0;
      for (std::uint64_t k : integer_keys(partitions, c.key_space))
        if ((now->partition_of(k) != old.of(k) || store.partition_of(k) != old.of(k)) && ++differ <= 5)
          ADD_FAILURE() << "integer key " << k;
      for (const auto& k : strings) {
        const std::string_view key(k);
        if ((now->partition_of(key) != old.of(key) || store.partition_of(key) != old.of(key)) && ++differ <= 5)
          ADD_FAILURE() << "string key '" << k << "'";
      }
      EXPECT_EQ(differ, 0u);
    }
}
