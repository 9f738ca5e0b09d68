// harness/contenders/hot_partition.hpp — the Black Friday model: one stream
// that melts a partition of the simulated store, and the client that replays
// it with or without hotshard's primitives in front of the store.
//
// The stream (a pure function of the global operation index g in [0, N), so
// any --ops or --duration shows every phase and a run repeats exactly):
//   [0, viral_start)        steady: Zipf(n, s) keys (scrambled over [0, n)),
//                           a fraction read_fraction of them reads, the rest writes;
//   [viral_start, N)        a viral key (key n, new to the store) takes a
//                           share viral_share of all operations;
//   [herd_start, herd_end)  the cache entries of the hottest keys (the viral
//                           key and the top Zipf ranks) expire at once and every
//                           client reads them: a thundering herd.
//
// Time is simulated: the store, the cache and the write buffer read a clock
// that advances by 1/offered_rate per operation executed (a shared counter),
// so the store's per-partition token buckets see the stream's offered load
// whatever the speed of this machine, and throttling figures repeat from run
// to run. Client latency and throughput are measured on the real clock.
//
// The client, by mitigation (each a flag, combined freely):
//   salting   — a hot_key_detector sees every request; a key it reports hot is
//               promoted in a salted_counter_map (the registry of salting
//               factors) to K sub-keys that route to K distinct partitions;
//               writes go round-robin to one sub-key, reads gather all K.
//   cache     — reads go through a coalescing_cache (TTL in simulated time,
//               single-flight on misses); a loader that hits a throttled
//               partition fails and the error is remembered briefly.
//   buffer    — writes go through a write_buffer (combining sums per key within
//               a batch, drained by the clients every few operations at a
//               bounded rate); a throttled backend write is retried by the
//               buffer, never dropped; a write that finds the buffer full is
//               refused and reported to the client (write_errors).
//   adaptive  — the store lends unused capacity from cold partitions to hot ones.
// Without the buffer a throttled write is an error returned to the client
// (counted in write_errors): the client knows, nothing is silently dropped.
//
// Thread safety: execute() is called concurrently by all client threads;
// finish() and metrics() once, after they stopped.
#pragma once

#include <hotshard/coalescing_cache.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/harness/store.hpp>
#include <hotshard/hot_key_detector.hpp>
#include <hotshard/salted_counter_map.hpp>
#include <hotshard/write_buffer.hpp>
#include <hotshard/workloads/operation.hpp>
#include <hotshard/workloads/rng.hpp>
#include <hotshard/workloads/zipf.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
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

struct stream_config {
  std::uint64_t n = 1'000'000;   // Zipf key space; the viral key is n
  double s = 0.99;
  double read_fraction = 0.8;
  double viral_start = 0.3;      // fractions of the run
  double viral_share = 0.5;      // of all operations once the viral key appeared
  double herd_start = 0.7;
  double herd_length = 0.03;
  unsigned herd_keys = 8;        // the viral key + the top herd_keys - 1 Zipf ranks
};

struct client_config {
  double offered_rate = 200'000;     // simulated operations per second, all clients
  unsigned partitions = 16;
  double headroom = 2.0;             // partition capacity = headroom × offered_rate / partitions
  routing_kind routing = routing_kind::hash;
  unsigned salt = 16;                // K for a hot key (≤ partitions)
  double hot_share = 0.01;           // detector threshold φ
  std::uint64_t detector_window = 8192;
  double ttl_seconds = 0.5;          // cache TTL, simulated
  std::size_t cache_capacity = 8192;
  std::uint64_t backend_read_us = 0; // real latency of every backend read (lets a herd overlap)
  std::size_t buffer_capacity = 8192;
  std::size_t drain_every = 16;      // each client drains one batch every this many ops
};

// The op at global index g of an N-op stream. Deterministic in (seed, g).
struct stream {
  stream(stream_config c, std::uint64_t seed) : cfg(c), seed_(seed), zipf_(c.n, c.s) {
    for (unsigned r = 0; r + 1 < cfg.herd_keys; ++r) herd_.push_back(key_of_rank(r));
    herd_.push_back(viral_key());
  }

  [[nodiscard]] std::uint64_t viral_key() const noexcept { return cfg.n; }
  [[nodiscard]] std::uint64_t key_of_rank(std::uint64_t r) const noexcept { return workloads::scramble(r, cfg.n); }
  [[nodiscard]] const std::vector<std::uint64_t>& herd() const noexcept { return herd_; }

  [[nodiscard]] std::uint64_t herd_begin(std::uint64_t N) const noexcept { return at(cfg.herd_start, N); }
  [[nodiscard]] std::uint64_t herd_end(std::uint64_t N) const noexcept {
    return at(cfg.herd_start + cfg.herd_length, N);
  }

  [[nodiscard]] workloads::operation at_index(std::uint64_t g, std::uint64_t N) const noexcept {
    workloads::xoshiro256ss rng(detail::mix64(seed_ ^ detail::mix64(g + 0x9e3779b97f4a7c15ULL)));
    if (g >= herd_begin(N) && g < herd_end(N)) return {herd_[g % herd_.size()], workloads::op_kind::get};
    const bool read = rng.uniform01() < cfg.read_fraction;
    const auto op = read ? workloads::op_kind::get : workloads::op_kind::put;
    if (g >= at(cfg.viral_start, N) && rng.uniform01() < cfg.viral_share) return {viral_key(), op};
    return {key_of_rank(zipf_(rng)), op};
  }

  stream_config cfg;

 private:
  static std::uint64_t at(double fraction, std::uint64_t N) noexcept {
    return static_cast<std::uint64_t>(fraction * static_cast<double>(N));
  }
  std::uint64_t seed_;
  workloads::zipf_generator zipf_;
  std::vector<std::uint64_t> herd_;
};

// A backend read refused by a throttled partition, as a loader failure.
struct throttled_error : std::runtime_error {
  throttled_error() : std::runtime_error("partition throttled") {}
};

class client {
 public:
  client(client_config cfg, mitigations m)
      : cfg_(cfg), m_(m), period_ns_(static_cast<std::int64_t>(1e9 / cfg.offered_rate)) {
    if (cfg_.offered_rate <= 0) throw std::invalid_argument("offered_rate must be > 0");
    store_config sc;
    sc.partitions = cfg_.partitions;
    sc.routing = cfg_.routing;
    sc.capacity_ops_per_sec = cfg_.headroom * cfg_.offered_rate / cfg_.partitions;
    sc.adaptive = m_.adaptive;
    sc.clock_ns = [this] { return now_ns(); };
    sc.series_interval_seconds = 0;  // set by the scenario from the run length
    store_cfg_ = sc;
  }

  // Builds the store and the primitives; series_interval in simulated seconds.
  void start(double series_interval_seconds) {
    store_cfg_.series_interval_seconds = series_interval_seconds;
    store_ = std::make_unique<partitioned_store>(store_cfg_);
    if (m_.salting) {
      hot_key_detector_options o;
      o.hot_share = cfg_.hot_share;
      o.window = cfg_.detector_window;
      detector_ = std::make_unique<hot_key_detector<std::uint64_t>>(o);
      salted_counter_map_config sc;
      sc.capacity = 1 << 12;
      sc.hot_capacity = 256;
      sc.max_salt = cfg_.salt;
      salts_ = std::make_unique<salted_counter_map<std::uint64_t>>(sc);
    }
    if (m_.cache) {
      coalescing_cache_options o;
      o.capacity = cfg_.cache_capacity;
      o.ttl = std::chrono::nanoseconds(static_cast<std::int64_t>(cfg_.ttl_seconds * 1e9));
      o.negative_ttl = std::chrono::nanoseconds(10 * period_ns_);
      o.clock_ns = [this] { return now_ns(); };
      cache_ = std::make_unique<coalescing_cache<std::uint64_t, std::int64_t>>(o);
    }
    if (m_.buffer) {
      write_buffer_config<std::uint64_t, std::int64_t> o;
      o.capacity = cfg_.buffer_capacity;
      o.drain_thread = false;
      // A full buffer refuses the write and the client is told (write_errors):
      // blocking would stop simulated time, which only moves with requests.
      o.on_full = backpressure::fail;
      // Sink calls allowed per second: half of the whole store's capacity.
      o.rate_per_sec = 0.5 * cfg_.headroom * cfg_.offered_rate;
      o.retry_backoff = std::chrono::nanoseconds(0);
      o.clock_ns = [this] { return now_ns(); };
      buffer_ = std::make_unique<write_buffer<std::uint64_t, std::int64_t>>(
          [this](const std::uint64_t& key, const std::int64_t& delta) { return backend_write(key, delta); }, o);
    }
  }

  // One client operation (called by many threads).
  void execute(const workloads::operation& op, std::uint64_t g, std::uint64_t herd_begin,
               const std::vector<std::uint64_t>& herd) {
    clock_ns_.fetch_add(period_ns_, std::memory_order_relaxed);  // simulated time; no ordering needed
    if (g >= herd_begin && !herd_fired_.load(std::memory_order_relaxed) &&
        !herd_fired_.exchange(true, std::memory_order_relaxed)) {
      if (cache_)
        for (auto k : herd) cache_->invalidate(k);  // the hottest entries expire at once
    }
    if (detector_) {
      detector_->observe(op.key);
      if (detector_->is_hot(op.key) && salts_->salt_of(op.key) < cfg_.salt) {
        if (!salts_->promote(op.key, cfg_.salt)) failed_promotions_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (op.op == workloads::op_kind::get) {
      (void)read(op.key);
    } else {
      write_op(op.key, 1);
    }
    if (buffer_ && ++local().ops % cfg_.drain_every == 0) buffer_->drain();
  }

  // A client read: through the cache if on, gathering salted sub-keys.
  // nullopt when a partition it needed was throttled (counted in read_errors).
  std::optional<std::int64_t> read(std::uint64_t key) {
    reads_.fetch_add(1, std::memory_order_relaxed);
    try {
      if (cache_) return cache_->get(key, [&] { return backend_read(key); });
      return backend_read(key);
    } catch (const throttled_error&) {
      read_errors_.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
  }

  // After the clients stopped: settle the write buffer (advancing simulated
  // time so its token bucket and the store refill), then verify nothing was lost.
  void finish() {
    if (buffer_) {
      // Not closed first: after close() the buffer gives a refused write a few
      // more tries only, and here the store keeps refusing until time passes.
      for (std::uint64_t round = 0; buffer_->stats().lag > 0; ++round) {
        if (round > 100'000'000) throw std::runtime_error("write buffer did not settle");
        clock_ns_.fetch_add(period_ns_, std::memory_order_relaxed);
        buffer_->drain();
      }
      buffer_->close();
    }
  }

  [[nodiscard]] std::int64_t now_ns() const noexcept { return clock_ns_.load(std::memory_order_relaxed); }
  [[nodiscard]] partitioned_store& store() noexcept { return *store_; }

  // Writes the client saw succeed: applied directly, or accepted by the buffer.
  [[nodiscard]] std::uint64_t writes_accepted() const noexcept {
    return direct_writes_.load(std::memory_order_relaxed) +
           (buffer_ ? buffer_->stats().accepted : 0);
  }

  [[nodiscard]] nlohmann::json metrics() const {
    nlohmann::json j = store_->metrics();
    // The load *offered* to each partition (accepted + throttled): throttling
    // caps what a partition accepts, so skew is measured on what arrives.
    const auto acc = store_->partition_ops();
    const auto thr = store_->partition_throttled();
    std::vector<std::uint64_t> offered(acc.size());
    for (std::size_t i = 0; i < acc.size(); ++i) offered[i] = acc[i] + thr[i];
    j["partition_accepted"] = acc;
    j["partition_ops"] = offered;
    j["max_over_median"] = max_over_median(offered);
    j["accepted_max_over_median"] = store_->max_over_median();
    j["mitigations"] = m_.names();
    const std::uint64_t accepted = writes_accepted();
    const std::int64_t applied = store_->total();
    j["writes"] = writes_.load(std::memory_order_relaxed);
    j["writes_accepted"] = accepted;
    j["writes_applied"] = applied;
    j["write_errors"] = write_errors_.load(std::memory_order_relaxed);
    // Accepted writes that neither reached the store nor were reported failed.
    const std::uint64_t reported_failed = buffer_ ? buffer_->stats().failed : 0;
    j["lost"] = static_cast<std::int64_t>(accepted - reported_failed) - applied;
    j["reads"] = reads_.load(std::memory_order_relaxed);
    j["read_errors"] = read_errors_.load(std::memory_order_relaxed);
    if (cache_) {
      const auto s = cache_->stats();
      j["cache_hit_ratio"] = s.gets ? static_cast<double>(s.hits + s.stale_served) / static_cast<double>(s.gets) : 0.0;
      j["cache_loads"] = s.backend_calls;
    }
    if (buffer_) {
      const auto s = buffer_->stats();
      j["buffer_backend_writes"] = s.applied;
      j["combine_ratio"] = s.applied ? static_cast<double>(s.applied_writes) / static_cast<double>(s.applied) : 0.0;
      j["buffer_sink_failures"] = s.sink_failures;
      j["buffer_failed"] = s.failed;
    }
    if (salts_) {
      std::uint64_t salted = 0;
      for (auto k : tracked_hot_keys_) salted += salts_->salt_of(k) > 1 ? 1 : 0;
      j["hot_keys_salted"] = salted;
      j["hot_keys_tracked"] = tracked_hot_keys_.size();
      j["salt"] = cfg_.salt;
      j["failed_promotions"] = failed_promotions_.load(std::memory_order_relaxed);
    }
    return j;
  }

  // The K sub-keys of a salted key: the key itself first, then derived keys
  // (top bit set, so they never collide with stream keys) chosen so that the
  // K land on K distinct partitions (K ≤ partitions).
  [[nodiscard]] std::vector<std::uint64_t> sub_keys(std::uint64_t key, std::uint32_t k) const {
    std::vector<std::uint64_t> subs{key};
    std::vector<bool> used(store_->partitions(), false);
    used[store_->partition_of(key)] = true;
    const std::uint32_t want = std::min<std::uint32_t>(k, store_->partitions());
    for (std::uint64_t c = 1; subs.size() < want && c < 64ull * store_->partitions(); ++c) {
      const std::uint64_t cand = (std::uint64_t{1} << 63) | (detail::mix64(key ^ detail::mix64(c)) >> 1);
      const unsigned p = store_->partition_of(cand);
      if (used[p]) continue;
      used[p] = true;
      subs.push_back(cand);
    }
    return subs;
  }

  // Exact value of a key as the backend holds it (gathering its sub-keys), unmetered.
  [[nodiscard]] std::int64_t unsafe_value(std::uint64_t key) const {
    std::int64_t sum = 0;
    for (auto sk : sub_keys(key, salt_of(key))) sum += store_->value(sk);
    return sum;
  }

  [[nodiscard]] std::uint32_t salt_of(std::uint64_t key) const noexcept {
    return salts_ ? salts_->salt_of(key) : 1;
  }

 private:
  struct alignas(detail::cache_line_bytes) thread_state {
    const void* owner = nullptr;  // the client whose sub-key memo this is
    std::uint64_t ops = 0;
    std::uint64_t round_robin = 0;
    std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> subs;  // memo of sub_keys
  };
  static thread_state& local() {
    thread_local thread_state s;
    return s;
  }

  const std::vector<std::uint64_t>& cached_subs(std::uint64_t key, std::uint32_t k) {
    thread_state& ts = local();
    if (ts.owner != this || ts.subs.size() > 4096) {
      ts.subs.clear();
      ts.owner = this;
    }
    auto& v = ts.subs[key];
    if (v.size() < std::min<std::uint32_t>(k, store_->partitions())) v = sub_keys(key, k);
    return v;
  }

  bool backend_write(std::uint64_t key, std::int64_t delta) {
    const std::uint32_t k = salt_of(key);
    if (k <= 1) return store_->write(key, delta);
    const auto& subs = cached_subs(key, k);
    return store_->write(subs[local().round_robin++ % subs.size()], delta);
  }

  std::int64_t backend_read(std::uint64_t key) {
    const std::uint32_t k = salt_of(key);
    if (cfg_.backend_read_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(cfg_.backend_read_us));
    if (k <= 1) {
      auto v = store_->read(key);
      if (!v) throw throttled_error();
      return *v;
    }
    std::int64_t sum = 0;
    for (auto sk : cached_subs(key, k)) {
      auto v = store_->read(sk);
      if (!v) throw throttled_error();
      sum += *v;
    }
    return sum;
  }

  void write_op(std::uint64_t key, std::int64_t delta) {
    writes_.fetch_add(1, std::memory_order_relaxed);
    if (buffer_) {
      if (!buffer_->write(key, delta)) write_errors_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (backend_write(key, delta)) {
      direct_writes_.fetch_add(1, std::memory_order_relaxed);
    } else {
      write_errors_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  static double max_over_median(std::vector<std::uint64_t> v) {
    if (v.empty()) return 0;
    const auto mx = *std::max_element(v.begin(), v.end());
    std::sort(v.begin(), v.end());
    const std::size_t m = v.size() / 2;
    double med = v.size() % 2 ? static_cast<double>(v[m]) : (static_cast<double>(v[m - 1]) + static_cast<double>(v[m])) / 2;
    if (med < 1) med = 1;
    return static_cast<double>(mx) / med;
  }

 public:
  // The keys whose salting the report counts (the scenario passes the herd keys).
  void track_hot_keys(std::vector<std::uint64_t> keys) { tracked_hot_keys_ = std::move(keys); }

 private:
  std::vector<std::uint64_t> tracked_hot_keys_;
  client_config cfg_;
  mitigations m_;
  std::int64_t period_ns_;
  store_config store_cfg_;
  std::unique_ptr<partitioned_store> store_;
  std::unique_ptr<hot_key_detector<std::uint64_t>> detector_;
  std::unique_ptr<salted_counter_map<std::uint64_t>> salts_;
  std::unique_ptr<coalescing_cache<std::uint64_t, std::int64_t>> cache_;
  std::unique_ptr<write_buffer<std::uint64_t, std::int64_t>> buffer_;

  alignas(detail::cache_line_bytes) std::atomic<std::int64_t> clock_ns_{0};
  alignas(detail::cache_line_bytes) std::atomic<bool> herd_fired_{false};
  // Client-side tallies: relaxed counters, read after the clients stopped.
  alignas(detail::cache_line_bytes) std::atomic<std::uint64_t> reads_{0};
  std::atomic<std::uint64_t> read_errors_{0};
  alignas(detail::cache_line_bytes) std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> direct_writes_{0};
  std::atomic<std::uint64_t> write_errors_{0};
  std::atomic<std::uint64_t> failed_promotions_{0};
};

}  // namespace hotshard::harness::hot_partition
