// hotshard/coalescing_cache.hpp — a read-through cache that stops thundering
// herds: TTL, single-flight on misses, stale-while-revalidate, probabilistic
// early refresh, short-lived negative entries, bounded size — and a hit on a
// fresh entry takes no lock.
//
// Algorithm. Entries are immutable nodes (key, value or error, expiry, the
// load's duration δ) published through S shards. Each shard has an
// open-addressing slot array of atomic node pointers with a hash tag beside
// each (linear probing, tombstones; a probe dereferences only a node whose
// tag matches) that readers probe without a lock, and a mutex that every
// writer of the shard holds (O(1) work under it, never across a load):
//  - a hit: probe the slot array under a reader guard (see "Reclamation"),
//    compare the key, check the expiry, copy the value. No lock, no shared
//    write except the caller's own stripe (its reader count and statistics)
//    and, at most once per eviction sweep, the node's CLOCK reference bit;
//  - a store (load, refresh, put) builds a new node outside the lock, then
//    under it swaps the slot's pointer (release) and retires the old node; a
//    removal (invalidate, eviction) stores a tombstone and retires the node.
//    The slot array is rebuilt (and the old array retired) when live entries
//    plus tombstones pass 3/4 of it;
//  - eviction: second-chance CLOCK over an insertion-order ring per shard
//    (a hit sets the node's reference bit, the hand clears it or evicts);
//    with no hits in between it is FIFO, and a key read between sweeps stays.
// Everything the fast path does not serve — a miss, an expiry, a refresh to
// start, a node changed under it — goes to the locked path, which is the
// authority: the fast path may miss (it then takes the lock), never serve a
// value the locked path would not.
// A miss loads through single_flight (hotshard/single_flight.hpp), so N
// concurrent misses on a key become one backend call. Around it:
//  - stale-while-revalidate (Varnish "grace", RFC 5861): for `grace` after
//    expiry, the first caller refreshes and every other caller is served the
//    old value at once (counted as stale_served). With `options::executor`
//    set, the refresh runs there and the triggering caller is served the old
//    value too; without, it runs inline in the triggering caller;
//  - XFetch probabilistic early expiration (Vattani, Chierichetti, Lowenstein,
//    "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015,
//    https://doi.org/10.14778/2757807.2757813): a fresh hit refreshes early
//    when  now − δ·β·ln(u) ≥ expiry, δ = how long the last load took, u
//    uniform in (0, 1], β the eagerness (0 turns it off), and never before
//    `early_refresh_after` (default 1/2) of ttl has passed since the value was
//    stored: on a hot key the lead δ·β·(−ln u) can exceed ttl (a load as slow
//    as a fifth of ttl does on ~1 hit in 150), which made every store refresh
//    at once. One refresh per key at a time; the others keep reading the
//    cached value;
//  - errors: a failed load is remembered for `negative_ttl` only (callers in
//    that window get the same exception without a backend call), then the
//    next caller loads again; a failed refresh keeps the old value;
//  - invalidate(key): drops the entry, makes the in-flight load of the key (if
//    any) not joinable (single_flight::forget) and not stored: each shard
//    keeps 64 invalidation epochs indexed by key hash; a get reads its key's
//    epoch under the shard mutex before it loads, invalidate (and put) bump
//    it, and a load (or refresh) stores only if the epoch is unchanged. An
//    epoch is never evicted or overwritten (the tombstone it replaces could
//    be, and then a load begun before the invalidation was cached: the
//    refresh race of ben-manes/caffeine#193); invalidating a key that is not
//    cached only bumps its epoch, it never evicts an entry. Keys sharing an
//    epoch cost each other at worst a spare miss;
//  - put(key, value): an invalidate and a store in one step under the shard
//    mutex: loads of the key begun before it are neither joined nor stored;
//  - peek / contains: the fast path's probe, for a fresh value only; no load,
//    no statistics, no reference bit;
//  - an eviction listener (constructor argument) hears every value that
//    leaves — pushed out (size), invalidate (invalidated), a newer value
//    (replaced) — after the shard mutex is released, in the removing thread.
//  - get_all(keys, bulk_loader) (Caffeine's getAll): fresh keys served, the
//    rest through single_flight::run_all (keys in flight joined, the others
//    loaded by one bulk call and stored under their invalidation epochs);
//  - results: get returns the value or rethrows; get_for and get_all return
//    load_result (detail/load_result.hpp): hit, stale, refreshed, loaded,
//    shared, timed_out, cancelled, or failed with the exception and its
//    origin (own load, shared load, remembered error);
//  - cancellation: get / get_for take an optional std::stop_token and a
//    loader may take one, as in single_flight (the refresh an executor runs
//    gets an empty token);
//  - keys: std::string keys accept std::string_view lookups (transparent
//    policy::hash); a Key is built only for an entry that is stored. Pointer
//    keys are rejected at compile time (they would cache by address).
// Clock and random source are injectable (options::clock_ns, uniform01), so
// tests are deterministic. `coalesce = false` turns single-flight off: the
// "ttl_cache" baseline of the benchmarks (with grace = 0, beta = 0).
//
// Reclamation (detail::cc_reclaimer below, written for this cache). A reader
// guard is a count in one of 72 stripes per cache, in one of two phases. A
// live thread holds one of 64 process-wide reader ids of its own (given back
// at thread exit) and owns that stripe in every cache: its exit and its
// statistics are plain stores, its entry one RMW; past 64 live threads the
// others share 8 stripes with RMWs. Entering: read the phase p, increment
// stripe[p], re-read the phase; if it moved, undo and retry (seq_cst, so a
// reclaimer that flipped the phase and then saw stripe[p] at zero cannot miss
// a reader that went on: the Dekker pair of SRCU). Retired nodes and slot
// arrays are pushed on a lock-free stack; the retirement that crosses each
// 16th try_locks the reclaimer's mutex (busy: left to the next), collects
// the stack, frees the list of the previous phase once no reader of that
// phase remains, then flips the phase. A node is therefore freed only after every
// reader that could have loaded its pointer has left. Freed memory waits at
// most for the readers in flight (a reader's guard covers one probe and one
// value copy); what is still retired when the cache is destroyed is freed by
// its destructor.
//
// Statistics add up: every get (or get_for, or key of get_all) lands in exactly one of hits,
// stale_served, misses, refreshes, errors, timeouts, and `gets` is their sum
// (exact once the calls have returned). Sub-counts: early_refreshes ⊆
// refreshes, negative_hits ⊆ errors. backend_calls and load_failures count
// loader invocations and failed ones (a shared failure counts once there, and
// once per caller in errors). Counters live in the caller's stripe.
//
// Bounds and bad input: size() never exceeds capacity (with more shards than
// capacity, only `capacity` shards are used; the per-shard limits add up to
// capacity). ttl / negative_ttl = nanoseconds::max() never expire (expiry
// saturates). The constructor rejects capacity 0, shards outside [1, 65536],
// negative durations, beta NaN / infinite / negative, early_refresh_after
// outside [0, 1] (or NaN) and flight_capacity
// outside [1, 2^32] with std::invalid_argument naming the field. Sharding
// and the slot arrays hash with a per-instance seed (options::seed, random if
// empty). The Contention policy is passed to the flight table (and its
// schedule_point, if any, is also called between the cache's own steps:
// tests inject yields).
//
// Progress:
//  - get / get_for on a fresh entry (hit), a remembered error, or a stale
//    entry whose refresh is running: lock-free (no lock; a probe of at most
//    the slot array and one retry of the guard per reclaimer phase flip, which
//    needs 16 retirements) plus the value's copy constructor;
//  - get / get_for otherwise: blocking (the shard mutex, O(1) under it, and
//    the wait for a load in flight; get_for's wait ends at its timeout);
//  - peek / contains: lock-free, as a hit;
//  - get_all: per cached key as a hit, the shard mutex once per other key,
//    then single_flight::run_all (blocking);
//  - put / invalidate: blocking (the shard mutex; a retirement is a
//    lock-free push, every 16th also a try_lock and a scan of 72 stripes);
//  - stats: wait-free (72 stripes). size: blocking (every shard mutex).
//  - a thread's first use of any cache: blocking (the reader-id registry's
//    mutex, once per thread; again at its exit).
// What a reader sees: a value at most ttl + grace old (as measured by the
// injected clock), or one loaded by its own call or a concurrent one — never
// one loaded by a load that began before an invalidate(key) or put(key) which
// returned before the get began, and after put(key, v) returns (until a later
// store or expiry) the value v (tests/single_flight: regressions, the noise
// stress and the lock-free hit stress).
// Memory ordering: a node's fields are written before the release store of
// its pointer into a slot (and a slot array's slots before the release store
// of the array's pointer); readers load both with acquire. A removal's store
// (tombstone, new node) is ordered before the return of invalidate / put, so
// by coherence a get that begins after it (happens-after) reads that store or
// a later one. Hash tags, refresh marks and reference bits are relaxed hints:
// a tag only filters (the node's hash and key are checked after the acquire
// load of its pointer), and the locked path re-checks the marks. The reader guard's exit is a release decrement and the
// reclaimer's scan seq_cst loads (⊇ acquire), so a reader's reads of a node
// happen before the node is freed. Values cross threads through a node or
// through single_flight (see its header); the statistics are relaxed.
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/clock.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/load_result.hpp>
#include <hotshard/detail/metrics.hpp>
#include <hotshard/detail/single_flight_support.hpp>
#include <hotshard/single_flight.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hotshard {

struct coalescing_cache_options {
  std::size_t capacity = 4096;                             // entries (values and errors), over all shards; >= 1
  std::size_t shards = 16;                                 // in [1, 65536]; more shards than capacity: capacity used
  std::chrono::nanoseconds ttl = std::chrono::seconds(1);  // fresh for this long after a load; max() = never expires
  std::chrono::nanoseconds grace{0};                       // then served stale while one refresh runs
  std::chrono::nanoseconds negative_ttl = std::chrono::milliseconds(100);  // an error is remembered this long
  double beta = 1.0;                                       // XFetch eagerness; 0 = no early refresh; finite, >= 0
  // No early refresh before this fraction of ttl has passed since the value
  // was stored, however long the load took; in [0, 1] (0: XFetch alone, 1:
  // never early). The default 0.5 keeps a slow load on a hot key from
  // refreshing right after every store (XFetch's lead δ·β·(−ln u) may pass ttl).
  double early_refresh_after = 0.5;
  bool coalesce = true;                                    // false: every miss calls the loader
  std::size_t flight_capacity = 1024;                      // single_flight table size, in [1, 2^32]
  detail::clock_ns_fn clock_ns{};                          // std::function<int64_t()>; empty: steady_clock (detail/clock.hpp)
  std::function<double()> uniform01{};                     // in (0, 1]; empty: a thread-local generator
  std::optional<std::uint64_t> seed{};                     // hash seed; empty: a random one per instance
  // Runs a refresh (stale-while-revalidate or early). Empty: the caller that
  // triggers the refresh runs it inline and gets the new value. Set: the
  // refresh task is handed to it and that caller is served the old value. The
  // task copies the loader (it must stay valid after get returns: capture by
  // value; a loader that cannot be copied refreshes inline); a task destroyed
  // without running gives its refresh back; a task that runs after its entry
  // was replaced (reloaded, put, invalidated) returns without a backend call;
  // an executor that throws means an inline refresh. Every task must have run
  // or been destroyed before the cache is destroyed.
  std::function<void(std::function<void()>)> executor{};
};

struct coalescing_cache_stats {
  std::uint64_t gets = 0;             // = hits + stale_served + misses + refreshes + errors + timeouts
  std::uint64_t hits = 0;             // fresh value served
  std::uint64_t stale_served = 0;     // old value served while somebody else's refresh runs
  std::uint64_t misses = 0;           // caller waited for a load (its own or a shared one) and got its value
  std::uint64_t backend_calls = 0;    // loader invocations
  std::uint64_t early_refreshes = 0;  // XFetch refreshes (a part of refreshes)
  std::uint64_t errors = 0;           // gets that threw (a failed load, own or shared, or a remembered error)
  std::uint64_t negative_hits = 0;    // remembered error served without a backend call (a part of errors)
  std::uint64_t refreshes = 0;        // gets that started a refresh (served the new value, or the old one)
  std::uint64_t timeouts = 0;         // get_for calls that gave up waiting for somebody else's load
  std::uint64_t load_failures = 0;    // loader invocations that threw

  // detail/metrics.hpp's export shape: every field, in declaration order, as a counter.
  template <class F>
  void for_each_metric(F&& f) const {
    using detail::metric;
    using detail::metric_kind;
    const auto c = [&](std::string_view name, std::uint64_t v, std::string_view help) {
      f(metric{name, metric_kind::counter, static_cast<double>(v), help});
    };
    c("gets_total", gets, "Gets (hits + stale served + misses + refreshes + errors + timeouts).");
    c("hits_total", hits, "Gets served a fresh cached value.");
    c("stale_served_total", stale_served, "Gets served the old value while another caller's refresh ran.");
    c("misses_total", misses, "Gets that waited for a load (their own or a shared one) and got its value.");
    c("backend_calls_total", backend_calls, "Loader invocations.");
    c("early_refreshes_total", early_refreshes, "XFetch early refreshes (a part of refreshes).");
    c("errors_total", errors, "Gets that ended in an error (a failed load, own or shared, or a remembered error).");
    c("negative_hits_total", negative_hits, "Remembered errors served without a backend call (a part of errors).");
    c("refreshes_total", refreshes, "Gets that started a refresh.");
    c("timeouts_total", timeouts, "get_for calls that gave up waiting for another caller's load.");
    c("load_failures_total", load_failures, "Loader invocations that threw.");
  }
};

// Why an entry left the cache (the eviction listener's third argument).
enum class eviction_cause : std::uint8_t {
  size,         // pushed out to make room (capacity)
  invalidated,  // invalidate(key)
  replaced,     // a newer value (load, refresh or put) took its place
};

namespace detail {

// --- reclamation for the cache's lock-free reads ------------------------------

// Something retired: freed by `destroy` once no reader can hold it.
struct cc_retired {
  cc_retired* next_retired = nullptr;
  void (*destroy)(cc_retired*) noexcept = nullptr;
};

// Reader ids: a live thread holds one of cc_exclusive_ids ids of its own
// (given back at thread exit, for the next thread), and writes its stripe in
// every cache with plain loads and stores; once all are taken, or while the
// thread exits, it uses one of cc_shared_ids shared stripes with RMWs.
// Ownership passes through the registry's mutex (one lock per thread
// lifetime), so a stripe has one plain writer at a time.
inline constexpr std::uint32_t cc_exclusive_ids = 64;
inline constexpr std::uint32_t cc_shared_ids = 8;
inline constexpr std::uint32_t cc_no_id = ~std::uint32_t{0};
inline thread_local std::uint32_t tls_cc_id = cc_no_id;  // trivially destructible: no TLS guard

struct cc_id_registry {
  std::mutex mutex;
  std::vector<std::uint32_t> free;
  std::uint32_t next = 0;
  std::uint32_t spill = 0;
};
inline cc_id_registry& cc_ids() {
  static auto* r = new cc_id_registry;  // never destroyed: threads may exit after static destruction
  return *r;
}
struct cc_id_holder {
  cc_id_holder() = default;
  cc_id_holder(const cc_id_holder&) = delete;
  cc_id_holder& operator=(const cc_id_holder&) = delete;
  ~cc_id_holder() {
    const std::uint32_t id = tls_cc_id;
    tls_cc_id = cc_exclusive_ids;  // later uses (other thread_local destructors): a shared stripe
    if (id < cc_exclusive_ids) {
      cc_id_registry& r = cc_ids();
      std::scoped_lock lock(r.mutex);
      try {
        r.free.push_back(id);
      } catch (...) {  // the id is lost, its stripe unused from now on
      }
    }
  }
};
inline std::uint32_t cc_assign_id() noexcept {
  thread_local cc_id_holder holder;  // gives the id back at thread exit
  (void)holder;
  cc_id_registry& r = cc_ids();
  std::uint32_t id = cc_exclusive_ids;
  try {
    std::scoped_lock lock(r.mutex);
    if (!r.free.empty()) {
      id = r.free.back();
      r.free.pop_back();
    } else if (r.next < cc_exclusive_ids) {
      r.free.reserve(cc_exclusive_ids);  // the holder's push_back then never allocates
      id = r.next++;
    } else {
      id = cc_exclusive_ids + (r.spill++ % cc_shared_ids);
    }
  } catch (...) {  // the mutex failed: a shared stripe
  }
  tls_cc_id = id;
  return id;
}
// The calling thread's reader id: < cc_exclusive_ids owns its stripe.
inline std::uint32_t cc_reader_id() noexcept {
  const std::uint32_t id = tls_cc_id;
  return id != cc_no_id ? id : cc_assign_id();
}

// +1 on a counter: a plain load and store on a stripe the caller owns, an RMW on a shared one.
inline void cc_bump(std::atomic<std::uint64_t>& c, bool owned, std::memory_order order) noexcept {
  if (owned)
    c.store(c.load(std::memory_order_relaxed) + 1, order);
  else
    c.fetch_add(1, order);
}
inline void cc_drop(std::atomic<std::uint64_t>& c, bool owned) noexcept {
  if (owned)
    c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_release);
  else
    c.fetch_sub(1, std::memory_order_release);
}

// Two-phase striped reader counts (SRCU-like); `Extra` rides on each stripe
// (the cache keeps its per-thread statistics there). Progress: enter is
// lock-free (retries only when a phase flip races with it), exit wait-free,
// retire lock-free (a CAS push; every `batch` retirements a try_lock, never a
// wait, and a scan of the stripes).
template <class Extra>
class cc_reclaimer {
 public:
  static constexpr std::size_t stripes = cc_exclusive_ids + cc_shared_ids;
  static constexpr std::size_t batch = 16;
  struct alignas(prefetch_pair_bytes) stripe {
    std::array<std::atomic<std::uint64_t>, 2> readers{};
    Extra extra{};
  };

  class guard {
   public:
    guard(std::atomic<std::uint64_t>* c, bool owned) noexcept : c_(c), owned_(owned) {}
    guard(const guard&) = delete;
    guard& operator=(const guard&) = delete;
    // release: the reader's reads of what it protected happen before the
    // reclaimer's scan (seq_cst loads) sees the count drop.
    ~guard() { cc_drop(*c_, owned_); }

   private:
    std::atomic<std::uint64_t>* c_;
    bool owned_;
  };
  // The calling thread's stripe, and whether it owns it.
  struct local_stripe {
    stripe* s;
    bool owned;
  };

  cc_reclaimer() : s_(std::make_unique<stripe[]>(stripes)) {}
  cc_reclaimer(const cc_reclaimer&) = delete;
  cc_reclaimer& operator=(const cc_reclaimer&) = delete;
  ~cc_reclaimer() {  // no reader is left
    free_list(in_.head.load(std::memory_order_acquire));
    free_list(cur_);
    free_list(prev_);
  }

  local_stripe local() noexcept {
    const std::uint32_t id = cc_reader_id();
    if (id < cc_exclusive_ids) return {&s_[id], true};
    return {&s_[cc_exclusive_ids + id % cc_shared_ids], false};
  }
  const stripe& at(std::size_t i) const noexcept { return s_[i]; }

  [[nodiscard]] guard enter() noexcept { return enter(local()); }
  [[nodiscard]] guard enter(const local_stripe l) noexcept {
    for (;;) {
      // seq_cst (1)-(2)-(3): with the flip (4) and the scan (5), of a reader
      // and a reclaimer at least one sees the other. (2) stays an RMW even on
      // an owned stripe: it is the reader's store-load barrier.
      const unsigned p = phase_.load(std::memory_order_seq_cst);  // (1)
      l.s->readers[p].fetch_add(1, std::memory_order_seq_cst);    // (2)
      if (phase_.load(std::memory_order_seq_cst) == p) return guard{&l.s->readers[p], l.owned};  // (3)
      cc_drop(l.s->readers[p], l.owned);
    }
  }

  // Takes the list (linked through next_retired); frees it once safe.
  // Lock-free push (a CAS loop on the incoming stack); every `batch`
  // retirements the pusher that crosses the mark try_locks the mutex and
  // advances (a busy mutex: the holder, or the next crossing, does it).
  void retire(cc_retired* head) noexcept {
    if (head == nullptr) return;
    std::size_t n = 1;
    cc_retired* tail = head;
    while (tail->next_retired != nullptr) {
      tail = tail->next_retired;
      ++n;
    }
    cc_retired* top = in_.head.load(std::memory_order_relaxed);
    do {
      tail->next_retired = top;
      // release: the list's links (and the unlink before it) happen before the collector's acquire exchange
    } while (!in_.head.compare_exchange_weak(top, head, std::memory_order_release, std::memory_order_relaxed));
    const std::size_t before = in_.count.fetch_add(n, std::memory_order_relaxed);  // a trigger only
    if ((before + n) / batch == before / batch) return;
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return;
    collect();
    advance();
  }

 private:
  // Mutex held. Free the previous phase's list if its readers are gone, then
  // flip the phase so the current list becomes the previous one.
  void advance() noexcept {
    for (int round = 0; round < 2; ++round) {
      const unsigned p = phase_.load(std::memory_order_relaxed);  // only we write it
      // Readers of phase 1 - p entered before the flip to p and may hold what
      // was retired before it (prev_). The flip to 1 - p also needs them gone:
      // the phase's count is reused. (prev_ empty: checked when it was freed.)
      if (prev_ != nullptr) {
        if (!drained(1 - p)) return;
        free_list(std::exchange(prev_, nullptr));
      }
      if (cur_ == nullptr) return;
      prev_ = std::exchange(cur_, nullptr);
      phase_.store(1 - p, std::memory_order_seq_cst);  // (4)
    }
  }
  bool drained(unsigned p) const noexcept {
    for (std::size_t i = 0; i < stripes; ++i)
      if (s_[i].readers[p].load(std::memory_order_seq_cst) != 0) return false;  // (5)
    return true;
  }
  static void free_list(cc_retired* r) noexcept {
    while (r != nullptr) {
      cc_retired* next = r->next_retired;
      r->destroy(r);
      r = next;
    }
  }

  // Mutex held: the pushed lists join the current phase's (later than their
  // unlink: only ever safer).
  void collect() noexcept {
    cc_retired* got = in_.head.exchange(nullptr, std::memory_order_acquire);  // pairs with the pushes' release
    while (got != nullptr) {
      cc_retired* next = got->next_retired;
      got->next_retired = cur_;
      cur_ = got;
      got = next;
    }
  }

  std::unique_ptr<stripe[]> s_;
  alignas(cache_line_bytes) std::atomic<unsigned> phase_{0};
  struct alignas(cache_line_bytes) incoming {
    std::atomic<cc_retired*> head{nullptr};
    std::atomic<std::size_t> count{0};
  } in_;
  alignas(cache_line_bytes) std::mutex mutex_;
  cc_retired* cur_ = nullptr;   // retired in the current phase (collected)
  cc_retired* prev_ = nullptr;  // retired before the last flip: waits for that phase's readers
};

}  // namespace detail

template <class Key, class Value, class... Policies>
  requires policy::keyed_policies<Policies...> && concepts::hashable_key<Key, policy::hash_of<Key, Policies...>>
class coalescing_cache {
  // The named policies (hotshard/policy.hpp): the key hash and the contention hook.
  using Hash = policy::hash_of<Key, Policies...>;
  using Contention = policy::contention_of<Policies...>;

 public:
  using key_type = Key;
  using value_type = Value;
  using options = coalescing_cache_options;
  using result_type = load_result<Value>;
  // Called after an entry holding a value left the cache, outside every lock,
  // by the thread that removed it; must not throw (std::terminate). It may
  // call into the cache, but it may run in a loader's thread before that
  // load's result reaches its joiners: it must not get() a key whose load
  // runs on its own thread (it would wait for itself).
  using eviction_listener = std::function<void(const Key&, const Value&, eviction_cause)>;
  static constexpr std::size_t max_shards = std::size_t{1} << 16;
  static constexpr std::size_t epochs_per_shard = 64;
  static_assert(std::is_copy_constructible_v<Value>, "every caller receives a copy of the cached value");
  static_assert(!std::is_pointer_v<Key>,
                "coalescing_cache: a pointer key (e.g. const char*) would cache by address, not by content; "
                "use std::string keys (lookups may pass std::string_view) or a value type");

  // Throws std::invalid_argument naming the field for a bad option.
  explicit coalescing_cache(options o = {}) : coalescing_cache(std::move(o), eviction_listener{}) {}
  coalescing_cache(options o, eviction_listener on_evict)
      : opt_(validated(std::move(o))),
        seed_(opt_.seed ? *opt_.seed : detail::random_seed()),
        on_evict_(std::move(on_evict)),
        flights_(single_flight_options{.capacity = opt_.flight_capacity, .window = 8, .seed = detail::mix64(seed_ ^ 0x5f1c6a7e3d2b9481ULL)}),
        n_shards_(std::min(opt_.shards, opt_.capacity)),
        shards_(std::make_unique<shard[]>(n_shards_)) {
    for (std::size_t i = 0; i < n_shards_; ++i) {
      // Capacity split as evenly as it goes: the limits add up to exactly `capacity`.
      shards_[i].limit = opt_.capacity / n_shards_ + (i < opt_.capacity % n_shards_ ? 1 : 0);
      shards_[i].tab.store(new table(initial_slots), std::memory_order_relaxed);
    }
  }
  coalescing_cache(const coalescing_cache&) = delete;
  coalescing_cache& operator=(const coalescing_cache&) = delete;
  ~coalescing_cache() {
    for (std::size_t i = 0; i < n_shards_; ++i) {
      table* t = shards_[i].tab.load(std::memory_order_relaxed);
      for (std::size_t j = 0; j <= t->mask; ++j) {
        node* n = t->slots[j].load(std::memory_order_relaxed);
        if (n != nullptr && n != tombstone()) delete n;
      }
      delete t;
    }
  }

  // The cached value of `key`, loading it with `loader()` when needed.
  // Rethrows the load's exception (or a remembered one).
  template <class Loader>
  Value get(const Key& key, Loader&& loader, std::stop_token stop = {}) {
    return get_value(key, loader, stop);
  }
  template <detail::sf_hetero_key<Key, Hash> K, class Loader>
  Value get(const K& key, Loader&& loader, std::stop_token stop = {}) {
    return get_value(key, loader, stop);
  }

  // As get, but a caller that would wait longer than `timeout` for another
  // caller's load returns timed_out (that load goes on and is cached for the
  // others). A caller that runs the load itself is never timed out. timeout
  // <= 0: gives up at once unless the value is cached or it loads itself;
  // nanoseconds::max(): waits as long as it takes. Rethrows a load's error.
  template <class Loader>
  [[nodiscard]] result_type get_for(const Key& key, std::chrono::nanoseconds timeout, Loader&& loader,
                                    std::stop_token stop = {}) {
    return counted(key, loader, &timeout, stop);
  }
  template <detail::sf_hetero_key<Key, Hash> K, class Loader>
  [[nodiscard]] result_type get_for(const K& key, std::chrono::nanoseconds timeout, Loader&& loader,
                                    std::stop_token stop = {}) {
    return counted(key, loader, &timeout, stop);
  }

  // Bulk (Caffeine's getAll): one result per key, in order. Fresh cached
  // keys are served (hit; a remembered error: failed, origin remembered);
  // the others go to single_flight::run_all: keys with a load in flight join
  // it, the rest are loaded by ONE call bulk_loader(std::span<const Key>)
  // returning a range of (key, value) pairs, and stored (unless invalidated
  // meanwhile, as for get). A key the result omits: failed with
  // hotshard::missing_key, nothing cached for it; a throwing bulk loader:
  // every key it was asked for failed with its exception, nothing cached.
  // Stale entries are reloaded in the bulk call (no stale-while-revalidate,
  // no early refresh in bulk). Each key counts as one get in stats().
  template <class BulkLoader>
  [[nodiscard]] std::vector<result_type> get_all(std::span<const Key> keys, BulkLoader&& bulk_loader) {
    return get_all_impl(keys, bulk_loader);
  }

  // Stores `value` as the key's fresh value (write-through: the caller has
  // written its backend). Like invalidate, loads of the key begun before it
  // are neither joined by later callers nor stored.
  void put(const Key& key, const Value& value) { put_impl(key, value); }
  template <detail::sf_hetero_key<Key, Hash> K>
  void put(const K& key, const Value& value) {
    put_impl(key, value);
  }
 private:
  template <class K>
  void put_impl(const K& key, const Value& value) {
    const std::uint64_t h = hash_of(key);
    shard& sh = shard_of(h);
    std::unique_ptr<node> fresh(new node(key, h, std::optional<Value>(value), nullptr, 0));
    batch b(this);
    {
      std::scoped_lock lock(sh.mutex);
      ++sh.epoch[epoch_of(h)];  // loads that read the old epoch will not store
      fresh->expiry = sat_add(now_ns(), opt_.ttl.count());
      place(sh, fresh.get(), b);  // throws only before it publishes the node
      (void)fresh.release();
    }
    step();
    flights_.forget(key);
  }
 public:

  // The key's fresh value, if cached; never loads, never counted in stats,
  // does not mark the entry used.
  [[nodiscard]] std::optional<Value> peek(const Key& key) const { return peek_impl(key); }
  template <detail::sf_hetero_key<Key, Hash> K>
  [[nodiscard]] std::optional<Value> peek(const K& key) const {
    return peek_impl(key);
  }
 private:
  template <class K>
  std::optional<Value> peek_impl(const K& key) const {
    const std::uint64_t h = hash_of(key);
    const std::int64_t now = now_ns();
    auto g = reclaim_.enter();
    const node* n = find(shard_of(h).tab.load(std::memory_order_acquire), h, key);
    if (n == nullptr || !n->value || now >= n->expiry) return std::nullopt;
    return n->value;
  }
 public:
  // Whether peek(key) would return a value.
  [[nodiscard]] bool contains(const Key& key) const { return contains_impl(key); }
  template <detail::sf_hetero_key<Key, Hash> K>
  [[nodiscard]] bool contains(const K& key) const {
    return contains_impl(key);
  }
 private:
  template <class K>
  bool contains_impl(const K& key) const {
    const std::uint64_t h = hash_of(key);
    const std::int64_t now = now_ns();
    auto g = reclaim_.enter();
    const node* n = find(shard_of(h).tab.load(std::memory_order_acquire), h, key);
    return n != nullptr && n->value && now < n->expiry;
  }
 public:

  // Drops `key`. When it returns, no value from a load (or refresh) of `key`
  // that began before it is ever stored, and no later call joins such a load.
  // A key that is not cached: nothing is evicted.
  void invalidate(const Key& key) { invalidate_impl(key); }
  template <detail::sf_hetero_key<Key, Hash> K>
  void invalidate(const K& key) {
    invalidate_impl(key);
  }
 private:
  template <class K>
  void invalidate_impl(const K& key) {
    const std::uint64_t h = hash_of(key);
    shard& sh = shard_of(h);
    batch b(this);
    {
      std::scoped_lock lock(sh.mutex);
      ++sh.epoch[epoch_of(h)];  // loads that read the old epoch will not store
      const std::size_t i = find_slot(sh, h, key);
      if (i != npos) remove_at(sh, i, eviction_cause::invalidated, b);
    }
    step();
    flights_.forget(key);
  }
 public:

  [[nodiscard]] coalescing_cache_stats stats() const noexcept {
    std::array<std::uint64_t, n_counters> c{};
    for (std::size_t i = 0; i < reclaimer::stripes; ++i)
      for (std::size_t k = 0; k < n_counters; ++k) c[k] += reclaim_.at(i).extra.c[k].load(std::memory_order_relaxed);
    coalescing_cache_stats s;
    s.hits = c[c_hit];
    s.stale_served = c[c_stale];
    s.misses = c[c_miss];
    s.refreshes = c[c_refresh];
    s.errors = c[c_error];
    s.timeouts = c[c_timeout];
    s.gets = s.hits + s.stale_served + s.misses + s.refreshes + s.errors + s.timeouts;
    s.backend_calls = c[c_backend];
    s.early_refreshes = c[c_early];
    s.negative_hits = c[c_negative];
    s.load_failures = c[c_load_failure];
    return s;
  }
  [[nodiscard]] single_flight_stats flight_stats() const noexcept { return flights_.stats(); }

  // Entries held (values and errors), at most `capacity`. Takes every shard lock.
  [[nodiscard]] std::size_t size() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < n_shards_; ++i) {
      std::scoped_lock lock(shards_[i].mutex);
      n += shards_[i].live;
    }
    return n;
  }
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

 private:
  static constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();
  static constexpr std::size_t npos = ~std::size_t{0};
  static constexpr std::size_t initial_slots = 16;

  enum counter : std::size_t {
    c_hit, c_stale, c_miss, c_refresh, c_error, c_timeout, c_backend, c_early, c_negative, c_load_failure, n_counters
  };
  struct stripe_counters {
    std::array<std::atomic<std::uint64_t>, n_counters> c{};
  };
  using reclaimer = detail::cc_reclaimer<stripe_counters>;

  // Immutable once published, except the two relaxed hints and the fields
  // only the shard's mutex holder touches (ring_pos, cause).
  struct node : detail::cc_retired {
    template <class K>
    node(const K& k, std::uint64_t h, std::optional<Value> v, std::exception_ptr e, std::int64_t d)
        : hash(h), key(k), value(std::move(v)), error(std::move(e)), delta(d) {
      destroy = [](detail::cc_retired* r) noexcept { delete static_cast<node*>(r); };
    }
    std::uint64_t hash;
    Key key;
    std::optional<Value> value;
    std::exception_ptr error;
    std::int64_t expiry = 0;  // `never` for ttl = nanoseconds::max()
    std::int64_t delta = 0;   // duration of the load that produced it (XFetch δ)
    std::int64_t early_from = never;  // no early refresh can fire before (spares the hit a log and a draw)
    std::uint64_t version = 0;                // unique in its shard: names the node without its address
    std::atomic<bool> refreshing{false};      // a refresh of this entry runs (set and cleared under the mutex)
    mutable std::atomic<bool> referenced{false};  // CLOCK bit: set by hits, cleared by the hand
    std::size_t ring_pos = 0;                 // mutex held
    std::size_t slot = 0;                     // its index in the shard's current slot array; mutex held
    eviction_cause cause = eviction_cause::size;  // why it was removed; mutex held, then its remover's
  };

  struct table : detail::cc_retired {
    explicit table(std::size_t n)
        : mask(n - 1),
          tags(std::make_unique<std::atomic<std::uint64_t>[]>(n)),
          slots(std::make_unique<std::atomic<node*>[]>(n)) {
      destroy = [](detail::cc_retired* r) noexcept { delete static_cast<table*>(r); };
    }
    std::size_t mask;
    // tags[i]: 0 = never used (ends a probe), else the tag (hash | 1) of the
    // last key placed in slot i; a probe dereferences only slots whose tag
    // matches. A tag only filters: the node's hash and key are checked.
    std::unique_ptr<std::atomic<std::uint64_t>[]> tags;
    std::unique_ptr<std::atomic<node*>[]> slots;  // nullptr (never used), tombstone() or a node
  };
  static constexpr std::uint64_t tag_of(std::uint64_t h) noexcept { return h | 1; }

  struct shard {
    alignas(detail::cache_line_bytes) std::atomic<table*> tab{nullptr};  // read by every hit: its own line
    alignas(detail::cache_line_bytes) mutable std::mutex mutex;
    // Below: mutex held.
    std::size_t live = 0;  // nodes in the slot array
    std::size_t used = 0;  // nodes + tombstones
    std::size_t limit = 1;
    std::vector<node*> ring;          // insertion order, CLOCK hand over it; nullptr = hole
    std::vector<std::size_t> holes;   // free ring positions
    std::size_t hand = 0;
    std::uint64_t next_version = 1;
    // Invalidation epochs, one per group of keys (by hash): invalidate bumps
    // its key's, a load stores only if its key's epoch is unchanged since the
    // load began. Never evicted or overwritten, unlike a tombstone; keys
    // sharing a group cost each other at worst a spare miss.
    std::array<std::uint64_t, epochs_per_shard> epoch{};
  };

  // Nodes and slot arrays removed under a shard mutex, handed to the
  // listener and the reclaimer once it is released.
  // Declared before the lock's scope, so it is finished after the unlock,
  // also when an exception leaves the scope.
  struct batch {
    coalescing_cache* cache;
    node* nodes = nullptr;
    detail::cc_retired* tables = nullptr;
    explicit batch(coalescing_cache* c) noexcept : cache(c) {}
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;
    ~batch() { cache->finish(*this); }
    void add(node* n, eviction_cause c) noexcept {
      n->cause = c;
      n->next_retired = nodes;
      nodes = n;
    }
  };

  static node* tombstone() noexcept { return reinterpret_cast<node*>(std::uintptr_t{1}); }  // never dereferenced

  static options validated(options o) {
    auto bad = [](const char* what) { throw std::invalid_argument(std::string("coalescing_cache_options::") + what); };
    if (o.capacity < 1) bad("capacity must be at least 1");
    if (o.shards < 1 || o.shards > max_shards) bad("shards must be in [1, 65536]");
    if (o.ttl.count() < 0) bad("ttl must not be negative");
    if (o.grace.count() < 0) bad("grace must not be negative");
    if (o.negative_ttl.count() < 0) bad("negative_ttl must not be negative");
    if (!std::isfinite(o.beta) || o.beta < 0) bad("beta must be finite and >= 0");
    if (!(o.early_refresh_after >= 0 && o.early_refresh_after <= 1)) bad("early_refresh_after must be in [0, 1]");
    if (o.flight_capacity < 1 || o.flight_capacity > single_flight<Key, Value, policy::hash_with<Hash>, Contention>::max_capacity)
      bad("flight_capacity must be in [1, 2^32]");
    return o;
  }

  static void step() noexcept { detail::sf_schedule_point<Contention>(); }
  // a + b for b >= 0, saturating at `never` (ttl = nanoseconds::max() never expires).
  static std::int64_t sat_add(std::int64_t a, std::int64_t b) noexcept { return a > never - b ? never : a + b; }

  std::int64_t now_ns() const { return detail::now_ns(opt_.clock_ns); }
  double uniform01() const {
    if (opt_.uniform01) return opt_.uniform01();
    thread_local std::uint64_t state = detail::mix64(reinterpret_cast<std::uintptr_t>(&state));
    state += 0x9e3779b97f4a7c15ULL;
    return (static_cast<double>(detail::mix64(state) >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  }
  // Before this time no early refresh can fire: not before early_refresh_after
  // of ttl has passed since the store (expiry − ttl; the node is a value's,
  // so its expiry is store time + ttl unless it saturated to `never`), and not
  // before XFetch's own bound: the built-in generator draws u >= 2^-53, so
  // -ln u < 37 (with an injected generator, any time may).
  std::int64_t early_bound(const node& n) const noexcept {
    if (opt_.beta <= 0 || n.expiry == never || !n.value) return never;
    const std::int64_t floor = n.expiry - (opt_.ttl.count() - early_min_age_);  // <= expiry, >= store time
    if (opt_.uniform01) return floor;
    const double from = static_cast<double>(n.expiry) - 37.0 * static_cast<double>(n.delta) * opt_.beta;
    if (from <= static_cast<double>(floor)) return floor;
    if (from >= static_cast<double>(n.expiry)) return n.expiry;  // δ < 0 (an injected clock that went back)
    return static_cast<std::int64_t>(from);  // in (floor, expiry): representable
  }
  // early_refresh_after · ttl in ns, at most ttl (no overflow near nanoseconds::max()).
  static std::int64_t min_age_of(const options& o) noexcept {
    const double ttl = static_cast<double>(o.ttl.count());
    const double a = ttl * o.early_refresh_after;
    return a >= ttl ? o.ttl.count() : static_cast<std::int64_t>(a);
  }
  bool early(std::int64_t now, const node& n) const {
    if (opt_.beta <= 0 || n.expiry == never) return false;
    const double gap = -static_cast<double>(n.delta) * opt_.beta * std::log(uniform01());
    return static_cast<double>(now) + gap >= static_cast<double>(n.expiry);
  }

  template <class K>
  std::uint64_t hash_of(const K& key) const {
    // = detail::seeded_hash(mix64(hash), seed_), with the seed's own mix done once (seed_mix_).
    return detail::mix64(detail::mix64(static_cast<std::uint64_t>(Hash{}(key))) ^ seed_mix_);
  }
  shard& shard_of(std::uint64_t h) const { return shards_[detail::reduce(h, n_shards_)]; }
  static std::size_t epoch_of(std::uint64_t h) noexcept { return h % epochs_per_shard; }  // low bits; reduce uses high
  static std::size_t home_of(std::uint64_t h, std::size_t mask) noexcept { return (h >> 6) & mask; }

  void count(counter k) noexcept { count_at(reclaim_.local(), k); }
  static void count_at(const typename reclaimer::local_stripe& l, counter k) noexcept {
    detail::cc_bump(l.s->extra.c[k], l.owned, std::memory_order_relaxed);  // statistics only, no ordering
  }
  static void mark_used(const node* n) noexcept {
    // Written only when clear: a hot key's node stays a read-only line.
    if (!n->referenced.load(std::memory_order_relaxed))
      n->referenced.store(true, std::memory_order_relaxed);
  }

  // The node of `key` in slot array t, or nullptr. Lock-free (a reader guard
  // held) or under the mutex.
  template <class K>
  static const node* find(const table* t, std::uint64_t h, const K& key) {
    const std::uint64_t tag = tag_of(h);
    for (std::size_t i = home_of(h, t->mask), n = 0; n <= t->mask; i = (i + 1) & t->mask, ++n) {
      const std::uint64_t g = t->tags[i].load(std::memory_order_relaxed);  // a filter: the node is checked below
      if (g == 0) return nullptr;
      if (g != tag) continue;
      const node* p = t->slots[i].load(std::memory_order_acquire);  // pairs with the release stores in place/rebuild
      if (p != nullptr && p != tombstone() && p->hash == h && p->key == key) return p;
    }
    return nullptr;
  }
  // Mutex held: the slot index of `key`, or npos.
  template <class K>
  static std::size_t find_slot(shard& sh, std::uint64_t h, const K& key) {
    table* t = sh.tab.load(std::memory_order_relaxed);
    const std::uint64_t tag = tag_of(h);
    for (std::size_t i = home_of(h, t->mask), n = 0; n <= t->mask; i = (i + 1) & t->mask, ++n) {
      const std::uint64_t g = t->tags[i].load(std::memory_order_relaxed);
      if (g == 0) return npos;
      if (g != tag) continue;
      const node* p = t->slots[i].load(std::memory_order_relaxed);
      if (p != tombstone() && p->hash == h && p->key == key) return i;
    }
    return npos;
  }

  // Mutex held: unlink slot i's node (tombstone) and its ring place.
  static void remove_at(shard& sh, std::size_t i, eviction_cause why, batch& b) {
    table* t = sh.tab.load(std::memory_order_relaxed);
    node* n = t->slots[i].load(std::memory_order_relaxed);
    t->slots[i].store(tombstone(), std::memory_order_release);
    --sh.live;
    sh.ring[n->ring_pos] = nullptr;
    sh.holes.push_back(n->ring_pos);  // capacity reserved in place(): cannot throw
    b.add(n, why);
  }

  // Mutex held: a ring place for a new node, evicting one (CLOCK) if full.
  std::size_t ring_place(shard& sh, batch& b) {
    if (!sh.holes.empty()) {
      const std::size_t p = sh.holes.back();
      sh.holes.pop_back();
      return p;
    }
    if (sh.ring.size() < sh.limit) {
      sh.holes.reserve(sh.ring.size() + 1);  // every place may become a hole: remove_at never allocates
      sh.ring.push_back(nullptr);
      return sh.ring.size() - 1;
    }
    // Full: at most two sweeps (the first clears every reference bit).
    for (std::size_t s = 0; s < 2 * sh.ring.size() + 1; ++s) {
      const std::size_t p = sh.hand;
      if (++sh.hand == sh.ring.size()) sh.hand = 0;
      node* n = sh.ring[p];
      if (n == nullptr) continue;
      if (n->referenced.load(std::memory_order_relaxed)) {
        n->referenced.store(false, std::memory_order_relaxed);
        continue;
      }
      const std::size_t i = find_slot_of(sh, n);
      remove_at(sh, i, eviction_cause::size, b);
      sh.holes.pop_back();  // the place just freed is ours
      return p;
    }
    return npos;  // unreachable: a full ring has a node without its bit after one sweep
  }
  static std::size_t find_slot_of(shard&, const node* n) noexcept { return n->slot; }

  // Mutex held: rebuild the slot array if live + tombstones pass 3/4 of it.
  static void maybe_rebuild(shard& sh, batch& b) {
    table* t = sh.tab.load(std::memory_order_relaxed);
    if ((sh.used + 1) * 4 <= (t->mask + 1) * 3) return;
    auto* fresh = new table(std::max(initial_slots, std::bit_ceil(2 * (sh.live + 1))));
    for (std::size_t i = 0; i <= t->mask; ++i) {
      node* n = t->slots[i].load(std::memory_order_relaxed);
      if (n == nullptr || n == tombstone()) continue;
      std::size_t j = home_of(n->hash, fresh->mask);
      while (fresh->tags[j].load(std::memory_order_relaxed) != 0) j = (j + 1) & fresh->mask;
      fresh->tags[j].store(tag_of(n->hash), std::memory_order_relaxed);  // published by the release store below
      fresh->slots[j].store(n, std::memory_order_relaxed);
      n->slot = j;
    }
    sh.used = sh.live;
    sh.tab.store(fresh, std::memory_order_release);  // pairs with the readers' acquire load
    t->next_retired = b.tables;
    b.tables = t;
  }

  // Mutex held: publish `n` for its key, replacing the key's node if any.
  void place(shard& sh, node* n, batch& b) {
    n->version = sh.next_version++;
    n->early_from = early_bound(*n);
    if (const std::size_t i = find_slot(sh, n->hash, n->key); i != npos) {
      table* t = sh.tab.load(std::memory_order_relaxed);
      node* old = t->slots[i].load(std::memory_order_relaxed);
      n->ring_pos = old->ring_pos;
      n->slot = i;
      n->referenced.store(old->referenced.load(std::memory_order_relaxed), std::memory_order_relaxed);
      sh.ring[n->ring_pos] = n;
      t->slots[i].store(n, std::memory_order_release);  // pairs with find's acquire
      b.add(old, eviction_cause::replaced);
      return;
    }
    maybe_rebuild(sh, b);                     // may throw: nothing changed yet but a complete rebuild
    const std::size_t p = ring_place(sh, b);  // may throw before it changes anything; may evict (a tombstone)
    table* t = sh.tab.load(std::memory_order_relaxed);
    std::size_t j = home_of(n->hash, t->mask);
    for (;; j = (j + 1) & t->mask) {
      if (t->tags[j].load(std::memory_order_relaxed) == 0) {
        ++sh.used;
        break;
      }
      if (t->slots[j].load(std::memory_order_relaxed) == tombstone()) break;
    }
    n->ring_pos = p;
    n->slot = j;
    sh.ring[p] = n;
    ++sh.live;
    // The tag first: a probe that sees it with the old pointer (null or a
    // tombstone) passes on, a false miss the locked path settles.
    t->tags[j].store(tag_of(n->hash), std::memory_order_relaxed);
    t->slots[j].store(n, std::memory_order_release);  // pairs with find's acquire
  }

  // Mutex released: tell the listener, then retire.
  void finish(batch& b) noexcept {
    if (on_evict_)
      for (node* n = b.nodes; n != nullptr; n = static_cast<node*>(n->next_retired))
        if (n->value) on_evict_(n->key, *n->value, n->cause);
    try {
      reclaim_.retire(b.tables);
      reclaim_.retire(b.nodes);
    } catch (...) {  // the reclaimer's mutex failed to lock: leak rather than free under a reader
    }
  }

  // One get, counted in exactly one category.
  template <class K, class Loader>
  result_type counted(const K& key, Loader& loader, const std::chrono::nanoseconds* timeout,
                      const std::stop_token& stop) {
    try {
      result_type o = lookup(key, loader, timeout, stop);
      count(category(o.status));
      return o;
    } catch (...) {
      count(c_error);
      throw;
    }
  }
  // get()'s slow path: the fast path already probed (no hit, stale serve or
  // remembered error); the locked path decides, counted as counted() does.
  template <class K, class Loader>
  result_type counted_from(const K& key, Loader& loader, const std::chrono::nanoseconds* timeout,
                           const std::stop_token& stop, std::int64_t now, std::uint64_t h, bool want_early) {
    try {
      result_type o = locked_from(key, h, shard_of(h), now, want_early, loader, timeout, stop);
      count(category(o.status));
      return o;
    } catch (...) {
      count(c_error);
      throw;
    }
  }
  static counter category(load_status s) noexcept {
    switch (s) {
      case load_status::hit: return c_hit;
      case load_status::stale: return c_stale;
      case load_status::refreshed: return c_refresh;
      case load_status::loaded:
      case load_status::shared: return c_miss;
      case load_status::timed_out:
      case load_status::cancelled: return c_timeout;
      case load_status::failed: return c_error;
    }
    return c_error;
  }

  // What the lock-free path found (reader guard held): a fresh value to
  // serve (hit), an old one under refresh (stale), a remembered error
  // (negative), a fresh value whose XFetch draw asks for an early refresh
  // (early), or nothing it may serve (none: the locked path decides).
  enum class probe_kind : std::uint8_t { none, hit, stale, negative, early };
  struct probed {
    probe_kind kind = probe_kind::none;
    const node* n = nullptr;
  };
  template <class K>
  probed probe(const shard& sh, std::uint64_t h, const K& key, std::int64_t now) const {
    const node* n = find(sh.tab.load(std::memory_order_acquire), h, key);  // pairs with rebuild's release
    if (n == nullptr) return {};
    if (n->error) return now < n->expiry ? probed{probe_kind::negative, n} : probed{};
    if (now < n->expiry) {
      if (now < n->early_from || n->refreshing.load(std::memory_order_relaxed) || !early(now, *n))
        return {probe_kind::hit, n};
      return {probe_kind::early, n};
    }
    if (now < sat_add(n->expiry, opt_.grace.count()) && n->refreshing.load(std::memory_order_relaxed))
      return {probe_kind::stale, n};
    return {};
  }

  // get(): a hit (or stale serve) returns its copy straight from the node,
  // without building a load_result; everything else goes through counted().
  template <class K, class Loader>
  Value get_value(const K& key, Loader& loader, const std::stop_token& stop) {
    const std::int64_t now = now_ns();
    const std::uint64_t h = hash_of(key);
    shard& sh = shard_of(h);
    bool want_early = false;
    std::exception_ptr remembered;
    const auto l = reclaim_.local();
    {
      auto g = reclaim_.enter(l);
      const probed p = probe(sh, h, key, now);
      if (p.kind == probe_kind::hit || p.kind == probe_kind::stale) {
        mark_used(p.n);
        const counter k = p.kind == probe_kind::hit ? c_hit : c_stale;
        try {
          Value v(*p.n->value);
          count_at(l, k);
          return v;
        } catch (...) {  // a throwing copy: one error, as counted() would count it
          count_at(l, c_error);
          throw;
        }
      }
      if (p.kind == probe_kind::negative) remembered = p.n->error;
      want_early = p.kind == probe_kind::early;
    }
    if (remembered) {  // lock-free as well: counted as lookup() + counted() count it
      count_at(l, c_negative);
      count_at(l, c_error);
      std::rethrow_exception(remembered);
    }
    return counted_from(key, loader, nullptr, stop, now, h, want_early).get();
  }

  template <class K, class Loader>
  result_type lookup(const K& key, Loader& loader, const std::chrono::nanoseconds* timeout,
                     const std::stop_token& stop) {
    const std::int64_t now = now_ns();
    const std::uint64_t h = hash_of(key);
    shard& sh = shard_of(h);
    bool want_early = false;
    {  // The lock-free path: a fresh hit, a remembered error, a stale value under refresh.
      auto g = reclaim_.enter();
      const probed p = probe(sh, h, key, now);
      switch (p.kind) {
        case probe_kind::negative:
          count(c_negative);
          return result_type::of_error(p.n->error, load_origin::remembered);
        case probe_kind::hit:
          mark_used(p.n);
          return result_type::of_value(load_status::hit, *p.n->value);
        case probe_kind::stale:
          mark_used(p.n);
          return result_type::of_value(load_status::stale, *p.n->value);
        case probe_kind::early:
          want_early = true;
          break;
        case probe_kind::none:
          break;
      }
    }
    return locked_from(key, h, sh, now, want_early, loader, timeout, stop);
  }
  template <class K, class Loader>
  result_type locked_from(const K& key, std::uint64_t h, shard& sh, std::int64_t now, bool want_early,
                          Loader& loader, const std::chrono::nanoseconds* timeout, const std::stop_token& stop) {
    step();
    if (stop.stop_requested()) return result_type::of(load_status::cancelled);
    return locked_lookup(key, h, sh, now, want_early, loader, timeout, stop);
  }

  template <class K, class Loader>
  result_type locked_lookup(const K& key, std::uint64_t h, shard& sh, std::int64_t now, bool want_early,
                            Loader& loader, const std::chrono::nanoseconds* timeout, const std::stop_token& stop) {
    std::optional<Value> fallback;  // an old value to serve if the refresh fails
    std::uint64_t start_epoch = 0;
    std::uint64_t refresh_of = 0;  // version of the node whose refresh we run
    {
      std::scoped_lock lock(sh.mutex);
      start_epoch = sh.epoch[epoch_of(h)];
      if (const std::size_t i = find_slot(sh, h, key); i != npos) {
        node* n = sh.tab.load(std::memory_order_relaxed)->slots[i].load(std::memory_order_relaxed);
        bool refresh = false;
        if (n->error) {
          if (now < n->expiry) {
            count(c_negative);
            return result_type::of_error(n->error, load_origin::remembered);
          }
        } else if (now < n->expiry) {
          if (n->refreshing.load(std::memory_order_relaxed) || !want_early) {
            mark_used(n);
            return result_type::of_value(load_status::hit, *n->value);  // fresh, even if an early refresh runs
          }
          refresh = true;
          count(c_early);
        } else if (now < sat_add(n->expiry, opt_.grace.count())) {
          mark_used(n);
          if (n->refreshing.load(std::memory_order_relaxed)) return result_type::of_value(load_status::stale, *n->value);
          refresh = true;
        }
        if (refresh) {
          fallback = n->value;  // copied first: a throwing copy leaves no refresh mark behind
          n->refreshing.store(true, std::memory_order_relaxed);
          refresh_of = n->version;
        }
      }
    }
    step();
    if (refresh_of != 0 && opt_.executor) {
      if (submit_refresh(key, h, start_epoch, refresh_of, loader))
        return result_type::of_value(load_status::refreshed, std::move(*fallback));
      // Not submitted (the executor threw, or the loader cannot be copied): refresh inline.
    }
    // The flight's loader takes a stop_token only when the user's does (the
    // flight then carries a stop_source).
    auto load = [&]<class... S>(const S&... st) -> Value
      requires(sizeof...(S) == 0 || detail::sf_takes_stop_token<Loader>)
    { return load_and_store(key, h, start_epoch, refresh_of, loader, st...); };
    // A refresh that joined somebody else's flight, or whose store was
    // refused, gives its mark back (a no-op once a store replaced the node).
    struct mark_release {
      coalescing_cache* c;
      const K& key;
      std::uint64_t h, refresh_of;
      bool armed = true;
      ~mark_release() {
        if (armed && refresh_of != 0) c->clear_refresh(h, key, refresh_of);
      }
    } release_mark{this, key, h, refresh_of};
    try {
      result_type r;
      if (!opt_.coalesce) {
        try {
          r = result_type::of_value(load_status::loaded, load());
        } catch (...) {
          r = result_type::of_error(std::current_exception(), load_origin::own);
        }
      } else if (timeout == nullptr) {
        r = flights_.run(key, load, stop);
      } else {
        r = flights_.run_for(key, *timeout, load, stop);
      }
      if (refresh_of != 0) {
        if (r.timed_out() || r.cancelled())
          release_mark.armed = false;  // the flight goes on: its leader stores or gives the mark back
        if (!r.ok()) return result_type::of_value(load_status::refreshed, std::move(*fallback));
        r.status = load_status::refreshed;
      }
      return r;
    } catch (...) {
      if (fallback) return result_type::of_value(load_status::refreshed, std::move(*fallback));
      throw;
    }
  }

  // The leader's load: call the loader, store the result if no invalidate
  // intervened. Rethrows the loader's exception.
  template <class K, class Loader, class... S>
  Value load_and_store(const K& key, std::uint64_t h, std::uint64_t start_epoch, std::uint64_t refresh_of,
                       Loader& loader, const S&... stop) {
    count(c_backend);
    const std::int64_t t0 = now_ns();
    try {
      Value v = [&]() -> Value {
        if constexpr (sizeof...(S) == 0)
          return detail::sf_invoke(loader, std::stop_token{});
        else
          return loader(stop...);
      }();
      step();
      store_value(key, h, v, now_ns() - t0, start_epoch, refresh_of);
      return v;
    } catch (...) {
      count(c_load_failure);
      store_error(key, h, std::current_exception(), start_epoch, refresh_of);
      throw;
    }
  }

  template <class BulkLoader>
  std::vector<result_type> get_all_impl(std::span<const Key> keys, BulkLoader& bulk) {
    std::vector<result_type> out(keys.size());
    std::vector<Key> missing;
    std::vector<std::size_t> missing_pos;
    std::unordered_map<Key, std::uint64_t, Hash> start_epoch;  // per key to load: its epoch before the load
    const std::int64_t now = now_ns();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const std::uint64_t h = hash_of(keys[i]);
      shard& sh = shard_of(h);
      {  // lock-free: a fresh value or a remembered error
        auto g = reclaim_.enter();
        const node* n = find(sh.tab.load(std::memory_order_acquire), h, keys[i]);  // pairs with rebuild's release
        if (n != nullptr && now < n->expiry) {
          if (n->error) {
            count(c_negative);
            count(c_error);
            out[i] = result_type::of_error(n->error, load_origin::remembered);
          } else {
            mark_used(n);
            count(c_hit);
            out[i] = result_type::of_value(load_status::hit, *n->value);
          }
          continue;
        }
      }
      std::scoped_lock lock(sh.mutex);  // the epoch, read before the load (as get does)
      start_epoch.try_emplace(keys[i], sh.epoch[epoch_of(h)]);
      missing.push_back(keys[i]);
      missing_pos.push_back(i);
    }
    if (missing.empty()) return out;
    // The leader's bulk call: load, then store each value under its epoch.
    auto load_all = [&](std::span<const Key> ks) {
      count(c_backend);
      const std::int64_t t0 = now_ns();
      try {
        auto got = bulk(ks);
        step();
        const std::int64_t delta = now_ns() - t0;
        for (auto&& [k, v] : got) {
          const Key& kk = k;
          if (auto it = start_epoch.find(kk); it != start_epoch.end()) store_value(kk, hash_of(kk), v, delta, it->second, 0);
        }
        return got;
      } catch (...) {
        count(c_load_failure);
        throw;
      }
    };
    std::vector<result_type> loaded;
    if (opt_.coalesce) {
      loaded = flights_.run_all(std::span<const Key>(missing), load_all);
    } else {  // no coalescing: one bulk call for every missing key, as single_flight's alone keys
      loaded.resize(missing.size());
      try {
        auto got = load_all(std::span<const Key>(missing));
        std::unordered_map<Key, std::size_t, Hash> where;
        for (std::size_t j = 0; j < missing.size(); ++j) where.try_emplace(missing[j], j);
        std::vector<std::optional<Value>> vals(missing.size());
        for (auto&& [k, v] : got)
          if (auto it = where.find(k); it != where.end()) vals[it->second].emplace(v);
        for (std::size_t j = 0; j < missing.size(); ++j) {
          const auto& v = vals[where.at(missing[j])];
          loaded[j] = v ? result_type::of_value(load_status::loaded, *v)
                        : result_type::of_error(std::make_exception_ptr(missing_key{}), load_origin::own);
        }
      } catch (...) {
        for (auto& r : loaded) r = result_type::of_error(std::current_exception(), load_origin::own);
      }
    }
    for (std::size_t j = 0; j < missing.size(); ++j) {
      count(category(loaded[j].status));
      out[missing_pos[j]] = std::move(loaded[j]);
    }
    return out;
  }

  // Hands the refresh to the executor. False if it was not taken.
  template <class K, class Loader>
  bool submit_refresh(const K& key, std::uint64_t h, std::uint64_t start_epoch, std::uint64_t refresh_of,
                      Loader& loader) {
    using L = std::decay_t<Loader>;
    if constexpr (!std::is_copy_constructible_v<L>) {
      return false;
    } else {
      // Gives the refresh mark back when the task is gone, run or not (a
      // no-op once its store replaced the node).
      struct ticket {
        coalescing_cache* cache;
        Key key;
        std::uint64_t h, start_epoch, refresh_of;
        bool give_back = true;  // false: the caller refreshes inline after all, mark kept
        ticket(coalescing_cache* c, const K& k, std::uint64_t hh, std::uint64_t e, std::uint64_t r)
            : cache(c), key(k), h(hh), start_epoch(e), refresh_of(r) {}
        ticket(const ticket&) = delete;
        ticket& operator=(const ticket&) = delete;
        ~ticket() {
          if (give_back) cache->clear_refresh(h, key, refresh_of);
        }
      };
      auto t = std::make_shared<ticket>(this, key, h, start_epoch, refresh_of);
      std::function<void()> task = [t, l = L(loader)]() mutable {
        // A task that waited in the executor's queue while its entry was
        // replaced (expired past grace and reloaded, put, invalidated) has
        // nothing left to refresh: skip the backend call. An executor slower
        // than the refresh demand would otherwise spend its time on redundant
        // loads (the entry is fresh already, or gone).
        try {
          if (!t->cache->refresh_still_current(t->h, t->key, t->refresh_of)) return;
          auto run = [&]() -> Value { return t->cache->load_and_store(t->key, t->h, t->start_epoch, t->refresh_of, l); };
          if (t->cache->opt_.coalesce)
            (void)t->cache->flights_.run(t->key, run);
          else
            (void)run();
        } catch (...) {  // stored as the refresh's failure (the old value is kept)
        }
      };
      try {
        opt_.executor(std::move(task));
      } catch (...) {
        t->give_back = false;  // refused: we refresh inline, under the mark we hold
        return false;
      }
      return true;
    }
  }

  // Under the shard's mutex: is node version `refresh_of` still the key's entry?
  bool refresh_still_current(std::uint64_t h, const Key& key, std::uint64_t refresh_of) {
    shard& sh = shard_of(h);
    std::scoped_lock lock(sh.mutex);
    const std::size_t i = find_slot(sh, h, key);
    return i != npos && sh.tab.load(std::memory_order_relaxed)->slots[i].load(std::memory_order_relaxed)->version ==
                            refresh_of;
  }

  // Mutex taken: the refresh of node version `refresh_of` ended without a store.
  template <class K>
  void clear_refresh(std::uint64_t h, const K& key, std::uint64_t refresh_of) noexcept {
    try {
      shard& sh = shard_of(h);
      std::scoped_lock lock(sh.mutex);
      clear_refresh_locked(sh, h, key, refresh_of);
    } catch (...) {
    }
  }
  template <class K>
  static void clear_refresh_locked(shard& sh, std::uint64_t h, const K& key, std::uint64_t refresh_of) {
    if (refresh_of == 0) return;
    if (const std::size_t i = find_slot(sh, h, key); i != npos) {
      node* n = sh.tab.load(std::memory_order_relaxed)->slots[i].load(std::memory_order_relaxed);
      if (n->version == refresh_of) n->refreshing.store(false, std::memory_order_relaxed);
    }
  }

  template <class K>
  void store_value(const K& key, std::uint64_t h, const Value& v, std::int64_t delta, std::uint64_t start_epoch,
                   std::uint64_t refresh_of) {
    // Built before the lock: a throwing copy leaves the entry as it was.
    std::unique_ptr<node> fresh(new node(key, h, std::optional<Value>(v), nullptr, delta));
    shard& sh = shard_of(h);
    batch b(this);
    {
      std::scoped_lock lock(sh.mutex);
      if (sh.epoch[epoch_of(h)] != start_epoch) {
        clear_refresh_locked(sh, h, key, refresh_of);
        return;
      }
      fresh->expiry = sat_add(now_ns(), opt_.ttl.count());
      place(sh, fresh.get(), b);  // throws only before it publishes the node
      (void)fresh.release();
    }
  }

  template <class K>
  void store_error(const K& key, std::uint64_t h, std::exception_ptr err, std::uint64_t start_epoch,
                   std::uint64_t refresh_of) noexcept {
    try {
      std::unique_ptr<node> fresh(new node(key, h, std::nullopt, std::move(err), 0));
      shard& sh = shard_of(h);
      batch b(this);
      {
        std::scoped_lock lock(sh.mutex);
        if (sh.epoch[epoch_of(h)] != start_epoch) {
          clear_refresh_locked(sh, h, key, refresh_of);
          return;
        }
        if (const std::size_t i = find_slot(sh, h, key); i != npos) {
          node* n = sh.tab.load(std::memory_order_relaxed)->slots[i].load(std::memory_order_relaxed);
          if (n->value) {  // a failed refresh keeps the old value; the next caller may retry
            clear_refresh_locked(sh, h, key, refresh_of);
            return;
          }
        }
        fresh->expiry = sat_add(now_ns(), opt_.negative_ttl.count());
        place(sh, fresh.get(), b);  // throws only before it publishes the node
      (void)fresh.release();
      }
    } catch (...) {  // out of memory: the error is not remembered; the refresh mark is left to the next store
    }
  }

  options opt_;
  std::int64_t early_min_age_ = min_age_of(opt_);  // no early refresh before a node is this old
  std::uint64_t seed_;
  std::uint64_t seed_mix_ = detail::mix64(seed_ + 0x9e3779b97f4a7c15ULL);  // seeded_hash's mix of the seed
  eviction_listener on_evict_;
  mutable reclaimer reclaim_;
  single_flight<Key, Value, policy::hash_with<Hash>, Contention> flights_;
  std::size_t n_shards_;
  std::unique_ptr<shard[]> shards_;
};

}  // namespace hotshard
