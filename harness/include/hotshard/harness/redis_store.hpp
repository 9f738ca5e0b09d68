// hotshard/harness/redis_store.hpp — a Redis Cluster behind the store
// interface (store.hpp), so the hot-partition scenarios run against a real
// engine with `--set store=redis://HOST:PORT` (any seed node).
//
// The client (on hiredis, https://github.com/redis/hiredis):
//  - the slot map comes from CLUSTER SLOTS on the seed; a key's slot is
//    redis_key_slot() of store.hpp (CRC16-XMODEM with {hash tag} rules — the
//    one implementation in the project); a partition is a master, numbered in
//    the order CLUSTER SLOTS lists them;
//  - a uint64 key k is the Redis key `<prefix><k>` in decimal, the prefix
//    unique per store object, so a run never reads an earlier run's values —
//    except under `run --processes N`, where the parent sets the environment
//    variable HOTSHARD_REDIS_SHARED_PREFIX and every process's store uses it
//    verbatim (the N processes address the same keys, shared_keys() is true),
//    and begin_run()/end_run() leave the server counters to the parent (one
//    CONFIG RESETSTAT before all processes, one INFO after);
//  - verification reads (value(), total()) are single-key MGETs, so that
//    Redis's own get/incrby counts are the clients' data commands only, even
//    when another process reads back while others still run;
//  - one connection per node per client thread, opened on first use, with a
//    connect timeout and a read/write timeout (an unanswered request fails
//    after io_timeout: nothing here waits without bound); a node that failed
//    fails fast for down_interval before it is tried again;
//  - read_sum() and write_batch() send one pipelined batch (GET, INCRBY) per
//    node, every node's batch written before any reply is read (the nodes
//    answer in parallel); an entry whose reply is an error (MOVED, ASK,
//    TRYAGAIN...) is re-sent alone as read()/write() send it (redirects
//    followed); a node that does not answer fails its entries — an INCRBY
//    sent without a reply counts in writes_unknown, as with write(). Per
//    node, each entry answered counts one op (Redis's incrby/get calls) and
//    its latency is the node's batch round trip;
//  - MOVED: the slot's owner is updated in the map and the command retried;
//    ASK: ASKING then the command on the target's connection, map unchanged;
//    at most max_redirects per command;
//  - per-node counts on the client's side (successful data commands, errors,
//    latency), and on the server's side: begin_run() sends CONFIG RESETSTAT
//    to every node, end_run() reads INFO commandstats (calls of get + incrby
//    per node) — taken before the verification reads, which are unmetered.
//
// Progress: blocking (network I/O), every call bounded by the timeouts.
// Thread safety: every member may be called concurrently; each thread uses
// its own connections; the slot map is an array of relaxed atomics (a stale
// owner is corrected by MOVED, so no ordering is needed); the node table is
// append-only under a mutex.
#pragma once

#include <hotshard/harness/store.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace hotshard::harness {

struct redis_store_config {
  std::string host = "127.0.0.1";
  int port = 7000;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds io_timeout{1000};
  unsigned max_redirects = 5;
  std::chrono::milliseconds down_interval{500};  // a failed node is skipped (fails fast) this long
};

// "redis://HOST:PORT" -> config; usage_error naming the value otherwise.
[[nodiscard]] redis_store_config parse_redis_url(std::string_view url);

class redis_store final : public store_backend {
 public:
  // Connects to the seed and reads the slot map; run_failure (naming the
  // address) if the seed cannot be reached or the cluster is not usable.
  explicit redis_store(redis_store_config cfg);
  ~redis_store() override;
  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;

  [[nodiscard]] unsigned partitions() const noexcept override;
  [[nodiscard]] unsigned partition_of(std::uint64_t key) const override;
  bool write(std::uint64_t key, std::int64_t delta) override;    // INCRBY
  void write_batch(std::span<store_write> writes) override;        // pipelined INCRBY, one batch per node
  std::optional<std::int64_t> read(std::uint64_t key) override;  // GET (missing = 0)
  std::optional<std::int64_t> read_sum(const std::vector<std::uint64_t>& keys) override;
  [[nodiscard]] std::int64_t value(std::uint64_t key) const override;
  // Every key of this store's prefix on every node (SCAN, then GET), read back.
  [[nodiscard]] std::int64_t total() const override;
  [[nodiscard]] std::vector<std::uint64_t> partition_ops() const override;
  [[nodiscard]] std::vector<std::uint64_t> partition_throttled() const override;  // errors per node
  [[nodiscard]] std::uint64_t backend_calls() const override;
  [[nodiscard]] std::uint64_t throttled() const override;
  [[nodiscard]] double max_over_median() const override;
  // partitions, partition_ops (client), node_errors, node_latency_ns,
  // node_ops (server: get + incrby calls), node_ops_by_command,
  // node_max_over_median, nodes ["host:port"], redis_version, redirects,
  // writes_unknown, write_pipelines (per-node INCRBY batches of write_batch)
  // and writes_per_pipeline (INCRBY sent per such batch, mean).
  [[nodiscard]] nlohmann::json metrics() const override;
  [[nodiscard]] bool is_remote() const noexcept override { return true; }

  void begin_run() override;  // CONFIG RESETSTAT on every node (not with a shared prefix)
  void end_run() override;    // INFO commandstats from every node, kept for metrics() (not with a shared prefix)
  [[nodiscard]] bool shared_keys() const noexcept override;
  // The server side alone, whatever the prefix (the --processes parent): RESETSTAT / INFO.
  void reset_server_counts();
  void read_server_counts();

  // The key as Redis names it (for tests).
  [[nodiscard]] std::string redis_key(std::uint64_t key) const;

 private:
  struct impl;
  std::unique_ptr<impl> p_;
};

}  // namespace hotshard::harness
