// hotshard/coalescing_cache.hpp — a read-through cache that stops thundering
// herds: TTL, single-flight on misses, stale-while-revalidate, probabilistic
// early refresh, short-lived negative entries, bounded size.
//
// Algorithm. Entries live in S shards, each an LRU list + hash map under its
// own mutex (held only for O(1) map work and eviction, never across a load).
// A miss loads through single_flight (hotshard/single_flight.hpp), so N
// concurrent misses on a key become one backend call. Around it:
//  - stale-while-revalidate (Varnish "grace", RFC 5861): for `grace` after
//    expiry, the first caller refreshes and every other caller is served the
//    old value at once (counted as stale_served);
//  - XFetch probabilistic early expiration (Vattani, Chierichetti, Lowenstein,
//    "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015,
//    https://doi.org/10.14778/2757807.2757813): a fresh hit refreshes early
//    when  now − δ·β·ln(u) ≥ expiry, δ = how long the last load took, u
//    uniform in (0, 1], β the eagerness (0 turns it off). One refresh per key
//    at a time; the others keep reading the cached value;
//  - errors: a failed load is remembered for `negative_ttl` only (callers in
//    that window get the same exception without a backend call), then the
//    next caller loads again; a failed refresh keeps the old value;
//  - invalidate(key): drops the entry, makes the in-flight load of the key (if
//    any) not joinable and not stored (a tombstone carries the invalidation
//    sequence number, a load that started before it is not cached).
// Clock and random source are injectable (options::clock_ns, uniform01), so
// tests are deterministic. `coalesce = false` turns single-flight off: the
// "ttl_cache" baseline of the benchmarks (with grace = 0, beta = 0).
//
// Progress: get and invalidate are blocking (a shard mutex, O(1) work under
// it; get also waits for a load in flight). stats is wait-free.
// What a reader sees: a value at most ttl + grace old (as measured by the
// injected clock), or one loaded by its own call or a concurrent one.
// Memory ordering: values cross threads under the shard mutex or through
// single_flight (see its header); the statistics are relaxed counters, exact
// once the calls have returned.
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/single_flight.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hotshard {

struct coalescing_cache_options {
  std::size_t capacity = 4096;                             // entries, over all shards (tombstones included)
  std::size_t shards = 16;
  std::chrono::nanoseconds ttl = std::chrono::seconds(1);  // fresh for this long after a load
  std::chrono::nanoseconds grace{0};                       // then served stale while one refresh runs
  std::chrono::nanoseconds negative_ttl = std::chrono::milliseconds(100);  // an error is remembered this long
  double beta = 1.0;                                       // XFetch eagerness; 0 = no early refresh
  bool coalesce = true;                                    // false: every miss calls the loader
  std::size_t flight_capacity = 1024;                      // single_flight table size
  std::function<std::int64_t()> clock_ns;                  // empty: steady_clock
  std::function<double()> uniform01;                       // in (0, 1]; empty: a thread-local generator
};

struct coalescing_cache_stats {
  std::uint64_t gets = 0;
  std::uint64_t hits = 0;             // fresh value served
  std::uint64_t stale_served = 0;     // old value served during a refresh (grace or early)
  std::uint64_t misses = 0;           // caller had to wait for a load
  std::uint64_t backend_calls = 0;    // loader invocations
  std::uint64_t early_refreshes = 0;  // XFetch refreshes
  std::uint64_t errors = 0;           // failed loads
  std::uint64_t negative_hits = 0;    // remembered error served without a backend call
};

template <class Key, class Value, class Hash = std::hash<Key>>
class coalescing_cache {
 public:
  using key_type = Key;
  using value_type = Value;
  using options = coalescing_cache_options;

  explicit coalescing_cache(options o = {})
      : opt_(std::move(o)), flights_(opt_.flight_capacity), shards_(std::max<std::size_t>(1, opt_.shards)) {
    per_shard_ = std::max<std::size_t>(1, opt_.capacity / shards_.size());
  }

  // The cached value of `key`, loading it with `loader()` when needed.
  template <class Loader>
  Value get(const Key& key, Loader&& loader) {
    bump(gets_);
    const std::int64_t now = now_ns();
    shard& sh = shard_of(key);
    std::optional<Value> fallback;  // an old value to serve if the refresh fails
    std::uint64_t start_seq = 0;
    bool refresh = false;
    {
      std::scoped_lock lock(sh.mutex);
      start_seq = sh.seq;
      auto it = sh.map.find(key);
      if (it != sh.map.end() && !it->second.tombstone) {
        entry& e = it->second;
        if (e.error) {
          if (now < e.expiry) {
            bump(negative_hits_);
            std::rethrow_exception(e.error);
          }
        } else if (now < e.expiry) {
          touch(sh, e);
          if (e.refreshing || !early(now, e)) {
            bump(hits_);  // fresh, even if an early refresh is running
            return *e.value;
          }
          bump(early_refreshes_);
          refresh = true;
        } else if (now < e.expiry + opt_.grace.count()) {
          touch(sh, e);
          if (e.refreshing) {
            bump(stale_served_);
            return *e.value;
          }
          refresh = true;
        }
        if (refresh) {
          e.refreshing = true;
          fallback = e.value;
        }
      }
    }
    if (!refresh) bump(misses_);
    auto load = [&]() -> Value {
      bump(backend_calls_);
      const std::int64_t t0 = now_ns();
      try {
        Value v = loader();
        store_value(key, v, now_ns() - t0, start_seq);
        return v;
      } catch (...) {
        bump(errors_);
        store_error(key, std::current_exception(), start_seq);
        throw;
      }
    };
    try {
      if (!opt_.coalesce) return load();
      return flights_.run(key, load).value;
    } catch (...) {
      if (fallback) return std::move(*fallback);
      throw;
    }
  }

  // Drops `key`; a load of it already running is neither joined nor stored.
  void invalidate(const Key& key) {
    shard& sh = shard_of(key);
    {
      std::scoped_lock lock(sh.mutex);
      entry& e = upsert(sh, key);
      e = entry{std::nullopt, nullptr, 0, 0, false, true, ++sh.seq, e.lru};
    }
    flights_.forget(key);
  }

  [[nodiscard]] coalescing_cache_stats stats() const noexcept {
    auto r = [](const detail::padded<std::atomic<std::uint64_t>>& c) { return c->load(std::memory_order_relaxed); };
    return {r(gets_), r(hits_), r(stale_served_), r(misses_), r(backend_calls_), r(early_refreshes_), r(errors_),
            r(negative_hits_)};
  }
  [[nodiscard]] single_flight_stats flight_stats() const noexcept { return flights_.stats(); }

  // Entries held (values, errors and tombstones). Takes every shard lock.
  [[nodiscard]] std::size_t size() const {
    std::size_t n = 0;
    for (const auto& sh : shards_) {
      std::scoped_lock lock(sh.mutex);
      n += sh.map.size();
    }
    return n;
  }

 private:
  struct entry {
    std::optional<Value> value;
    std::exception_ptr error;
    std::int64_t expiry = 0;
    std::int64_t delta = 0;  // duration of the load that produced it (XFetch δ)
    bool refreshing = false;
    bool tombstone = false;
    std::uint64_t tomb_seq = 0;
    typename std::list<Key>::iterator lru;
  };
  struct shard {
    mutable std::mutex mutex;
    std::unordered_map<Key, entry, Hash> map;
    std::list<Key> order;  // front = most recently used
    std::uint64_t seq = 0;
  };

  std::int64_t now_ns() const {
    if (opt_.clock_ns) return opt_.clock_ns();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  double uniform01() const {
    if (opt_.uniform01) return opt_.uniform01();
    thread_local std::uint64_t state = detail::mix64(reinterpret_cast<std::uintptr_t>(&state));
    state += 0x9e3779b97f4a7c15ULL;
    return (static_cast<double>(detail::mix64(state) >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  }
  bool early(std::int64_t now, const entry& e) const {
    if (opt_.beta <= 0) return false;
    const double gap = -static_cast<double>(e.delta) * opt_.beta * std::log(uniform01());
    return static_cast<double>(now) + gap >= static_cast<double>(e.expiry);
  }

  shard& shard_of(const Key& key) {
    return shards_[detail::reduce(detail::hash_key(key, Hash{}), shards_.size())];
  }
  static void touch(shard& sh, entry& e) { sh.order.splice(sh.order.begin(), sh.order, e.lru); }

  // The entry of `key`, created (and the LRU tail evicted) if absent. Lock held.
  entry& upsert(shard& sh, const Key& key) {
    auto it = sh.map.find(key);
    if (it != sh.map.end()) {
      touch(sh, it->second);
      return it->second;
    }
    while (sh.map.size() >= per_shard_ && !sh.order.empty()) {
      sh.map.erase(sh.order.back());
      sh.order.pop_back();
    }
    sh.order.push_front(key);
    entry& e = sh.map[key];
    e.lru = sh.order.begin();
    return e;
  }

  // A load that started before an invalidation of its key is not stored.
  static bool invalidated_since(const shard& sh, const Key& key, std::uint64_t start_seq) {
    auto it = sh.map.find(key);
    return it != sh.map.end() && it->second.tombstone && it->second.tomb_seq > start_seq;
  }

  void store_value(const Key& key, const Value& v, std::int64_t delta, std::uint64_t start_seq) {
    shard& sh = shard_of(key);
    std::scoped_lock lock(sh.mutex);
    if (invalidated_since(sh, key, start_seq)) return;
    entry& e = upsert(sh, key);
    const auto lru = e.lru;
    e = entry{v, nullptr, now_ns() + opt_.ttl.count(), delta, false, false, 0, lru};
  }

  void store_error(const Key& key, std::exception_ptr err, std::uint64_t start_seq) {
    shard& sh = shard_of(key);
    std::scoped_lock lock(sh.mutex);
    if (invalidated_since(sh, key, start_seq)) return;
    entry& e = upsert(sh, key);
    if (e.value && !e.tombstone) {  // a failed refresh keeps the old value; the next caller may retry
      e.refreshing = false;
      return;
    }
    const auto lru = e.lru;
    e = entry{std::nullopt, std::move(err), now_ns() + opt_.negative_ttl.count(), 0, false, false, 0, lru};
  }

  static void bump(detail::padded<std::atomic<std::uint64_t>>& c) noexcept {
    c->fetch_add(1, std::memory_order_relaxed);  // statistics only, no ordering
  }

  options opt_;
  single_flight<Key, Value, Hash> flights_;
  std::vector<shard> shards_;
  std::size_t per_shard_ = 1;
  detail::padded<std::atomic<std::uint64_t>> gets_, hits_, stale_served_, misses_, backend_calls_, early_refreshes_,
      errors_, negative_hits_;
};

}  // namespace hotshard
