// harness/contenders/hot_partition.hpp — the Black Friday model: one stream
// that melts a partition of the simulated store (hot_partition_stream.hpp),
// and the client that replays it with or without hotshard's primitives in
// front of the store.
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
// to run. Client latency and throughput are measured on the real clock, over
// every client operation: cache hits, buffered writes and the drains the
// clients run are all part of it (drain time is also reported on its own).
// A backend read also waits backend_read_us of real time (default 10 µs, a
// loopback round trip), so concurrent misses of one key overlap for real and
// the cache's single-flight has something to coalesce.
//
// The client, by mitigation (each a flag, combined freely):
//   salting   — a hot_key_detector sees every request; a key it reports hot is
//               promoted in a salted_counter_map (the registry of salting
//               factors) to K sub-keys that route to K distinct partitions,
//               K chosen by the key's observed load (its decayed share of the
//               traffic × offered_rate, over salt_target × a partition's
//               capacity), at least 2, at most `salt` (≤ partitions), never
//               lowered; writes go round-robin to one sub-key, reads gather
//               all K (their fan-out is reported: backend_calls_per_read).
//   cache     — reads go through a coalescing_cache (TTL in simulated time,
//               single-flight on misses); a loader that hits a throttled
//               partition fails and the error is remembered briefly. A write
//               invalidates the key's entry when the client sends it and again
//               when it reaches the store (write_invalidates; off = pure TTL).
//   buffer    — writes go through a write_buffer (combining sums per key within
//               a batch, drained by the clients every few operations at a
//               bounded rate); a throttled backend write is retried by the
//               buffer, never dropped; a write that finds the buffer full is
//               refused and reported to the client (write_errors). On a
//               remote store (Redis) the buffer has a batch sink: each drain
//               call's combined deltas go out as one write_batch (pipelined
//               INCRBY, one batch per node); on the simulated store it calls
//               write() per key, as before (write_batch's default would too,
//               but a batch spends its tokens before the store's verdicts).
//   adaptive  — the store lends unused capacity from cold partitions to hot ones.
// Without the buffer a throttled write is an error returned to the client
// (counted in write_errors): the client knows, nothing is silently dropped.
//
// What the mitigations cost is charged: every successful read is checked for
// staleness (hot_partition_staleness.hpp: stale_read_fraction, staleness
// percentiles in simulated ns), read and write errors are reported with their
// fractions, salted reads with their fan-out, drains with their time.
//
// Where the operations come from is pluggable (op_source: op(g) for a global
// index g, plus when the herd fires and on which keys), so a recorded trace
// can drive the same client; the Black Friday `stream` is one source.
//
// Thread safety: execute() is called concurrently by all client threads; each
// thread's tallies and logs live in its own padded state (registered once per
// thread and client), merged by metrics(); finish() and metrics() are called
// once, after the clients stopped.
#pragma once

#include <hotshard/coalescing_cache.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/harness/store.hpp>
#include <hotshard/hot_key_detector.hpp>
#include <hotshard/salted_counter_map.hpp>
#include <hotshard/write_buffer.hpp>
#include <hotshard/workloads/operation.hpp>

#include <nlohmann/json.hpp>

#include "hot_partition_staleness.hpp"
#include "hot_partition_stream.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
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

class client {
 public:
  client(client_config cfg, mitigations m)
      : cfg_(cfg), m_(m), period_ns_(static_cast<std::int64_t>(1e9 / cfg.offered_rate)), id_(next_id()) {
    if (cfg_.offered_rate <= 0) throw std::invalid_argument("offered_rate must be > 0");
    if (!(cfg_.salt_target > 0)) throw std::invalid_argument("salt_target must be > 0");
    // salted_counter_map rejects max_salt = 1 (it no longer raises it to 2):
    // the client names its own field here rather than the map's at start().
    if (m_.salting && (cfg_.salt < 2 || cfg_.salt > cfg_.partitions))
      throw std::invalid_argument("salt must be in [2, partitions]");
    store_config sc;
    sc.partitions = cfg_.partitions;
    sc.routing = cfg_.routing;
    sc.capacity_ops_per_sec = partition_capacity();
    sc.adaptive = m_.adaptive;
    sc.clock_ns = [this] { return now_ns(); };
    sc.series_interval_seconds = 0;  // set by the scenario from the run length
    store_cfg_ = sc;
  }

  [[nodiscard]] double partition_capacity() const noexcept {
    return cfg_.headroom * cfg_.offered_rate / cfg_.partitions;
  }

  // A backend other than the simulated store (e.g. redis_store), before
  // start(); its partitions() must equal client_config::partitions.
  void use_backend(std::unique_ptr<store_backend> b) {
    if (b->partitions() != cfg_.partitions)
      throw std::invalid_argument("client: the backend's partitions differ from client_config::partitions");
    store_ = std::move(b);
  }

  // Builds the store (unless use_backend gave one) and the primitives;
  // series_interval in simulated seconds. The backend's server-side counters
  // are reset here (begin_run).
  void start(double series_interval_seconds) {
    store_cfg_.series_interval_seconds = series_interval_seconds;
    if (!store_) store_ = std::make_unique<partitioned_store>(store_cfg_);
    store_->begin_run();
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
      if (store_->is_remote()) {  // pipelined: one batch per node per sink call
        buffer_ = std::make_unique<write_buffer<std::uint64_t, std::int64_t>>(
            [this](std::span<write_batch_entry<std::uint64_t, std::int64_t>> entries) { backend_write_batch(entries); },
            o);
      } else {
        buffer_ = std::make_unique<write_buffer<std::uint64_t, std::int64_t>>(
            [this](const std::uint64_t& key, const std::int64_t& delta) { return backend_write(key, delta); }, o);
      }
    }
  }

  // One client operation (called by many threads).
  void execute(const workloads::operation& op, std::uint64_t g, std::uint64_t herd_begin,
               const std::vector<std::uint64_t>& herd) {
    // Simulated time: one period per operation; the value is this op's instant.
    const std::int64_t now = clock_ns_.fetch_add(period_ns_, std::memory_order_relaxed) + period_ns_;  // orders nothing
    if (g >= herd_begin && !herd_fired_.load(std::memory_order_relaxed) &&
        !herd_fired_.exchange(true, std::memory_order_relaxed)) {
      if (cache_)
        for (auto k : herd) cache_->invalidate(k);  // the hottest entries expire at once
    }
    thread_state& ts = local();
    if (detector_) {
      detector_->observe(op.key);
      if (detector_->is_hot(op.key)) {
        const std::uint32_t want = salt_for_load(op.key);
        if (salts_->salt_of(op.key) < want && !salts_->promote(op.key, want)) ++ts.failed_promotions;
      }
    }
    if (op.op == workloads::op_kind::get) {
      (void)read_at(op.key, now, ts);
    } else {
      write_at(op.key, now, ts);
    }
    if (buffer_ && ++ts.ops % cfg_.drain_every == 0) {
      const auto t0 = std::chrono::steady_clock::now();
      buffer_->drain();
      ts.drain_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
      ++ts.drains;
    }
  }

  // A client read: through the cache if on, gathering salted sub-keys.
  // nullopt when a partition it needed was throttled (counted in read_errors).
  std::optional<std::int64_t> read(std::uint64_t key) { return read_at(key, now_ns(), local()); }

  // K for a hot key from its observed load: its decayed share of the recent
  // traffic × offered_rate, over salt_target × a partition's capacity; in
  // [2, salt] (salted_counter_map rounds it up to a power of two). The
  // traffic counts as at least one detector window: early in a run the
  // decayed traffic is small and lags the sketch, which would overstate every
  // share, and K is never lowered — so K starts low and grows with the evidence.
  [[nodiscard]] std::uint32_t salt_for_load(std::uint64_t key) const {
    const double traffic = static_cast<double>(
        std::max<std::uint64_t>({1, detector_->recent_traffic(), cfg_.detector_window}));
    const double load = static_cast<double>(detector_->estimate(key)) / traffic * cfg_.offered_rate;
    const double k = std::ceil(load / (cfg_.salt_target * partition_capacity()));
    return static_cast<std::uint32_t>(std::clamp(k, 2.0, static_cast<double>(std::max(2u, cfg_.salt))));
  }

  // After the clients stopped: settle the write buffer (advancing simulated
  // time so its token bucket and the store refill), then verify nothing was lost.
  void finish() {
    if (buffer_) {
      const auto t0 = std::chrono::steady_clock::now();
      // Not closed first: after close() the buffer gives a refused write a few
      // more tries only, and here the store keeps refusing until time passes.
      // Bounded in rounds and in real time (a remote backend that stopped
      // answering fails every call after its timeout: the run must end).
      const auto deadline = t0 + std::chrono::seconds(60);
      for (std::uint64_t round = 0; buffer_->stats().lag > 0; ++round) {
        if (round > 100'000'000 || (round % 64 == 0 && std::chrono::steady_clock::now() > deadline))
          throw std::runtime_error("write buffer did not settle: " + std::to_string(buffer_->stats().lag) +
                                   " writes not applied");
        clock_ns_.fetch_add(period_ns_, std::memory_order_relaxed);
        buffer_->drain();
      }
      buffer_->close();
      settle_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    }
    store_->end_run();  // server-side counts, before any verification read
  }

  [[nodiscard]] std::int64_t now_ns() const noexcept { return clock_ns_.load(std::memory_order_relaxed); }
  [[nodiscard]] store_backend& store() noexcept { return *store_; }

  // The client-side tallies of every thread, summed (after the clients stopped).
  struct tallies {
    std::uint64_t reads = 0, read_errors = 0, writes = 0, direct_writes = 0, write_errors = 0;
    std::uint64_t backend_reads = 0, backend_loads = 0, salted_loads = 0, salted_backend_reads = 0;
    std::uint64_t failed_promotions = 0, drains = 0;
    std::int64_t drain_ns = 0;
    tallies& operator+=(const tallies& o) noexcept {
      for (auto [a, b] : {std::pair{&reads, o.reads}, {&read_errors, o.read_errors}, {&writes, o.writes},
                          {&direct_writes, o.direct_writes}, {&write_errors, o.write_errors},
                          {&backend_reads, o.backend_reads}, {&backend_loads, o.backend_loads},
                          {&salted_loads, o.salted_loads}, {&salted_backend_reads, o.salted_backend_reads},
                          {&failed_promotions, o.failed_promotions}, {&drains, o.drains}})
        *a += b;
      drain_ns += o.drain_ns;
      return *this;
    }
  };
  [[nodiscard]] tallies totals() const {
    tallies t;
    std::scoped_lock lock(states_mu_);
    for (const auto& s : states_) t += *s;
    return t;
  }

  [[nodiscard]] staleness_summary staleness() const {
    std::vector<const staleness_log*> logs;
    std::scoped_lock lock(states_mu_);
    for (const auto& s : states_) logs.push_back(&s->log);
    return summarize_staleness(logs);
  }

  // Writes the client saw succeed: applied directly, or accepted by the buffer.
  [[nodiscard]] std::uint64_t writes_accepted() const {
    return totals().direct_writes + (buffer_ ? buffer_->stats().accepted : 0);
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
    j["throttled"] = store_->throttled();
    j["mitigations"] = m_.names();
    const tallies t = totals();
    const auto frac = [](std::uint64_t a, std::uint64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; };
    const std::uint64_t accepted = t.direct_writes + (buffer_ ? buffer_->stats().accepted : 0);
    const std::int64_t applied = store_->total();
    j["writes"] = t.writes;
    j["writes_accepted"] = accepted;
    j["writes_applied"] = applied;
    j["write_errors"] = t.write_errors;
    j["write_error_fraction"] = frac(t.write_errors, t.writes);
    // Accepted writes that neither reached the store nor were reported failed.
    const std::uint64_t reported_failed = buffer_ ? buffer_->stats().failed : 0;
    // A remote backend's write that timed out after it was sent was reported
    // failed (or retried by the buffer) yet may have been applied: up to
    // writes_unknown more than accepted can be read back, and is not a loss.
    const std::int64_t unknown = j.value("writes_unknown", std::int64_t{0});
    const std::int64_t missing = static_cast<std::int64_t>(accepted - reported_failed) - applied;
    j["writes_unknown"] = unknown;
    j["writes_applied_unacknowledged"] = missing < 0 ? -missing : 0;
    j["lost"] = missing < 0 && -missing <= unknown ? 0 : missing;
    j["reads"] = t.reads;
    j["read_errors"] = t.read_errors;
    j["read_error_fraction"] = frac(t.read_errors, t.reads);
    // Store reads per client read: cache hits cost 0, a salted load K.
    j["backend_reads"] = t.backend_reads;
    j["backend_calls_per_read"] = frac(t.backend_reads, t.reads);
    j["salted_loads"] = t.salted_loads;
    j["salted_read_fanout"] = frac(t.salted_backend_reads, t.salted_loads);
    const staleness_summary st = staleness();
    j["stale_reads"] = st.stale;
    j["stale_read_fraction"] = st.stale_fraction();
    j["staleness_p50_ns"] = st.age.percentile(0.50);
    j["staleness_p99_ns"] = st.age.percentile(0.99);
    j["staleness_max_ns"] = st.age.max();
    j["drains"] = t.drains;
    j["drain_seconds"] = static_cast<double>(t.drain_ns) * 1e-9;
    j["settle_seconds"] = static_cast<double>(settle_ns_) * 1e-9;
    j["backend_read_us"] = cfg_.backend_read_us;
    if (cache_) {
      const auto s = cache_->stats();
      j["cache_hit_ratio"] = s.gets ? static_cast<double>(s.hits + s.stale_served) / static_cast<double>(s.gets) : 0.0;
      j["cache_loads"] = s.backend_calls;
      j["write_invalidates"] = cfg_.write_invalidates;
    }
    if (buffer_) {
      const auto s = buffer_->stats();
      j["buffer_backend_writes"] = s.applied;
      j["combine_ratio"] = s.applied ? static_cast<double>(s.applied_writes) / static_cast<double>(s.applied) : 0.0;
      j["buffer_sink_failures"] = s.sink_failures;
      j["buffer_failed"] = s.failed;
      if (buffer_->batched()) {  // remote store: backend writes per batch-sink call (one write_batch)
        j["buffer_write_batches"] = s.batch_calls;
        j["buffer_writes_per_batch"] = frac(s.applied + s.sink_failures, s.batch_calls);
      }
    }
    if (salts_) {
      std::uint64_t salted = 0;
      nlohmann::json by_key = nlohmann::json::array();
      for (auto k : tracked_hot_keys_) {
        salted += salts_->salt_of(k) > 1 ? 1 : 0;
        std::vector<unsigned> placed;  // the partition (node) of each sub-key
        for (auto sk : sub_keys(k, salts_->salt_of(k))) placed.push_back(store_->partition_of(sk));
        by_key.push_back({{"key", k}, {"salt", salts_->salt_of(k)}, {"partitions", placed}});
      }
      j["hot_keys_salted"] = salted;
      j["hot_keys_tracked"] = tracked_hot_keys_.size();
      j["hot_key_salts"] = std::move(by_key);
      j["salt"] = cfg_.salt;
      j["failed_promotions"] = t.failed_promotions;
    }
    return j;
  }

  // The K sub-keys of a salted key: the key itself first, then derived keys
  // (top bit set, so they never collide with stream keys) chosen so that the
  // K land on K distinct partitions (K ≤ partitions). The first K of a larger
  // K are the same keys, so a key whose K grows keeps every value it had.
  [[nodiscard]] std::vector<std::uint64_t> sub_keys(std::uint64_t key, std::uint32_t k) const {
    std::vector<std::uint64_t> subs{key};
    std::vector<bool> used(store_->partitions(), false);
    used[store_->partition_of(key)] = true;
    const std::uint32_t want = std::min<std::uint32_t>(k, store_->partitions());
    for (std::uint64_t c = 1; subs.size() < want && c < 64ull * store_->partitions(); ++c) {
      const std::uint64_t cand = (std::uint64_t{1} << 63) | (detail::mix64(key ^ detail::mix64(c)) >> 1);
      const unsigned p = store_->partition_of(cand);
      if (p >= used.size() || used[p]) continue;
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

  // The keys whose salting the report counts (the scenario passes the herd keys).
  void track_hot_keys(std::vector<std::uint64_t> keys) { tracked_hot_keys_ = std::move(keys); }

 private:
  // One thread's tallies, staleness log and sub-key memo: written by that thread only.
  struct alignas(detail::prefetch_pair_bytes) thread_state : tallies {
    std::uint64_t ops = 0, round_robin = 0;
    std::unordered_map<std::uint64_t, std::vector<std::uint64_t>> subs;  // memo of sub_keys
    staleness_log log;
  };

  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> n{0};
    return n.fetch_add(1, std::memory_order_relaxed) + 1;  // an id orders nothing
  }

  // This thread's state in this client, registered on first use (a client
  // is told apart by id_, never by address: a new client may reuse one).
  thread_state& local() const {
    struct binding {
      std::uint64_t client = 0;
      thread_state* state = nullptr;
    };
    thread_local binding b;
    if (b.client != id_) {
      std::scoped_lock lock(states_mu_);
      states_.push_back(std::make_unique<thread_state>());
      b = {id_, states_.back().get()};
    }
    return *b.state;
  }

  std::optional<std::int64_t> read_at(std::uint64_t key, std::int64_t now, thread_state& ts) {
    ++ts.reads;
    try {
      const std::int64_t v = cache_ ? cache_->get(key, [&] { return backend_read(key); }) : backend_read(key);
      ts.log.reads.push_back({key, now, v});
      return v;
    } catch (const throttled_error&) {
      ++ts.read_errors;
      return std::nullopt;
    }
  }

  void write_at(std::uint64_t key, std::int64_t now, thread_state& ts) {
    ++ts.writes;
    if (buffer_) {
      if (!buffer_->write(key, 1)) {
        ++ts.write_errors;
        return;
      }
      if (cache_ && cfg_.write_invalidates) cache_->invalidate(key);
      ts.log.writes.push_back({key, now});
      return;
    }
    if (backend_write(key, 1)) {
      ++ts.direct_writes;
      ts.log.writes.push_back({key, now_ns()});  // acknowledged after it was applied
    } else {
      ++ts.write_errors;
    }
  }

  const std::vector<std::uint64_t>& cached_subs(std::uint64_t key, std::uint32_t k, thread_state& ts) {
    if (ts.subs.size() > 4096) ts.subs.clear();
    auto& v = ts.subs[key];
    if (v.size() < std::min<std::uint32_t>(k, store_->partitions())) v = sub_keys(key, k);
    return v;
  }

  // The store write of one client write (direct, or the buffer's sink).
  bool backend_write(std::uint64_t key, std::int64_t delta) {
    const std::uint32_t k = salt_of(key);
    bool ok = false;
    if (k <= 1) {
      ok = store_->write(key, delta);
    } else {
      thread_state& ts = local();
      const auto& subs = cached_subs(key, k, ts);
      ok = store_->write(subs[ts.round_robin++ % subs.size()], delta);
    }
    if (ok && cache_ && cfg_.write_invalidates) cache_->invalidate(key);  // a load that began before is not stored
    return ok;
  }

  // The buffer's batch sink (a remote store): each entry routed as
  // backend_write routes it (a salted key's sub-key, round-robin), all of
  // them in one store write_batch.
  void backend_write_batch(std::span<write_batch_entry<std::uint64_t, std::int64_t>> entries) {
    thread_state& ts = local();
    std::vector<store_write> writes;
    writes.reserve(entries.size());
    for (const auto& e : entries) {
      const std::uint32_t k = salt_of(e.key);
      std::uint64_t target = e.key;
      if (k > 1) {
        const auto& subs = cached_subs(e.key, k, ts);
        target = subs[ts.round_robin++ % subs.size()];
      }
      writes.push_back({target, e.delta, false});
    }
    store_->write_batch(writes);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      entries[i].applied = writes[i].applied;
      if (writes[i].applied && cache_ && cfg_.write_invalidates) cache_->invalidate(entries[i].key);  // as backend_write
    }
  }

  // A round trip of backend_read_us real time, waited precisely (yielding, no timer slack).
  void round_trip() const {
    if (cfg_.backend_read_us == 0 || store_->is_remote()) return;  // a remote backend has a real one
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(cfg_.backend_read_us);
    while (std::chrono::steady_clock::now() < until) std::this_thread::yield();
  }

  std::int64_t backend_read(std::uint64_t key) {
    thread_state& ts = local();
    const std::uint32_t k = salt_of(key);
    ++ts.backend_loads;
    round_trip();  // the K reads of a salted key go out in parallel: one round trip
    if (k <= 1) {
      ++ts.backend_reads;
      auto v = store_->read(key);
      if (!v) throw throttled_error();
      return *v;
    }
    ++ts.salted_loads;
    const auto& subs = cached_subs(key, k, ts);
    ts.backend_reads += subs.size();
    ts.salted_backend_reads += subs.size();
    auto sum = store_->read_sum(subs);  // one batch per partition (pipelined on a remote backend)
    if (!sum) throw throttled_error();
    return *sum;
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

  std::vector<std::uint64_t> tracked_hot_keys_;
  client_config cfg_;
  mitigations m_;
  std::int64_t period_ns_;
  std::uint64_t id_;
  store_config store_cfg_;
  std::unique_ptr<store_backend> store_;
  std::unique_ptr<hot_key_detector<std::uint64_t>> detector_;
  std::unique_ptr<salted_counter_map<std::uint64_t>> salts_;
  std::unique_ptr<coalescing_cache<std::uint64_t, std::int64_t>> cache_;
  std::unique_ptr<write_buffer<std::uint64_t, std::int64_t>> buffer_;
  std::int64_t settle_ns_ = 0;

  mutable std::mutex states_mu_;  // registration only, never on the request path
  mutable std::vector<std::unique_ptr<thread_state>> states_;

  // Shared by design: the simulated clock every op advances, and the herd's trigger.
  alignas(detail::cache_line_bytes) std::atomic<std::int64_t> clock_ns_{0};
  alignas(detail::cache_line_bytes) std::atomic<bool> herd_fired_{false};
};

}  // namespace hotshard::harness::hot_partition
