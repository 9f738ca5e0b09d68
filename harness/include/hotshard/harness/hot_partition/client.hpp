// hotshard/harness/hot_partition/client.hpp — the Black Friday model: the
// client that replays a stream against a partitioned store (store.hpp) with or
// without hotshard's primitives in front of it. The stream that melts a
// partition is the workload viral: (workloads/viral.hpp): steady Zipf, then a
// viral key that takes a share of all operations, then a herd: at the herd's
// first op the cache entries of the hottest keys expire at once
// (schedule_herd) and every client reads them.
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
// staleness (staleness.hpp: stale_read_fraction, staleness
// percentiles in simulated ns), read and write errors are reported with their
// fractions, salted reads with their fan-out, drains with their time.
//
// Where the operations come from is the caller's: execute(op, g) takes an op
// and its global index g (the herd fires at the first g at or past its start),
// so a recorded trace drives the client as the viral: stream does.
//
// Thread safety: execute() is called concurrently by all client threads; each
// thread's tallies and logs live in its own padded state (registered once per
// thread and client, under a mutex), merged by metrics(); start(),
// schedule_herd() and track_hot_keys() are called before the clients start,
// finish() and metrics() once, after they stopped.
// Progress: execute() is blocking — it runs the primitives' operations (the
// cache's single-flight waits for a load in flight) and the store's, and a
// backend read waits backend_read_us of real time. Memory ordering: the
// simulated clock and the herd's trigger are relaxed atomics (they order
// nothing: every op's data goes through the primitives and the store, which
// state their own contracts).
#pragma once

#include <hotshard/coalescing_cache.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/harness/hot_partition/config.hpp>
#include <hotshard/harness/hot_partition/staleness.hpp>
#include <hotshard/harness/store.hpp>
#include <hotshard/hot_key_detector.hpp>
#include <hotshard/salted_counter_map.hpp>
#include <hotshard/workloads/operation.hpp>
#include <hotshard/write_buffer.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace hotshard::harness::hot_partition {

class client {
 public:
  // std::invalid_argument naming the field for offered_rate <= 0,
  // salt_target <= 0, or (with salting) a salt outside [2, partitions].
  client(client_config cfg, mitigations m);

  [[nodiscard]] double partition_capacity() const noexcept {
    return cfg_.headroom * cfg_.offered_rate / cfg_.partitions;
  }

  // A backend other than the simulated store (e.g. redis_store), before
  // start(); its partitions() must equal client_config::partitions.
  void use_backend(std::unique_ptr<store_backend> b);

  // Builds the store (unless use_backend gave one) and the primitives;
  // series_interval in simulated seconds. The backend's server-side counters
  // are reset here (begin_run).
  void start(double series_interval_seconds);

  // The herd: at the first op whose global index is at or past `begin`, the
  // cache entries of `keys` expire at once. None unless scheduled.
  void schedule_herd(std::uint64_t begin, std::vector<std::uint64_t> keys);

  // One client operation, g its global index in the stream (called by many threads).
  void execute(const workloads::operation& op, std::uint64_t g);

  // A client read: through the cache if on, gathering salted sub-keys.
  // nullopt when a partition it needed was throttled (counted in read_errors).
  std::optional<std::int64_t> read(std::uint64_t key);

  // K for a hot key from its observed load: its decayed share of the recent
  // traffic × offered_rate, over salt_target × a partition's capacity; in
  // [2, salt] (salted_counter_map rounds it up to a power of two). The
  // traffic counts as at least one detector window: early in a run the
  // decayed traffic is small and lags the sketch, which would overstate every
  // share, and K is never lowered — so K starts low and grows with the evidence.
  [[nodiscard]] std::uint32_t salt_for_load(std::uint64_t key) const;

  // After the clients stopped: settle the write buffer (advancing simulated
  // time so its token bucket and the store refill), then verify nothing was lost.
  void finish();

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
  [[nodiscard]] tallies totals() const;
  [[nodiscard]] staleness_summary staleness() const;

  // Writes the client saw succeed: applied directly, or accepted by the buffer.
  [[nodiscard]] std::uint64_t writes_accepted() const;

  // The run's figures (hotshard.results/1 metrics of hot-partition, less the
  // scenario's own): the store's, per-partition load, errors, staleness,
  // fan-out, drains, and each mitigation's own.
  [[nodiscard]] nlohmann::json metrics() const;

  // The K sub-keys of a salted key: the key itself first, then derived keys
  // (top bit set, so they never collide with stream keys) chosen so that the
  // K land on K distinct partitions (K ≤ partitions). The first K of a larger
  // K are the same keys, so a key whose K grows keeps every value it had.
  [[nodiscard]] std::vector<std::uint64_t> sub_keys(std::uint64_t key, std::uint32_t k) const;

  // Exact value of a key as the backend holds it (gathering its sub-keys), unmetered.
  [[nodiscard]] std::int64_t unsafe_value(std::uint64_t key) const;

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

  static std::uint64_t next_id();
  // This thread's state in this client, registered on first use (a client
  // is told apart by id_, never by address: a new client may reuse one).
  thread_state& local() const;

  std::optional<std::int64_t> read_at(std::uint64_t key, std::int64_t now, thread_state& ts);
  void write_at(std::uint64_t key, std::int64_t now, thread_state& ts);
  const std::vector<std::uint64_t>& cached_subs(std::uint64_t key, std::uint32_t k, thread_state& ts);
  // The store write of one client write (direct, or the buffer's sink).
  bool backend_write(std::uint64_t key, std::int64_t delta);
  // The buffer's batch sink (a remote store): each entry routed as
  // backend_write routes it (a salted key's sub-key, round-robin), all of
  // them in one store write_batch.
  void backend_write_batch(std::span<write_batch_entry<std::uint64_t, std::int64_t>> entries);
  // A round trip of backend_read_us real time, waited precisely (yielding, no timer slack).
  void round_trip() const;
  std::int64_t backend_read(std::uint64_t key);

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
  std::uint64_t herd_begin_ = ~std::uint64_t{0};  // never, unless scheduled
  std::vector<std::uint64_t> herd_;

  mutable std::mutex states_mu_;  // registration only, never on the request path
  mutable std::vector<std::unique_ptr<thread_state>> states_;

  // Shared by design: the simulated clock every op advances, and the herd's trigger.
  alignas(detail::cache_line_bytes) std::atomic<std::int64_t> clock_ns_{0};
  alignas(detail::cache_line_bytes) std::atomic<bool> herd_fired_{false};
};

}  // namespace hotshard::harness::hot_partition
