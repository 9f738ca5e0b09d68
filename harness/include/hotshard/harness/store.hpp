// hotshard/harness/store.hpp — a simulated partitioned store, so that "hot
// partition" is a measured quantity and not a guess.
//
// It stands in for a sharded database (DESIGN.md "The simulated partitioned
// store"): P partitions, each a key -> int64 map behind its own mutex (it is the
// simulated backend, not a primitive under test), with
//  - routing (routing.hpp, one class per routing under routing/): `hash`,
//    `ring` (consistent hashing), `slots` (Redis Cluster hash slots) or
//    `range` (equal ranges of [0, key_space));
//  - a token bucket per partition (capacity_ops_per_sec, depth burst_seconds
//    of capacity). Beyond it a request is throttled (refused and counted, like
//    a provisioned-throughput error) or delayed until its token arrives;
//  - adaptive capacity (DynamoDB-style): a partition whose own bucket is empty
//    may borrow from a store-wide pool that refills at P x capacity and from
//    which every accepted request is drawn, so only capacity the other
//    partitions leave unused can be lent; a per-partition allowance bucket
//    refilling at (adaptive_ceiling - 1) x capacity caps what one partition can
//    reach at adaptive_ceiling x capacity;
//  - per-partition counters (ops, reads, writes, throttled, borrowed), latency
//    (entry to exit, including lock wait and delay) and a load time series.
//
// Progress: every operation is blocking (one partition mutex, plus the pool
// mutex when adaptive). Thread safety: every member is safe to call
// concurrently; counters read while writers run are a snapshot per partition.
// Time comes from `clock_ns` (injectable, so tests are deterministic) and
// delays sleep through `sleep_ns` (injectable for the same reason).
#pragma once

#include <hotshard/harness/routing.hpp>
#include <hotshard/harness/routing/slots.hpp>  // crc16_xmodem, redis_key_slot: shared with redis_store.hpp

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hotshard::harness {

enum class overload_policy { throttle, delay };

struct store_config {
  unsigned partitions = 16;
  routing_kind routing = routing_kind::hash;         // with the two below: routing.hpp's routing_params
  unsigned virtual_nodes = 64;                        // ring
  std::uint64_t key_space = std::uint64_t{1} << 32;  // range routing: equal ranges of [0, key_space)
  double capacity_ops_per_sec = 0;                    // per partition, 0 = unlimited
  double burst_seconds = 0.01;                        // token-bucket depth, in seconds of capacity
  overload_policy overload = overload_policy::throttle;
  bool adaptive = false;
  double adaptive_ceiling = 2.0;                      // x base capacity
  double series_interval_seconds = 0.1;               // per-partition load time series; 0 = off
  std::function<std::int64_t()> clock_ns{};           // injected clock; empty = steady_clock
  std::function<void(std::int64_t)> sleep_ns{};       // injected sleep (delay policy); empty = sleep_for
};

// Parsing of the overload policy's names, for scenario knobs: usage_error
// names the value and what is accepted (parse_routing: routing.hpp).
[[nodiscard]] overload_policy parse_overload(std::string_view name);
[[nodiscard]] std::string_view to_string(overload_policy p) noexcept;

// One write of a batch (store_backend::write_batch): key and delta in,
// `applied` out — what write() would have returned for it.
struct store_write {
  std::uint64_t key = 0;
  std::int64_t delta = 0;
  bool applied = false;
};

// The backend interface a scenario drives: the simulated store below, or a
// real engine (redis_store.hpp). A new backend is one class and one file.
// Keys are uint64 (a backend names them as it likes); a partition is a
// node/shard index in [0, partitions()). Every call is safe from any thread;
// failures are returned (false / nullopt), never thrown, and never block
// without bound (a network backend has connect and read timeouts).
class store_backend {
 public:
  virtual ~store_backend() = default;
  [[nodiscard]] virtual unsigned partitions() const noexcept = 0;
  [[nodiscard]] virtual unsigned partition_of(std::uint64_t key) const = 0;
  virtual bool write(std::uint64_t key, std::int64_t delta) = 0;    // false = refused/failed, nothing applied
  // Several writes at once (a write buffer's batch sink); each entry's
  // `applied` is set as write() would answer for it. The default is write()
  // on each entry in order, so a backend without a batch path (the simulated
  // store) behaves exactly as with write() one by one. A network backend
  // sends one pipelined batch per node (entries of different nodes in no
  // promised order; of one node in entry order).
  virtual void write_batch(std::span<store_write> writes) {
    for (auto& w : writes) w.applied = write(w.key, w.delta);
  }
  virtual std::optional<std::int64_t> read(std::uint64_t key) = 0;  // nullopt = refused/failed
  // The sum of several keys' values, read as one batch per partition (a
  // network backend pipelines them); nullopt if any read failed.
  virtual std::optional<std::int64_t> read_sum(const std::vector<std::uint64_t>& keys) {
    std::int64_t sum = 0;
    for (auto k : keys) {
      auto v = read(k);
      if (!v) return std::nullopt;
      sum += *v;
    }
    return sum;
  }
  [[nodiscard]] virtual std::int64_t value(std::uint64_t key) const = 0;  // unmetered, for verification
  [[nodiscard]] virtual std::int64_t total() const = 0;                   // sum of all values, unmetered
  [[nodiscard]] virtual std::vector<std::uint64_t> partition_ops() const = 0;        // accepted, by the client
  [[nodiscard]] virtual std::vector<std::uint64_t> partition_throttled() const = 0;  // refused or failed
  [[nodiscard]] virtual std::uint64_t backend_calls() const = 0;
  [[nodiscard]] virtual std::uint64_t throttled() const = 0;
  [[nodiscard]] virtual double max_over_median() const = 0;  // of partition_ops
  [[nodiscard]] virtual nlohmann::json metrics() const = 0;
  // Whether a read costs a real round trip (the scenario then adds no simulated one).
  [[nodiscard]] virtual bool is_remote() const noexcept { return false; }
  // Around a run: reset the server-side counters before; snapshot them after
  // (before any verification read). No-ops for the simulated store.
  virtual void begin_run() {}
  virtual void end_run() {}
  // Whether other processes write the same keys at the same time (hotshard-bench
  // run --processes N: N application servers, one cluster). A read-back then
  // sums every process's writes, so the scenario does not judge `lost` itself:
  // the parent process checks the total against all processes' accepted writes.
  [[nodiscard]] virtual bool shared_keys() const noexcept { return false; }
};

// The backend a scenario's `store` knob names: "sim" -> nullptr (the scenario
// builds its simulated store from its own knobs); "redis://HOST:PORT" -> a
// connected Redis Cluster client (redis_store.hpp; run_failure if it cannot
// connect). usage_error naming `--set store` for anything else, or for a
// redis:// URL in a build without hiredis.
[[nodiscard]] std::unique_ptr<store_backend> open_store_backend(std::string_view name);

// max / median of per-partition counts (median of an even count: mean of the
// middle two; a zero median counts as 1 so the figure stays finite). 0 when idle.
[[nodiscard]] double max_over_median_of(std::vector<std::uint64_t> counts);

class partitioned_store final : public store_backend {
 public:
  explicit partitioned_store(store_config config);
  ~partitioned_store() override;
  partitioned_store(const partitioned_store&) = delete;
  partitioned_store& operator=(const partitioned_store&) = delete;

  [[nodiscard]] unsigned partitions() const noexcept override;
  [[nodiscard]] const store_config& config() const noexcept;

  [[nodiscard]] unsigned partition_of(std::uint64_t key) const override;
  // String keys (slots routing applies hash tags; other routings hash the bytes).
  [[nodiscard]] unsigned partition_of(std::string_view key) const;

  bool write(std::uint64_t key, std::int64_t delta) override;    // false = throttled (counted), nothing applied
  std::optional<std::int64_t> read(std::uint64_t key) override;  // nullopt = throttled
  [[nodiscard]] std::int64_t value(std::uint64_t key) const override;  // unmetered, for verification
  [[nodiscard]] std::int64_t total() const override;                   // sum of all values, unmetered

  [[nodiscard]] std::vector<std::uint64_t> partition_ops() const override;        // accepted ops per partition
  [[nodiscard]] std::vector<std::uint64_t> partition_throttled() const override;  // refused ops per partition
  [[nodiscard]] std::vector<std::uint64_t> partition_borrowed() const;   // accepted on lent capacity
  [[nodiscard]] std::uint64_t backend_calls() const override;            // all accepted reads + writes
  [[nodiscard]] std::uint64_t throttled() const override;
  // max / median of partition_ops (max_over_median_of).
  [[nodiscard]] double max_over_median() const override;
  [[nodiscard]] double throttled_fraction() const;  // throttled / (accepted + throttled)
  // partitions, partition_ops, max_over_median, throttled_fraction,
  // backend_calls, plus partition_reads/writes/throttled/borrowed,
  // partition_latency_ns [{p50,p99,max}], partition_series (one array of
  // accepted ops per interval per partition), series_interval_seconds, routing.
  [[nodiscard]] nlohmann::json metrics() const override;

 private:
  struct partition;
  struct pool;
  enum class verdict { accepted, throttled };

  [[nodiscard]] std::int64_t now() const;
  verdict admit(partition& p, std::int64_t t, std::int64_t& delay_ns);
  void finish(partition& p, std::int64_t t0, bool is_write);

  store_config cfg_;
  std::unique_ptr<const router> router_;
  std::vector<std::unique_ptr<partition>> parts_;
  std::unique_ptr<pool> pool_;
  std::int64_t created_ns_ = 0;
};

}  // namespace hotshard::harness
