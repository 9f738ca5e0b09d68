// harness/contenders/counters_peers.hpp — issue 14's counter peers, behind the
// `counter` / `keyed_counter` concepts; contenders/counters.hpp includes this
// header and registers them.
//
//  - thread_private: the practical limit of a counter, written by hand — one
//    padded slot per thread, the owner's add a relaxed load and store (no
//    read-modify-write), read = the sum of the slots of every thread index
//    handed out so far. Thread indices come from one process-wide pool
//    (thread_index::mine(), at most 256 live threads; an exiting thread's index
//    is reused, and its count stays in the slot for the next owner). Wait-free.
//  - libcuckoo: cuckoohash_map::upsert (its documented way to update a value
//    in place), sized by the key hint; mix64 hash like every keyed contender.
//    Fine-grained spinlocks per bucket pair: blocking, spinning.
//  - absl_sharded: absl::flat_hash_map behind N = 64 absl::Mutex shards (the
//    shard from mix64's top bits; inside a shard absl's own default hash, as
//    absl recommends). Blocking (absl::Mutex spins briefly, then sleeps).
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/hash.hpp>

#include <absl/base/config.h>
#include <absl/container/flat_hash_map.h>
#include <absl/synchronization/mutex.h>
#include <libcuckoo/cuckoohash_map.hh>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#ifndef HOTSHARD_PEER_VERSION_CUCKOO
#define HOTSHARD_PEER_VERSION_CUCKOO "unknown"
#endif
#ifndef HOTSHARD_PEER_VERSION_ABSL
#define HOTSHARD_PEER_VERSION_ABSL "unknown"
#endif

namespace hotshard::contenders {

// A small dense index per live thread, for slot arrays. Taken on a thread's
// first call, returned when it exits; the pool's mutex orders one owner's last
// writes to its slots before the next owner's first.
class thread_index {
 public:
  static constexpr std::size_t max_threads = 256;

  static std::size_t mine() {
    thread_local const holder h;
    return h.id;
  }
  // Every index below this was handed out at some point (acquire: pairs with
  // the release in take(), so a reader sums every slot a writer could use).
  static std::size_t high_water() noexcept { return pool().high.load(std::memory_order_acquire); }

 private:
  struct state {
    std::mutex m;
    std::vector<std::size_t> free;
    std::size_t next = 0;
    std::atomic<std::size_t> high{0};
  };
  static state& pool() {
    static state s;
    return s;
  }
  static std::size_t take() {
    state& s = pool();
    std::scoped_lock lock(s.m);
    if (!s.free.empty()) {
      const std::size_t id = s.free.back();
      s.free.pop_back();
      return id;
    }
    if (s.next == max_threads) throw std::length_error("thread_private: more than 256 live threads");
    s.high.store(s.next + 1, std::memory_order_release);  // release: pairs with high_water()
    return s.next++;
  }
  struct holder {
    std::size_t id = take();
    holder() = default;
    holder(const holder&) = delete;
    holder& operator=(const holder&) = delete;
    ~holder() {
      state& s = pool();
      std::scoped_lock lock(s.m);
      s.free.push_back(id);
    }
  };
};

class thread_private_counter {
 public:
  thread_private_counter() : slots_(std::make_unique<slot[]>(thread_index::max_threads)) {}
  void add(std::int64_t d) {
    auto& v = slots_[thread_index::mine()].value;
    // Relaxed: only this thread writes the slot; a count orders nothing.
    v.store(v.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  [[nodiscard]] std::int64_t read() const noexcept {
    std::int64_t sum = 0;
    const std::size_t n = thread_index::high_water();
    for (std::size_t i = 0; i < n; ++i) sum += slots_[i].value.load(std::memory_order_relaxed);  // a count orders nothing
    return sum;
  }

 private:
  using slot = detail::padded<std::atomic<std::int64_t>>;
  std::unique_ptr<slot[]> slots_;
};

// Hash: contenders::mix_hash (counters.hpp instantiates it as cuckoo_counter).
template <class Hash>
class cuckoo_counter_of {
 public:
  using hasher = Hash;
  explicit cuckoo_counter_of(std::size_t expected_keys) : map_(expected_keys) {}
  bool add(std::uint64_t key, std::int64_t d) {
    map_.upsert(key, [d](std::int64_t& v) { v += d; }, d);
    return true;
  }
  [[nodiscard]] std::int64_t read(std::uint64_t key) const {
    std::int64_t v = 0;
    return map_.find(key, v) ? v : 0;
  }

 private:
  libcuckoo::cuckoohash_map<std::uint64_t, std::int64_t, hasher> map_;
};

class absl_sharded_counter {
 public:
  static constexpr unsigned shard_bits = 6;  // 64 shards
  explicit absl_sharded_counter(std::size_t expected_keys) : shards_(std::size_t{1} << shard_bits) {
    for (auto& s : shards_) s.map.reserve(expected_keys >> shard_bits);
  }
  bool add(std::uint64_t key, std::int64_t d) {
    shard& s = shard_of(key);
    absl::MutexLock lock(&s.m);
    s.map[key] += d;
    return true;
  }
  [[nodiscard]] std::int64_t read(std::uint64_t key) const {
    const shard& s = shard_of(key);
    absl::MutexLock lock(&s.m);
    const auto it = s.map.find(key);
    return it == s.map.end() ? 0 : it->second;
  }

 private:
  struct alignas(detail::prefetch_pair_bytes) shard {
    mutable absl::Mutex m;
    absl::flat_hash_map<std::uint64_t, std::int64_t> map;
  };
  shard& shard_of(std::uint64_t key) { return shards_[detail::mix64(key) >> (64 - shard_bits)]; }
  const shard& shard_of(std::uint64_t key) const { return shards_[detail::mix64(key) >> (64 - shard_bits)]; }
  std::vector<shard> shards_;
};

#define HOTSHARD_CUCKOO "libcuckoo " HOTSHARD_PEER_VERSION_CUCKOO
#define HOTSHARD_ABSL "abseil " HOTSHARD_PEER_VERSION_ABSL

}  // namespace hotshard::contenders
