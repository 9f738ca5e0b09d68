// hotshard/write_buffer.hpp — a write-combining buffer in front of a slow or
// rate-limited sink (a hot partition): producers write(key, delta); a drainer
// takes batches from a bounded queue, combines the deltas of one key inside a
// batch, and applies them to the sink at a controlled rate — a spike of writes
// to a hot key becomes a steady stream of fewer backend writes, with nothing
// lost.
//
// Design. Writes go into a hotshard::bounded_queue (Vyukov's bounded MPMC ring,
// see bounded_queue.hpp). One drainer at a time (a mutex) pops up to
// `batch_size` entries with one claim, folds entries with the same key with
// `Combine` (combine_sum, combine_last — last writer in queue order wins —,
// combine_max; or no folding at all with config.combine = false), and calls
// the sink once per distinct key, spending one token of a token bucket
// (config.rate_per_sec, config.burst; the clock is injectable) per call. The
// drainer is either the buffer's own std::thread (config.drain_thread) or
// whoever calls drain(). Combining only ever happens within one batch, so the
// order in which a key's deltas reach the sink is the queue order: batches are
// applied one after another, never overlapped. When the queue is full,
// config.on_full picks the backpressure: block (the writer sleeps in the
// queue's atomic wait), fail (write returns false, counted in `rejected`) or
// help_drain (the writer drains a batch itself, as Caffeine's maintenance does,
// then retries; if another thread is draining, or tokens or a refusing sink
// held it back, it blocks when the buffer has its own drain thread and sleeps
// briefly and helps again when it has none).
//
// A batch sink (the second constructor) takes several backend writes per
// call — a store that pipelines them (Redis: one batch of INCRBY per node,
// one round trip) pays one round trip for many keys. The drainer hands it,
// as a std::span<write_batch_entry>, the batch's unsettled entries in queue
// order, as many as whole tokens allow (one token per entry, as one per call
// of the per-key sink); the sink sets `applied` on each entry it applied.
// After the call every applied entry is settled; every other one is a
// refusal, exactly as a per-key sink's false: one sink failure each; with
// ::retry it stays pending and is handed again (after retry_backoff, with
// the batch's other unsettled entries) before the next batch; with ::count,
// or after close() past shutdown_retries, it is failed and given to
// on_failure. A throw from the batch sink refuses every entry it had not
// marked applied. Per-key order: with combine = true a key is in a batch
// once and batches never overlap; with combine = false a key may repeat in a
// batch, so each call is cut before the first key it already holds — an
// entry never shares a call with a later entry of its key, and the walk in
// queue order hands a refused entry again before any later entry of its key.
// `batch_calls` counts the calls.
//
// Sink failures: a sink returns false to reject a write, or throws (caught and
// treated as a rejection, counted in `sink_failures`). Nothing is dropped
// silently. With sink_failure_policy::retry (default) the entry stays pending
// and is retried (after config.retry_backoff) before the next batch is taken,
// which preserves per-key order; with ::count it is given up at once, its raw
// writes counted in `failed` and handed to config.on_failure. After close()
// (and so in the destructor) each remaining entry gets at most
// config.shutdown_retries further attempts, then is counted failed — a
// permanently broken sink must not hang a destructor.
//
// flush() returns when every write accepted before flush() was called has
// reached the sink (applied, or counted failed): a write's queue position is
// fixed when its push succeeds, and the drainer publishes `completed`, the
// number of queue positions whose batch is fully settled. Writes that keep
// arriving during flush() do not delay it beyond their batch.
// A sink that keeps refusing does not hang flush() silently: once the sink has
// refused options.flush_refusal_limit times in a row (no batch settled in
// between) during the flush, flush() throws write_buffer_stalled, which names
// the writes still pending and the refusals seen (0 = no limit: wait as long
// as it takes, the old behaviour). flush_for(timeout) never throws for that: it
// returns a flush_result {pending, refusals, stalled} — pending == 0 when
// everything accepted before the call has settled. Neither drops anything:
// entries the sink refused stay pending (retried), and close() then gives
// each at most shutdown_retries more attempts before counting it `failed` and
// handing it to on_failure — every accepted write is applied or reported.
//
// Shutdown order: stop the producers (no write() after this point) →
// flush_for(timeout) (bounded; look at `pending`) → close() (later writes are
// rejected; what is left gets shutdown_retries attempts each) → destroy (joins
// the drain thread once everything accepted is applied or counted failed).
//
// Progress: write — lock-free with on_full = fail (the queue's try_push_weak),
// blocking otherwise; drain — blocking (it takes the drain mutex with
// try_lock, and returns 0 at once if another thread holds it; the sink, or
// the batch sink, is called under it); flush, close, the destructor — blocking;
// stats — wait-free; flush_for — blocking, bounded by its timeout.
// With drain_thread = false nothing moves unless somebody calls drain() or
// flush(): a blocked writer waits for that.
//
// What a concurrent reader of stats() sees: each counter is exact at the moment
// it is read, but they are read one at a time (not a snapshot); `max_depth` is
// the largest depth seen by the drainer before a batch (or `capacity` once a
// writer found the queue full); `lag` = writes accepted but not yet settled.
// A metrics thread may call stats() at any time (it writes nothing) and export
// it: write_buffer_stats::for_each_metric, hotshard/prometheus.hpp.
//
// Memory ordering: a write happens-before the sink (or batch sink) call that
// applies it (the queue's push/pop pairing, then the drain mutex); a batch
// sink's `applied` flags are plain bools, read by the drainer on the thread
// that made the call, after it returned (a sink that sets them from other
// threads must join those first). The drainer's release store
// of `completed` (1) pairs with the acquire load in flush() (2), so the sink
// calls of a flushed write happen-before flush() returns. The statistics are
// relaxed counters with no ordering promise. The drainer's own state (the
// pending batch, tokens, the retry flag) is read and written only under the
// drain mutex — including the length of a sleep, computed before a drainer
// (its thread, flush(), the destructor) drops the mutex to sleep, so a
// help_drain writer draining meanwhile never races with it.
//
// Configuration (std::invalid_argument naming the field otherwise): capacity a
// power of two ≥ 2; batch_size 0 (the default: min(256, capacity)) or
// 1 .. capacity (a batch never holds more than the queue: a larger value is an
// error, not silently lowered); rate_per_sec finite ≥ 0; burst finite, 0 (the default
// depth) or ≥ 1 (a bucket that cannot hold one token would never drain);
// retry_backoff ≥ 0; on_full and on_sink_failure one of their enumerators.
// (Migration: write_buffer_config is now write_buffer_options; the old name is
// an alias.)
//
// Exceptions: write() copies key and delta first (may throw: nothing changed).
// Key and Delta must be copyable, default constructible (the drainer's batch
// buffer is pre-sized), nothrow move constructible, and Key std::hash-able. The sink, the batch
// sink and on_failure may throw; all are caught (a batch sink's throw: see
// above). The constructor may throw (allocation, thread).
#pragma once

#include <hotshard/bounded_queue.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/checked_size.hpp>
#include <hotshard/detail/clock.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/detail/fetch_max.hpp>
#include <hotshard/detail/futex_wait.hpp>
#include <hotshard/detail/metrics.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hotshard {

struct combine_sum {
  template <class D>
  void operator()(D& acc, const D& d) const {
    acc += d;
  }
};
struct combine_last {
  template <class D>
  void operator()(D& acc, const D& d) const {
    acc = d;
  }
};
struct combine_max {
  template <class D>
  void operator()(D& acc, const D& d) const {
    if (acc < d) acc = d;
  }
};

enum class backpressure { block, fail, help_drain };
enum class sink_failure_policy { retry, count };

template <class Key, class Delta>
struct write_buffer_options {
  std::size_t capacity = 4096;  // queue slots: a power of two >= 2
  std::size_t batch_size = 0;   // 0 = min(256, capacity); else 1 .. capacity
  bool combine = true;          // false: one sink call per write ("plain")
  bool drain_thread = true;     // false: caller-driven drain()
  backpressure on_full = backpressure::block;
  double rate_per_sec = 0;      // sink calls per second; 0 = unlimited
  double burst = 0;             // token-bucket depth in calls, >= 1; 0 = max(1, rate/100)
  sink_failure_policy on_sink_failure = sink_failure_policy::retry;
  std::chrono::nanoseconds retry_backoff{std::chrono::microseconds(100)};
  unsigned shutdown_retries = 16;
  std::function<void(const Key&, const Delta&, std::uint64_t writes)> on_failure{};  // given-up entries
  std::function<std::int64_t()> clock_ns{};  // empty = steady_clock
  bool measure_lag = false;  // stamp writes with the clock to report max_lag_ns
  std::uint64_t flush_refusal_limit = 1000;  // flush() throws after this many refusals in a row; 0 = never
};
template <class Key, class Delta>
using write_buffer_config = write_buffer_options<Key, Delta>;  // the old name (migration)

// One backend write handed to a batch sink (see the header): the key, its
// delta (combined, with combine = true) and how many accepted writes it
// carries. The sink sets `applied` on each entry it applied; an entry left
// false was refused. The references are valid during the call only.
template <class Key, class Delta>
struct write_batch_entry {
  const Key& key;
  const Delta& delta;
  std::uint64_t writes;
  bool applied;
};

// What flush_for() saw when it returned.
struct flush_result {
  std::uint64_t pending = 0;   // writes accepted before the call, not yet applied or counted failed
  std::uint64_t refusals = 0;  // sink refusals (false or a throw) seen while it waited
  bool stalled = false;        // it gave up on the refusal limit (flush() throws then)
  [[nodiscard]] bool done() const noexcept { return pending == 0; }
};

// Thrown by flush() when the sink refused flush_refusal_limit times in a row.
// Nothing was dropped: the pending writes are still retried (see the header).
class write_buffer_stalled : public std::runtime_error {
 public:
  write_buffer_stalled(std::uint64_t pending, std::uint64_t refusals)
      : std::runtime_error("write_buffer: flush stalled: the sink refused " + std::to_string(refusals) +
                           " times in a row; " + std::to_string(pending) + " writes still pending"),
        pending_(pending),
        refusals_(refusals) {}
  [[nodiscard]] std::uint64_t pending() const noexcept { return pending_; }
  [[nodiscard]] std::uint64_t refusals() const noexcept { return refusals_; }

 private:
  std::uint64_t pending_, refusals_;
};

struct write_buffer_stats {
  std::uint64_t accepted = 0;        // writes taken into the queue
  std::uint64_t rejected = 0;        // writes refused: queue full (policy fail) or closed
  std::uint64_t combined = 0;        // writes folded into another write for the same key
  std::uint64_t applied = 0;         // backend writes applied (successful sink calls, or batch entries)
  std::uint64_t applied_writes = 0;  // writes that reached the sink inside those calls
  std::uint64_t sink_failures = 0;   // refusals: sink calls that returned false or threw, batch entries not applied
  std::uint64_t failed = 0;          // writes given up after sink failures
  std::uint64_t max_depth = 0;
  std::uint64_t lag = 0;             // accepted - (applied_writes + failed), now
  std::int64_t max_lag_ns = 0;       // oldest write's age when applied (measure_lag)
  std::uint64_t batch_calls = 0;     // calls of a batch sink (0 with a per-key sink)

  // Exportable (detail/metrics.hpp, hotshard/prometheus.hpp): every field, the
  // counters as <field>_total; max_lag_ns as max_lag_seconds (Prometheus's base unit).
  template <class F>
  void for_each_metric(F&& f) const {
    using detail::metric;
    using detail::metric_kind;
    const auto d = [](auto v) { return static_cast<double>(v); };
    f(metric{"accepted_total", metric_kind::counter, d(accepted), "Writes taken into the queue."});
    f(metric{"rejected_total", metric_kind::counter, d(rejected), "Writes refused: queue full (on_full = fail) or closed."});
    f(metric{"combined_total", metric_kind::counter, d(combined), "Writes folded into another write of the same key."});
    f(metric{"applied_total", metric_kind::counter, d(applied),
             "Backend writes applied (successful sink calls, or batch entries)."});
    f(metric{"applied_writes_total", metric_kind::counter, d(applied_writes),
             "Writes that reached the sink inside those backend writes."});
    f(metric{"sink_failures_total", metric_kind::counter, d(sink_failures),
             "Sink refusals: calls that returned false or threw, batch entries not applied."});
    f(metric{"failed_total", metric_kind::counter, d(failed), "Writes given up after sink failures."});
    f(metric{"batch_calls_total", metric_kind::counter, d(batch_calls), "Calls of the batch sink."});
    f(metric{"max_depth", metric_kind::gauge, d(max_depth), "Largest queue depth seen by the drainer."});
    f(metric{"lag", metric_kind::gauge, d(lag), "Writes accepted but not yet applied or failed."});
    f(metric{"max_lag_seconds", metric_kind::gauge, d(max_lag_ns) / 1e9,
             "Oldest write's age when applied (with measure_lag)."});
  }
};

template <class Key, class Delta, class Combine = combine_sum, class... Policies>
  requires policy::hook_policies<Policies...>
class write_buffer {
  // The named policy (hotshard/policy.hpp): the contention hook.
  using Contention = policy::contention_of<Policies...>;

  static_assert(std::is_nothrow_move_constructible_v<Key> && std::is_nothrow_move_constructible_v<Delta>);

 public:
  using key_type = Key;
  using delta_type = Delta;
  using options_type = write_buffer_options<Key, Delta>;
  using config_type = options_type;
  using sink_type = std::function<bool(const Key&, const Delta&)>;
  using batch_entry = write_batch_entry<Key, Delta>;
  using batch_sink_type = std::function<void(std::span<batch_entry>)>;

  // A per-key sink: one call per backend write; false (or a throw) = refused.
  explicit write_buffer(sink_type sink, config_type cfg = {})
      : write_buffer(std::move(sink), batch_sink_type{}, std::move(cfg)) {}

  // A batch sink: several backend writes per call (see the header).
  explicit write_buffer(batch_sink_type sink, config_type cfg = {})
      : write_buffer(sink_type{}, std::move(sink), std::move(cfg)) {}

  write_buffer(const write_buffer&) = delete;
  write_buffer& operator=(const write_buffer&) = delete;

  // Closes, then settles every accepted write (see the header on shutdown).
  ~write_buffer() {
    close();
    if (thread_.joinable()) {
      thread_.join();
    } else {
      std::lock_guard lock(drain_mutex_);
      while (!settled_locked()) {
        if (drain_locked(false) == 0) std::this_thread::sleep_for(pause_locked());
      }
    }
  }

  // False = not accepted (queue full with on_full = fail, or closed): counted in `rejected`.
  [[nodiscard]] bool write(const Key& key, const Delta& delta) {
    entry e{key, delta, cfg_.measure_lag ? now_ns() : 0};
    if (queue_.try_push_weak(std::move(e))) return true;
    return write_slow(std::move(e));
  }

  // Drains one batch (or continues the pending one) on the calling thread.
  // Returns the writes settled by this call; 0 when there was nothing to do,
  // tokens or a failing sink held it back, or another thread is draining.
  std::size_t drain() {
    std::unique_lock lock(drain_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return 0;
    return drain_locked(false);
  }

  // Returns when every write accepted before this call has reached the sink
  // (applied or counted failed). Throws write_buffer_stalled once the sink has
  // refused options.flush_refusal_limit times in a row meanwhile (see the header).
  void flush() {
    const flush_result r = flush_until(nullptr, cfg_.flush_refusal_limit);
    if (r.stalled) throw write_buffer_stalled(r.pending, r.refusals);
  }

  // As flush(), but returns after `timeout` at the latest, or on the refusal
  // limit (stalled), with the writes still pending; never throws for either.
  template <class Rep, class Period>
  [[nodiscard]] flush_result flush_for(std::chrono::duration<Rep, Period> timeout) {
    const auto now = std::chrono::steady_clock::now();
    auto deadline = std::chrono::steady_clock::time_point::max();
    using ld = std::chrono::duration<long double>;
    if (timeout <= timeout.zero())
      deadline = now;
    else if (std::chrono::duration_cast<ld>(timeout) < std::chrono::duration_cast<ld>(deadline - now))
      deadline = now + std::chrono::ceil<std::chrono::steady_clock::duration>(timeout);
    return flush_until(&deadline, cfg_.flush_refusal_limit);
  }

  // Later writes are rejected; what was accepted is still drained.
  void close() noexcept {
    closing_.store(true, std::memory_order_relaxed);  // only bounds retries; the queue's close orders the rest
    queue_.close();
  }

  [[nodiscard]] write_buffer_stats stats() const noexcept {
    write_buffer_stats s;
    s.accepted = queue_.push_count();
    s.rejected = rejected_.load(std::memory_order_relaxed);
    s.combined = combined_.load(std::memory_order_relaxed);
    s.applied = applied_.load(std::memory_order_relaxed);
    s.applied_writes = applied_writes_.load(std::memory_order_relaxed);
    s.sink_failures = sink_failures_.load(std::memory_order_relaxed);
    s.failed = failed_.load(std::memory_order_relaxed);
    s.max_depth = max_depth_.load(std::memory_order_relaxed);
    const std::uint64_t settled = s.applied_writes + s.failed;
    s.lag = s.accepted > settled ? s.accepted - settled : 0;
    s.max_lag_ns = max_lag_ns_.load(std::memory_order_relaxed);
    s.batch_calls = batch_calls_.load(std::memory_order_relaxed);
    return s;
  }

  [[nodiscard]] std::size_t depth() const noexcept { return queue_.size_approx(); }
  [[nodiscard]] bool batched() const noexcept { return static_cast<bool>(batch_sink_); }  // a batch sink
  [[nodiscard]] std::size_t capacity() const noexcept { return queue_.capacity(); }
  [[nodiscard]] const config_type& config() const noexcept { return cfg_; }

 private:
  write_buffer(sink_type sink, batch_sink_type batch_sink, config_type cfg)
      : cfg_(checked(std::move(cfg))), sink_(std::move(sink)), batch_sink_(std::move(batch_sink)),
        queue_(bounded_queue_options{.capacity = cfg_.capacity}) {
    if (cfg_.burst == 0) cfg_.burst = std::max(1.0, cfg_.rate_per_sec / 100);
    batch_.resize(cfg_.batch_size);
    pending_.reserve(cfg_.batch_size);
    if (cfg_.combine || batch_sink_) slot_of_.reserve(2 * cfg_.batch_size);
    if (batch_sink_) {
      call_.reserve(cfg_.batch_size);
      call_index_.reserve(cfg_.batch_size);
    }
    tokens_ = cfg_.burst;
    last_refill_ns_ = now_ns();
    if (cfg_.drain_thread) thread_ = std::thread([this] { drain_loop(); });
  }

  struct entry {
    Key key;
    Delta delta;
    std::int64_t stamp_ns;
  };
  struct pending {
    Key key;
    Delta delta;
    std::uint64_t writes;
    std::int64_t oldest_ns;
    unsigned failures;
    bool done;  // settled (batch sink only: its entries settle out of order)
  };

  std::int64_t now_ns() const { return detail::now_ns(cfg_.clock_ns); }

  using clock = std::chrono::steady_clock;

  // Waits (drain thread) or drains (caller-driven) until every position
  // accepted before the call is settled, the deadline passes, or the sink
  // refused `refusal_limit` times in a row (no new batch settled in between).
  //
  // Sleeping without a lost wake-up (the queue's scheme): the flusher
  // registers in flush_waiters_ (seq_cst RMW), then reads `progress_`
  // (seq_cst) and re-checks; the drainer bumps `progress_` (seq_cst RMW) after
  // each settled batch (after storing `completed`) and each refusal, then reads
  // flush_waiters_ (seq_cst) and wakes if nonzero. In the total order either
  // the registration precedes the drainer's read (it wakes us, or our futex
  // sees the bumped value) or the bump precedes our read of progress_, which
  // then synchronizes with it and the re-check sees `completed`.
  flush_result flush_until(const clock::time_point* deadline, std::uint64_t refusal_limit) {
    const std::uint64_t target = queue_.push_count();
    const std::uint64_t fails0 = sink_failures_.load(std::memory_order_relaxed);
    std::uint64_t streak_base = fails0;
    std::uint64_t last_completed = completed_->load(std::memory_order_acquire);  // (2) acquire: pairs with (1)
    flush_result r;
    const bool waiting = thread_.joinable();
    if (waiting) flush_waiters_->fetch_add(1, std::memory_order_seq_cst);
    for (;;) {
      const std::uint32_t ev = progress_->load(std::memory_order_seq_cst);
      const std::uint64_t c = completed_->load(std::memory_order_acquire);  // (2) acquire: pairs with (1)
      const std::uint64_t fails = sink_failures_.load(std::memory_order_relaxed);
      r.refusals = fails - fails0;
      r.pending = c >= target ? 0 : target - c;
      if (r.pending == 0) break;
      if (c != last_completed) last_completed = c, streak_base = fails;
      if (refusal_limit != 0 && fails - streak_base >= refusal_limit) {
        r.stalled = true;
        break;
      }
      if (deadline != nullptr && clock::now() >= *deadline) break;
      if (waiting) {
        detail::futex_wait(*progress_, ev, deadline);
        continue;
      }
      bool stalled = false;
      std::chrono::nanoseconds pause{0};
      {
        std::lock_guard lock(drain_mutex_);
        // The pause is computed under the mutex: it reads drainer state.
        if (drain_locked(false) == 0) stalled = true, pause = pause_locked();
      }
      if (stalled) {
        if (deadline != nullptr)
          pause = std::min<std::chrono::nanoseconds>(
              pause, std::max<clock::duration>(*deadline - clock::now(), clock::duration::zero()));
        std::this_thread::sleep_for(pause);
      }
    }
    if (waiting) flush_waiters_->fetch_sub(1, std::memory_order_relaxed);  // only spares later wakes
    return r;
  }

  // After a batch settled or a refusal: wake flushers, if any (see flush_until).
  void note_progress() noexcept {
    progress_->fetch_add(1, std::memory_order_seq_cst);
    if (flush_waiters_->load(std::memory_order_seq_cst) != 0) detail::futex_wake(*progress_, true);
  }

  bool write_slow(entry&& e) {
    for (;;) {
      if (queue_.is_closed()) break;
      detail::fetch_max<std::uint64_t>(max_depth_, queue_.capacity());
      if (cfg_.on_full == backpressure::fail) break;
      if (cfg_.on_full == backpressure::help_drain) {
        std::size_t progress = 0;
        if (std::unique_lock lock(drain_mutex_, std::try_to_lock); lock.owns_lock())
          progress = drain_locked(false);
        if (queue_.try_push_weak(std::move(e))) return true;
        if (progress != 0) continue;
        if (!thread_.joinable()) {
          // Caller-driven: no drainer is bound to come, so sleeping in push
          // could wait forever (every writer stuck while the sink refuses or
          // tokens run out). Let time pass, then help again.
          std::this_thread::sleep_for(std::clamp<std::chrono::nanoseconds>(
              cfg_.retry_backoff, std::chrono::microseconds(10), std::chrono::milliseconds(1)));
          continue;
        }
      }
      // block, or nothing to help with right now: sleep until there is room
      if (queue_.push(std::move(e))) return true;
    }
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }

  bool settled_locked() const noexcept {
    return next_ == pending_.size() && queue_.is_closed() && queue_.push_count() == popped_;
  }

  // One step of the drainer, under drain_mutex_: take a batch if the previous
  // one is settled (blocking for one when `may_block`), then apply as much of
  // it as tokens and the sink allow. Returns the writes settled.
  std::size_t drain_locked(bool may_block) {
    if (next_ == pending_.size() && !refill(may_block)) return 0;
    if (batch_sink_) return drain_batch_locked();
    std::size_t settled = 0;
    while (next_ < pending_.size()) {
      if (!take_token()) return settled;
      pending& p = pending_[next_];
      bool ok = false;
      try {
        ok = sink_(p.key, p.delta);
      } catch (...) {
        ok = false;
      }
      if (ok) {
        applied_.fetch_add(1, std::memory_order_relaxed);
        applied_writes_.fetch_add(p.writes, std::memory_order_relaxed);
        if (cfg_.measure_lag) note_lag(p.oldest_ns);
      } else {
        sink_failures_.fetch_add(1, std::memory_order_relaxed);
        note_progress();  // a flusher counts refusals
        const bool give_up = cfg_.on_sink_failure == sink_failure_policy::count ||
                             (closing_.load(std::memory_order_relaxed) && ++p.failures > cfg_.shutdown_retries);
        if (!give_up) {
          retry_pending_ = true;
          return settled;
        }
        give_up_entry(p);
      }
      retry_pending_ = false;
      settled += p.writes;
      ++next_;
    }
    completed_->store(popped_, std::memory_order_release);  // (1) release: pairs with the acquire in (2)
    note_progress();
    return settled;
  }

  // An entry given up after sink failures: counted failed, reported.
  void give_up_entry(const pending& p) {
    failed_.fetch_add(p.writes, std::memory_order_relaxed);
    if (cfg_.on_failure) {
      try {
        cfg_.on_failure(p.key, p.delta, p.writes);
      } catch (...) {  // a reporting hook must not stop the drainer
      }
    }
  }

  // drain_locked with a batch sink (see the header): each call gets the
  // batch's unsettled entries in queue order — with combine = false cut
  // before the first key the call already holds —, at most one per whole
  // token; then each entry is settled by its `applied`, or refused.
  std::size_t drain_batch_locked() {
    std::size_t settled = 0;
    while (next_ < pending_.size()) {
      const std::size_t limit = whole_tokens(pending_.size() - next_);
      if (limit == 0) return settled;
      call_index_.clear();
      if (!cfg_.combine) slot_of_.clear();
      for (std::size_t i = next_; i < pending_.size() && call_index_.size() < limit; ++i) {
        if (pending_[i].done) continue;
        if (!cfg_.combine && !slot_of_.try_emplace(pending_[i].key, i).second) break;  // a repeated key: cut
        call_index_.push_back(i);
      }
      const std::size_t n = call_index_.size();  // >= 1: pending_[next_] is never done
      if (cfg_.rate_per_sec > 0) tokens_ -= static_cast<double>(n);  // one token per backend write
      call_.clear();
      for (const std::size_t i : call_index_)
        call_.push_back(batch_entry{pending_[i].key, pending_[i].delta, pending_[i].writes, false});
      batch_calls_.fetch_add(1, std::memory_order_relaxed);
      try {
        batch_sink_(std::span<batch_entry>(call_));
      } catch (...) {  // every entry not marked applied is refused
      }
      bool keep = false, refused = false;
      for (std::size_t c = 0; c < n; ++c) {
        pending& p = pending_[call_index_[c]];
        if (call_[c].applied) {
          applied_.fetch_add(1, std::memory_order_relaxed);
          applied_writes_.fetch_add(p.writes, std::memory_order_relaxed);
          if (cfg_.measure_lag) note_lag(p.oldest_ns);
        } else {
          sink_failures_.fetch_add(1, std::memory_order_relaxed);
          refused = true;
          const bool give_up = cfg_.on_sink_failure == sink_failure_policy::count ||
                               (closing_.load(std::memory_order_relaxed) && ++p.failures > cfg_.shutdown_retries);
          if (!give_up) {
            keep = true;  // stays pending: handed again after retry_backoff
            continue;
          }
          give_up_entry(p);
        }
        p.done = true;
        settled += p.writes;
      }
      call_.clear();  // its references must not outlive the call
      if (refused) note_progress();  // a flusher counts refusals
      while (next_ < pending_.size() && pending_[next_].done) ++next_;
      retry_pending_ = keep;
      if (keep) return settled;
    }
    completed_->store(popped_, std::memory_order_release);  // (1) release: pairs with the acquire in (2)
    note_progress();
    return settled;
  }

  // Pops the next batch into pending_, combining per key. False: nothing popped.
  bool refill(bool may_block) {
    pending_.clear();
    next_ = 0;
    detail::fetch_max<std::uint64_t>(max_depth_, queue_.size_approx());
    const std::size_t n = may_block ? queue_.pop_bulk(batch_.data(), batch_.size())
                                    : queue_.try_pop_bulk_weak(batch_.data(), batch_.size());
    if (n == 0) return false;
    popped_ += n;
    if (!cfg_.combine) {
      for (std::size_t i = 0; i < n; ++i)
        pending_.push_back({std::move(batch_[i].key), std::move(batch_[i].delta), 1, batch_[i].stamp_ns, 0, false});
      return true;
    }
    slot_of_.clear();
    for (std::size_t i = 0; i < n; ++i) {
      entry& e = batch_[i];
      auto [it, fresh] = slot_of_.try_emplace(e.key, pending_.size());
      if (fresh) {
        pending_.push_back({std::move(e.key), std::move(e.delta), 1, e.stamp_ns, 0, false});
      } else {
        pending& p = pending_[it->second];
        combine_(p.delta, e.delta);
        ++p.writes;
        p.oldest_ns = std::min(p.oldest_ns, e.stamp_ns);
      }
    }
    combined_.fetch_add(n - pending_.size(), std::memory_order_relaxed);
    return true;
  }

  bool take_token() {
    if (cfg_.rate_per_sec <= 0) return true;
    refill_tokens();
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

  // The batch sink's allowance: the whole tokens in the bucket (refilled
  // now), at most `want`; not taken yet. Unlimited rate: `want`.
  std::size_t whole_tokens(std::size_t want) {
    if (cfg_.rate_per_sec <= 0) return want;
    refill_tokens();
    return static_cast<std::size_t>(std::min(tokens_, static_cast<double>(want)));  // floor
  }

  void refill_tokens() {
    const std::int64_t now = now_ns();
    if (now > last_refill_ns_) {
      tokens_ = std::min(cfg_.burst, tokens_ + static_cast<double>(now - last_refill_ns_) * cfg_.rate_per_sec * 1e-9);
      last_refill_ns_ = now;
    }
  }

  void note_lag(std::int64_t oldest_ns) {
    detail::fetch_max(max_lag_ns_, now_ns() - oldest_ns);
  }

  // How long to sleep (in real time) while tokens refill or a rejected entry
  // waits for its retry; at most 1 ms, so an injected clock is re-read often.
  // Under drain_mutex_: it reads retry_pending_ and tokens_, which a
  // help_drain writer or flush() may be changing otherwise. The caller
  // sleeps after dropping the mutex.
  [[nodiscard]] std::chrono::nanoseconds pause_locked() const noexcept {
    constexpr std::chrono::nanoseconds cap = std::chrono::milliseconds(1);
    if (retry_pending_ || cfg_.rate_per_sec <= 0) return std::min(cfg_.retry_backoff, cap);
    // In double first: a tiny rate would overflow the integer conversion.
    const double ns = (1 - std::min(tokens_, 1.0)) * 1e9 / cfg_.rate_per_sec + 1;
    return ns >= static_cast<double>(cap.count()) ? cap : std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
  }

  static config_type checked(config_type c) {
    constexpr const char* who = "write_buffer";
    if (c.capacity < 2 || !std::has_single_bit(c.capacity))
      detail::throw_bad_option(who, "capacity", "must be a power of two >= 2");
    if (c.batch_size == 0) c.batch_size = std::min<std::size_t>(256, c.capacity);  // the documented default
    if (c.batch_size > c.capacity) detail::throw_bad_option(who, "batch_size", "must be <= capacity");
    detail::checked_non_negative(c.rate_per_sec, who, "rate_per_sec");
    detail::checked_non_negative(c.burst, who, "burst");
    if (c.burst != 0 && c.burst < 1) detail::throw_bad_option(who, "burst", "must be 0 (default) or >= 1");
    if (c.retry_backoff.count() < 0) detail::throw_bad_option(who, "retry_backoff", "must be >= 0");
    if (c.on_full != backpressure::block && c.on_full != backpressure::fail && c.on_full != backpressure::help_drain)
      detail::throw_bad_option(who, "on_full", "is not a backpressure value");
    if (c.on_sink_failure != sink_failure_policy::retry && c.on_sink_failure != sink_failure_policy::count)
      detail::throw_bad_option(who, "on_sink_failure", "is not a sink_failure_policy value");
    return c;
  }

  void drain_loop() {
    std::unique_lock lock(drain_mutex_);
    for (;;) {
      const bool idle = next_ == pending_.size();
      const std::size_t progress = drain_locked(true);
      if (next_ < pending_.size() && progress == 0) {
        const std::chrono::nanoseconds pause = pause_locked();
        lock.unlock();  // let help-drain writers and flush() run while we wait
        detail::schedule_point<Contention>();
        std::this_thread::sleep_for(pause);
        lock.lock();
      } else if (idle && next_ == pending_.size() && queue_.is_closed() && queue_.pop_count() == queue_.push_count()) {
        return;
      }
    }
  }

  config_type cfg_;
  sink_type sink_;              // one of the two sinks is set
  batch_sink_type batch_sink_;
  [[no_unique_address]] Combine combine_{};
  bounded_queue<entry, Contention> queue_;

  // Drainer state, under drain_mutex_.
  std::mutex drain_mutex_;
  std::vector<entry> batch_;
  std::vector<pending> pending_;
  std::unordered_map<Key, std::size_t> slot_of_;  // refill: key -> entry; a batch call (combine = false): its keys
  std::vector<batch_entry> call_;                 // the batch sink's call, cleared after it
  std::vector<std::size_t> call_index_;           // pending_ index of each entry of call_
  std::size_t next_ = 0;            // first pending entry not yet settled
  std::uint64_t popped_ = 0;        // queue positions taken by the drainer
  double tokens_ = 0;
  std::int64_t last_refill_ns_ = 0;
  bool retry_pending_ = false;

  std::atomic<bool> closing_{false};
  detail::padded<std::atomic<std::uint64_t>> completed_;  // flush() waiters read it; keep it off the counters' line
  detail::padded<std::atomic<std::uint32_t>> progress_;   // bumped per settled batch and per refusal; flushers sleep on it
  detail::padded<std::atomic<std::uint32_t>> flush_waiters_;
  std::atomic<std::uint64_t> rejected_{0}, combined_{0}, applied_{0}, applied_writes_{0};
  std::atomic<std::uint64_t> sink_failures_{0}, failed_{0}, max_depth_{0}, batch_calls_{0};
  std::atomic<std::int64_t> max_lag_ns_{0};
  std::thread thread_;
};

}  // namespace hotshard
