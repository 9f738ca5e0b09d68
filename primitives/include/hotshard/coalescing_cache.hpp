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
//    any) not joinable (single_flight::forget) and not stored: each shard
//    keeps 64 invalidation epochs indexed by key hash; a get reads its key's
//    epoch when it starts, invalidate bumps it, and a load (or refresh)
//    stores only if the epoch is unchanged, all under the shard mutex. An
//    epoch is never evicted or overwritten (the tombstone it replaces could
//    be, and then a load begun before the invalidation was cached: the
//    refresh race of ben-manes/caffeine#193). Keys sharing an epoch cost
//    each other at worst a spare miss.
// Clock and random source are injectable (options::clock_ns, uniform01), so
// tests are deterministic. `coalesce = false` turns single-flight off: the
// "ttl_cache" baseline of the benchmarks (with grace = 0, beta = 0).
//
// Bounds and bad input: size() never exceeds capacity (with more shards than
// capacity, only `capacity` shards are used; the per-shard limits add up to
// capacity). ttl / negative_ttl = nanoseconds::max() never expire (expiry
// saturates). The constructor rejects capacity 0, shards outside [1, 65536],
// negative durations, beta NaN / infinite / negative and flight_capacity
// outside [1, 2^32] with std::invalid_argument naming the field. Sharding
// and the maps hash with a per-instance seed (options::seed, random if empty).
// The Stats policy is passed to the flight table (and its schedule_point, if
// any, is also called between the cache's own steps: tests inject yields).
//
// Progress: get and invalidate are blocking (a shard mutex, O(1) work under
// it; get also waits for a load in flight). stats is wait-free.
// What a reader sees: a value at most ttl + grace old (as measured by the
// injected clock), or one loaded by its own call or a concurrent one — never
// one loaded by a load that began before an invalidate(key) which returned
// before the get began (tests/single_flight: regressions and the noise stress).
// Memory ordering: values cross threads under the shard mutex or through
// single_flight (see its header); the statistics are relaxed counters, exact
// once the calls have returned.
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/sf_timed_wait.hpp>
#include <hotshard/single_flight.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

namespace hotshard {

struct coalescing_cache_options {
  std::size_t capacity = 4096;                             // entries (values and errors), over all shards; >= 1
  std::size_t shards = 16;                                 // in [1, 65536]; more shards than capacity: capacity used
  std::chrono::nanoseconds ttl = std::chrono::seconds(1);  // fresh for this long after a load; max() = never expires
  std::chrono::nanoseconds grace{0};                       // then served stale while one refresh runs
  std::chrono::nanoseconds negative_ttl = std::chrono::milliseconds(100);  // an error is remembered this long
  double beta = 1.0;                                       // XFetch eagerness; 0 = no early refresh; finite, >= 0
  bool coalesce = true;                                    // false: every miss calls the loader
  std::size_t flight_capacity = 1024;                      // single_flight table size, in [1, 2^32]
  std::function<std::int64_t()> clock_ns;                  // empty: steady_clock
  std::function<double()> uniform01;                       // in (0, 1]; empty: a thread-local generator
  std::optional<std::uint64_t> seed;                       // hash seed; empty: a random one per instance
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

template <class Key, class Value, class Hash = std::hash<Key>, class Stats = detail::no_stats>
class coalescing_cache {
 public:
  using key_type = Key;
  using value_type = Value;
  using options = coalescing_cache_options;
  static constexpr std::size_t max_shards = std::size_t{1} << 16;
  static constexpr std::size_t epochs_per_shard = 64;

  // Throws std::invalid_argument naming the field for a bad option.
  explicit coalescing_cache(options o = {})
      : opt_(validated(std::move(o))),
        seed_(opt_.seed ? *opt_.seed : detail::random_seed()),
        flights_(opt_.flight_capacity, 8, detail::mix64(seed_ ^ 0x5f1c6a7e3d2b9481ULL)),
        n_shards_(std::min(opt_.shards, opt_.capacity)),
        shards_(std::make_unique<shard[]>(n_shards_)) {
    for (std::size_t i = 0; i < n_shards_; ++i) {
      // Capacity split as evenly as it goes: the limits add up to exactly `capacity`.
      shards_[i].limit = opt_.capacity / n_shards_ + (i < opt_.capacity % n_shards_ ? 1 : 0);
      shards_[i].map = map_type(0, map_hash{Hash{}, seed_});
    }
  }

  // The cached value of `key`, loading it with `loader()` when needed.
  template <class Loader>
  Value get(const Key& key, Loader&& loader) {
    bump(gets_);
    const std::int64_t now = now_ns();
    const std::uint64_t h = hash_of(key);
    shard& sh = shard_of(h);
    std::optional<Value> fallback;  // an old value to serve if the refresh fails
    std::uint64_t start_epoch = 0;
    bool refresh = false;
    {
      std::scoped_lock lock(sh.mutex);
      start_epoch = sh.epoch[epoch_of(h)];
      auto it = sh.map.find(key);
      if (it != sh.map.end()) {
        entry& e = it->second;
        if (e.error) {
          if (now < e.expiry) {
            bump(negative_hits_);
            std::rethrow_exception(e.error);
          }
        } else if (e.value && now < e.expiry) {
          touch(sh, e);
          if (e.refreshing || !early(now, e)) {
            bump(hits_);  // fresh, even if an early refresh is running
            return *e.value;
          }
          bump(early_refreshes_);
          refresh = true;
        } else if (e.value && now < sat_add(e.expiry, opt_.grace.count())) {
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
    step();
    if (!refresh) bump(misses_);
    auto load = [&]() -> Value {
      bump(backend_calls_);
      const std::int64_t t0 = now_ns();
      try {
        Value v = loader();
        step();
        store_value(key, h, v, now_ns() - t0, start_epoch);
        return v;
      } catch (...) {
        bump(errors_);
        store_error(key, h, std::current_exception(), start_epoch);
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

  // Drops `key`. When it returns, no value from a load (or refresh) of `key`
  // that began before it is ever stored, and no later call joins such a load.
  void invalidate(const Key& key) {
    const std::uint64_t h = hash_of(key);
    shard& sh = shard_of(h);
    {
      std::scoped_lock lock(sh.mutex);
      ++sh.epoch[epoch_of(h)];  // loads that read the old epoch will not store
      if (auto it = sh.map.find(key); it != sh.map.end()) {
        sh.order.erase(it->second.lru);
        sh.map.erase(it);
      }
    }
    step();
    flights_.forget(key);
  }

  [[nodiscard]] coalescing_cache_stats stats() const noexcept {
    auto r = [](const detail::padded<std::atomic<std::uint64_t>>& c) { return c->load(std::memory_order_relaxed); };
    return {r(gets_), r(hits_), r(stale_served_), r(misses_), r(backend_calls_), r(early_refreshes_), r(errors_),
            r(negative_hits_)};
  }
  [[nodiscard]] single_flight_stats flight_stats() const noexcept { return flights_.stats(); }

  // Entries held (values and errors), at most `capacity`. Takes every shard lock.
  [[nodiscard]] std::size_t size() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < n_shards_; ++i) {
      std::scoped_lock lock(shards_[i].mutex);
      n += shards_[i].map.size();
    }
    return n;
  }
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

 private:
  static constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();

  struct entry {
    std::optional<Value> value;
    std::exception_ptr error;
    std::int64_t expiry = 0;  // `never` for ttl = nanoseconds::max()
    std::int64_t delta = 0;   // duration of the load that produced it (XFetch δ)
    bool refreshing = false;
    typename std::list<Key>::iterator lru;
  };
  struct map_hash {
    [[no_unique_address]] Hash hash;
    std::uint64_t seed;
    std::size_t operator()(const Key& k) const {
      return static_cast<std::size_t>(detail::seeded_hash(detail::hash_key(k, hash), seed));
    }
  };
  using map_type = std::unordered_map<Key, entry, map_hash>;
  struct shard {
    mutable std::mutex mutex;
    map_type map;
    std::list<Key> order;  // front = most recently used
    std::size_t limit = 1;
    // Invalidation epochs, one per group of keys (by hash): invalidate bumps
    // its key's, a load stores only if its key's epoch is unchanged since the
    // load began. Never evicted or overwritten, unlike a tombstone; keys
    // sharing a group cost each other at worst a spare miss.
    std::array<std::uint64_t, epochs_per_shard> epoch{};
  };

  static options validated(options o) {
    auto bad = [](const char* what) { throw std::invalid_argument(std::string("coalescing_cache: ") + what); };
    if (o.capacity < 1) bad("capacity must be at least 1");
    if (o.shards < 1 || o.shards > max_shards) bad("shards must be in [1, 65536]");
    if (o.ttl.count() < 0) bad("ttl must not be negative");
    if (o.grace.count() < 0) bad("grace must not be negative");
    if (o.negative_ttl.count() < 0) bad("negative_ttl must not be negative");
    if (!std::isfinite(o.beta) || o.beta < 0) bad("beta must be finite and >= 0");
    if (o.flight_capacity < 1 || o.flight_capacity > single_flight<Key, Value, Hash, Stats>::max_capacity)
      bad("flight_capacity must be in [1, 2^32]");
    return o;
  }

  static void step() noexcept { detail::sf_schedule_point<Stats>(); }
  // a + b for b >= 0, saturating at `never` (ttl = nanoseconds::max() never expires).
  static std::int64_t sat_add(std::int64_t a, std::int64_t b) noexcept { return a > never - b ? never : a + b; }

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
    if (opt_.beta <= 0 || e.expiry == never) return false;
    const double gap = -static_cast<double>(e.delta) * opt_.beta * std::log(uniform01());
    return static_cast<double>(now) + gap >= static_cast<double>(e.expiry);
  }

  std::uint64_t hash_of(const Key& key) const { return detail::seeded_hash(detail::hash_key(key, Hash{}), seed_); }
  shard& shard_of(std::uint64_t h) const { return shards_[detail::reduce(h, n_shards_)]; }
  static std::size_t epoch_of(std::uint64_t h) noexcept { return h % epochs_per_shard; }  // low bits; reduce uses high
  static void touch(shard& sh, entry& e) { sh.order.splice(sh.order.begin(), sh.order, e.lru); }

  // The entry of `key`, created (and the LRU tail evicted) if absent. Lock held.
  entry& upsert(shard& sh, const Key& key) {
    auto it = sh.map.find(key);
    if (it != sh.map.end()) {
      touch(sh, it->second);
      return it->second;
    }
    while (sh.map.size() >= sh.limit && !sh.order.empty()) {
      sh.map.erase(sh.order.back());
      sh.order.pop_back();
    }
    it = sh.map.try_emplace(key).first;  // a throwing Key copy changes nothing
    try {
      sh.order.push_front(key);
    } catch (...) {
      sh.map.erase(it);
      throw;
    }
    it->second.lru = sh.order.begin();
    return it->second;
  }

  // Whether a load that read `start_epoch` may store. If not, a refresh mark
  // it set is cleared. Lock held.
  static bool may_store(shard& sh, const Key& key, std::uint64_t h, std::uint64_t start_epoch) {
    if (sh.epoch[epoch_of(h)] == start_epoch) return true;
    if (auto it = sh.map.find(key); it != sh.map.end()) it->second.refreshing = false;
    return false;
  }

  void store_value(const Key& key, std::uint64_t h, const Value& v, std::int64_t delta, std::uint64_t start_epoch) {
    std::optional<Value> copy(v);  // copied before the entry is touched: a throwing copy leaves it as it was
    shard& sh = shard_of(h);
    std::scoped_lock lock(sh.mutex);
    if (!may_store(sh, key, h, start_epoch)) return;
    entry& e = upsert(sh, key);
    e.value = std::move(copy);
    e.error = nullptr;
    e.expiry = sat_add(now_ns(), opt_.ttl.count());
    e.delta = delta;
    e.refreshing = false;
  }

  void store_error(const Key& key, std::uint64_t h, std::exception_ptr err, std::uint64_t start_epoch) {
    shard& sh = shard_of(h);
    std::scoped_lock lock(sh.mutex);
    if (!may_store(sh, key, h, start_epoch)) return;
    entry& e = upsert(sh, key);
    if (e.value) {  // a failed refresh keeps the old value; the next caller may retry
      e.refreshing = false;
      return;
    }
    e.error = std::move(err);
    e.expiry = sat_add(now_ns(), opt_.negative_ttl.count());
    e.delta = 0;
    e.refreshing = false;
  }

  static void bump(detail::padded<std::atomic<std::uint64_t>>& c) noexcept {
    c->fetch_add(1, std::memory_order_relaxed);  // statistics only, no ordering
  }

  options opt_;
  std::uint64_t seed_;
  single_flight<Key, Value, Hash, Stats> flights_;
  std::size_t n_shards_;
  std::unique_ptr<shard[]> shards_;
  detail::padded<std::atomic<std::uint64_t>> gets_, hits_, stale_served_, misses_, backend_calls_, early_refreshes_,
      errors_, negative_hits_;
};

}  // namespace hotshard
