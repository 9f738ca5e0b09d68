// harness/contenders/counters.hpp — every counter the counters family compares,
// behind the `counter` / `keyed_counter` concepts, and the family's registry.
//
// Baselines and peers are thin adapters; ours are instantiated with
// detail::counting_stats so a run reports cas_failures_per_op. The registry
// functions call `f.template operator()<Adapter>(name, description)` for each
// contender, in display order; the scenario and bench-counters both iterate it,
// so adding a contender is one adapter and one line here.
//
// Construction: a counter is default-constructible; a keyed counter takes the
// number of distinct keys it should expect (a sizing hint; only `salted` has a
// fixed capacity, which it sets to twice the hint, rounded up).
//
// Reads of tbb_ets / tbb_combinable are not thread-safe against adds (their
// elements are plain integers): the harness reads them only after the workers
// stopped.
//
// Fairness of the adapters (no peer handicapped, ours not flattered):
//  - every counter object is padded to its own cache lines (`mutex` included),
//    so C counters side by side in a Zipf run do not false-share;
//  - tbb_ets is offered in both of oneTBB's flavours: the default ets_no_key
//    (a hash of thread ids) and ets_key_per_instance (one native TLS key per
//    instance, the faster lookup oneTBB documents). The latter uses up one of
//    the process's PTHREAD_KEYS_MAX (1024) keys per live instance, and oneTBB
//    ignores a failed pthread_key_create, so the adapter refuses (length_error)
//    to exist more than max_instances times at once;
//  - every keyed contender hashes keys with the same mixer, detail::mix64 (the
//    one salted uses internally), so unscrambled Zipf ranks — consecutive small
//    integers — do not share tbb's bucket locks or cluster in unordered_map.
#pragma once

#include <hotshard/concepts/counter.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/per_thread_counter.hpp>
#include <hotshard/salted_counter_map.hpp>
#include <hotshard/striped_counter.hpp>

#include "contenders/counters_peers.hpp"

#include <tbb/combinable.h>
#include <tbb/concurrent_hash_map.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/version.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace hotshard::contenders {

// --- one logical counter ------------------------------------------------------

class atomic_counter {
 public:
  void add(std::int64_t d) noexcept { v_->fetch_add(d, std::memory_order_relaxed); }  // a count orders nothing
  [[nodiscard]] std::int64_t read() const noexcept { return v_->load(std::memory_order_relaxed); }

 private:
  detail::padded<std::atomic<std::int64_t>> v_;
};

// alignas: one counter per cache-line pair, whatever the allocator packs together.
class alignas(detail::prefetch_pair_bytes) mutex_counter {
 public:
  void add(std::int64_t d) {
    std::scoped_lock lock(m_);
    v_ += d;
  }
  [[nodiscard]] std::int64_t read() const {
    std::scoped_lock lock(m_);
    return v_;
  }

 private:
  mutable std::mutex m_;
  std::int64_t v_ = 0;
};

class tbb_ets_counter {
 public:
  void add(std::int64_t d) { ets_.local() += d; }
  [[nodiscard]] std::int64_t read() const { return ets_.combine(std::plus<>{}); }

 private:
  mutable tbb::enumerable_thread_specific<std::int64_t> ets_{std::int64_t{0}};
};

class tbb_ets_key_counter {
 public:
  // Below PTHREAD_KEYS_MAX (1024), leaving room for the keys of libc, TBB, the allocator.
  static constexpr std::size_t max_instances = 512;

  tbb_ets_key_counter() : slot_(claim()) {}
  ~tbb_ets_key_counter() { live().fetch_sub(1, std::memory_order_relaxed); }  // a count orders nothing
  tbb_ets_key_counter(const tbb_ets_key_counter&) = delete;
  tbb_ets_key_counter& operator=(const tbb_ets_key_counter&) = delete;

  void add(std::int64_t d) { ets_.local() += d; }
  [[nodiscard]] std::int64_t read() const { return ets_.combine(std::plus<>{}); }

 private:
  static std::atomic<std::size_t>& live() {
    static std::atomic<std::size_t> n{0};
    return n;
  }
  static bool claim() {
    if (live().fetch_add(1, std::memory_order_relaxed) >= max_instances) {  // a count orders nothing
      live().fetch_sub(1, std::memory_order_relaxed);
      throw std::length_error("tbb_ets_key: more than 512 live instances (one pthread key each)");
    }
    return true;
  }
  bool slot_;  // claimed before ets_ creates its key (members initialise in order)
  mutable tbb::enumerable_thread_specific<std::int64_t, tbb::cache_aligned_allocator<std::int64_t>,
                                          tbb::ets_key_per_instance>
      ets_{std::int64_t{0}};
};

class tbb_combinable_counter {
 public:
  void add(std::int64_t d) { c_.local() += d; }
  [[nodiscard]] std::int64_t read() const { return c_.combine(std::plus<>{}); }

 private:
  mutable tbb::combinable<std::int64_t> c_{[] { return std::int64_t{0}; }};
};

using striped_contender = striped_counter<policy::count_contention>;
using per_thread_contender = per_thread_counter<policy::count_contention>;

static_assert(concepts::counter<thread_private_counter>);
static_assert(concepts::counter<atomic_counter> && concepts::counter<mutex_counter> && concepts::counter<tbb_ets_counter> &&
              concepts::counter<tbb_ets_key_counter> && concepts::counter<tbb_combinable_counter> &&
              concepts::counter<striped_contender> && concepts::counter<per_thread_contender>);

template <class F>
void for_each_counter(F&& f) {
  f.template operator()<atomic_counter>("atomic", "one std::atomic<int64_t>, fetch_add (baseline)");
  f.template operator()<mutex_counter>("mutex", "int64_t under std::mutex (baseline)");
  f.template operator()<tbb_ets_counter>("tbb_ets", "oneTBB " TBB_VERSION_STRING " tbb::enumerable_thread_specific<int64_t>, combine on read");
  f.template operator()<tbb_ets_key_counter>(
      "tbb_ets_key", "oneTBB " TBB_VERSION_STRING " tbb::enumerable_thread_specific<int64_t, ..., ets_key_per_instance>, combine on read");
  f.template operator()<tbb_combinable_counter>("tbb_combinable", "oneTBB " TBB_VERSION_STRING " tbb::combinable<int64_t>, combine on read");
  f.template operator()<striped_contender>("striped", "ours: LongAdder-style cells grown on CAS contention");
  f.template operator()<thread_private_counter>(
      "thread_private", "hand-written limit: padded slot per thread (relaxed load + store), read sums every slot; "
      "wait-free, not a library");
  f.template operator()<per_thread_contender>("per_thread", "ours: owner-written padded slot per thread, summed on read");
}

// --- many logical counters, by key ---------------------------------------------

// The one hash every keyed contender uses: detail::mix64, a bijective mixer
// (salted_counter_map applies it internally).
struct mix_hash {
  [[nodiscard]] std::size_t operator()(std::uint64_t k) const noexcept {
    return static_cast<std::size_t>(detail::mix64(k));
  }
};
struct mix_hash_compare {  // tbb's HashCompare shape
  [[nodiscard]] static std::size_t hash(std::uint64_t k) noexcept { return mix_hash{}(k); }
  [[nodiscard]] static bool equal(std::uint64_t a, std::uint64_t b) noexcept { return a == b; }
};

class tbb_chm_counter {
 public:
  using hash_compare = mix_hash_compare;
  explicit tbb_chm_counter(std::size_t expected_keys) : map_(expected_keys) {}
  bool add(std::uint64_t key, std::int64_t d) {
    map_type::accessor a;  // write lock on the element
    map_.insert(a, key);
    a->second += d;
    return true;
  }
  [[nodiscard]] std::int64_t read(std::uint64_t key) const {
    map_type::const_accessor a;
    return map_.find(a, key) ? a->second : 0;
  }

 private:
  using map_type = tbb::concurrent_hash_map<std::uint64_t, std::int64_t, hash_compare>;
  map_type map_;
};

class mutex_map_counter {
 public:
  using hasher = mix_hash;
  explicit mutex_map_counter(std::size_t expected_keys) { map_.reserve(expected_keys); }
  bool add(std::uint64_t key, std::int64_t d) {
    std::scoped_lock lock(m_);
    map_[key] += d;
    return true;
  }
  [[nodiscard]] std::int64_t read(std::uint64_t key) const {
    std::scoped_lock lock(m_);
    const auto it = map_.find(key);
    return it == map_.end() ? 0 : it->second;
  }

 private:
  mutable std::mutex m_;
  std::unordered_map<std::uint64_t, std::int64_t, hasher> map_;
};

class salted_contender {
 public:
  // Fixed capacity: twice the expected keys (load ≤ 0.5), at least 1024.
  explicit salted_contender(std::size_t expected_keys)
      : map_({.capacity = std::bit_ceil(std::max<std::size_t>(2 * expected_keys, 1024))}) {}
  bool add(std::uint64_t key, std::int64_t d) { return map_.add(key, d); }
  [[nodiscard]] std::int64_t read(std::uint64_t key) const { return map_.read(key); }
  salted_counter_map<std::uint64_t, policy::count_contention>& map() noexcept { return map_; }

 private:
  salted_counter_map<std::uint64_t, policy::count_contention> map_;
};

using cuckoo_counter = cuckoo_counter_of<mix_hash>;

static_assert(concepts::keyed_counter<cuckoo_counter, std::uint64_t> &&
              concepts::keyed_counter<absl_sharded_counter, std::uint64_t>);
static_assert(concepts::keyed_counter<tbb_chm_counter, std::uint64_t> &&
              concepts::keyed_counter<mutex_map_counter, std::uint64_t> &&
              concepts::keyed_counter<salted_contender, std::uint64_t>);

template <class F>
void for_each_keyed_counter(F&& f) {
  f.template operator()<tbb_chm_counter>("tbb_chm",
                                         "oneTBB " TBB_VERSION_STRING " tbb::concurrent_hash_map<uint64_t, int64_t>, mix64 hash, accessor per add: blocking");
  f.template operator()<mutex_map_counter>("mutex_map",
                                           "std::unordered_map (mix64 hash) under one std::mutex (baseline)");
  f.template operator()<cuckoo_counter>(
      "libcuckoo", HOTSHARD_CUCKOO " cuckoohash_map::upsert, mix64 hash, sized by the key hint: blocking (spinlock "
      "per bucket), not lock-free");
  f.template operator()<absl_sharded_counter>(
      "absl_sharded", HOTSHARD_ABSL " flat_hash_map behind 64 absl::Mutex shards (mix64 picks the shard): "
      "blocking");
  f.template operator()<salted_contender>("salted", "ours: open-addressing table, hot keys salted over K padded sub-counters");
}

}  // namespace hotshard::contenders
