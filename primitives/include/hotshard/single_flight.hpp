// hotshard/single_flight.hpp — request coalescing: the first caller for a key
// runs the loader, callers that arrive while it runs share its result.
//
// Algorithm. The idea is Go's golang.org/x/sync/singleflight (one call per key
// in flight, duplicates wait for it), rebuilt without its mutex over a
// fixed-capacity open-addressing table of flights. A key may live in any slot
// of its probe window (W consecutive slots from its hash). Each slot has one
// 64-bit word  [tag:23 | generation:16 | forgotten:1 | unused:1 | state:3 | refs:20]  — the
// words are packed eight to a cache line, apart from the slots' payload (key,
// value), so scanning a window touches one or two lines. Every change to a
// word is a single fetch_add / fetch_or / CAS, so no step retries. A flight
// that nobody joins costs two locked RMWs, the claim and the free (issue 18:
// four until then — a separate PENDING step and a commit, a fetch_xor):
//  - claim: one CAS on a free slot (refs 0) writes our tag, bumps the
//    generation and makes the flight PENDING (joinable) at once; then the
//    claimer clears `published` to a value no generation has, writes the key
//    and *reveals* it: a release store of the slot's `phase` word
//    (generation, revealed). The clear makes the 16-bit generation safe to
//    wrap: a solo flight frees without publishing, so without it a joiner
//    2^16 solo flights later saw a stale `published` equal to its generation
//    (models/single_flight.pml: 2-bit generation; its mutant without the clear
//    finds that bug);
//  - join: load a slot; if it holds a live flight with our hash tag, pin it
//    (fetch_add on refs) — a pinned slot is never freed — wait (bounded) for
//    its claimer's reveal, and check the key. A pinner that compared keys
//    without waiting would read the previous flight's key (the model's
//    MUTANT_NO_REVEAL_WAIT);
//  - the race of two claims of one key in the window (Purcell–Harris, "Non-
//    blocking hashtables with open addressing", DISC 2005, with verdicts in
//    place of their kill RMW): after its reveal the claimer scans the window
//    again. Each claim CAS precedes its claimer's scan loads in the seq_cst
//    total order, so of two racing claims at least one sees the other
//    (Dekker). The claim earlier in the window wins: a later claimer that
//    sees an earlier one loses and joins it; an earlier claimer that sees a
//    later one waits for that one's verdict — its `phase` (generation, won or
//    lost), a plain release store made after its own scan — and joins it if
//    it won, goes on if it lost. Waits go only from earlier to later
//    positions, so they form no cycle; each is bounded, and a claimer whose
//    rival stays undecided loses (it cannot know who won). So at most one
//    flight of a key loads at a time (models/single_flight_window.pml; its
//    mutant, an earlier claimer that does not wait for the later one's
//    verdict, lets both win). A beaten claimer tells its own joiners to retry;
//  - leave: fetch_sub on refs; the thread that takes refs to 0 after the
//    flight is finished frees the slot (one CAS; if it fails somebody pinned
//    the slot meanwhile and that thread's own leave frees it). The leader's
//    leave is the same RMW that closes the flight to joiners, and it wakes
//    sleepers only if somebody else held the slot; a leader nobody pinned
//    frees its slot with one CAS.
// Only waiting for the result blocks: waiters sleep in std::atomic::wait (a
// futex on Linux) on the slot's `published` word, which the leader sets to the
// flight's generation.
//
// Progress guarantees (W = window, at most 32; A = max_attempts = 4):
//  - run / run_for, everything except waiting for another thread's loader:
//    wait-free without a stop_token in play (with one: lock-free, see
//    "Cancellation"), at most A attempts of at most 2W slot loads, W claim
//    CASes and 2W pins each; each pin of a flight claimed with our hash tag
//    waits at most 63 pauses, 16 yields and 32 sleeps of 32 µs
//    (detail/backoff.hpp; ~1 ms) for its key, and in the claim race as long
//    again for a later rival's verdict — a rival still undecided then was
//    preempted mid-claim, and this attempt counts as beaten. If every attempt
//    was beaten or the window was full, the caller runs the loader itself
//    (counted as overflow: a duplicate load, never a wrong value). Only a
//    claimer preempted between its claim CAS and its reveal or verdict (a few
//    instructions, or a Key copy) for longer than that can cause one; the
//    protocol before issue 18 never waited on a claim and so never caused
//    one that way (the price of its two extra locked RMWs per flight);
//  - waiting for the result: blocking (futex), never a spin loop;
//  - run_for's wait, and a wait with a stoppable std::stop_token: blocking
//    until the result, the deadline or the stop (on the slot's `bell` futex;
//    see detail/futex_wait.hpp for how the deadline is kept);
//  - joining: one more RMW on the slot's interest count, a CAS loop that only
//    fails when another joiner or leaver moved the count (lock-free);
//  - run_all: per key as run (phase 1 never blocks), then one bulk call, then
//    blocking waits for the joined flights;
//  - forget: wait-free, W loads and at most W pins;
//  - stats (O(capacity)), capacity, window: wait-free. unsafe_slots_in_use:
//    not thread-safe.
//
// Exceptions leave no slot held: a throwing Key copy or == after a claim
// gives the claim back; a joiner's throwing Value copy leaves first; a
// leader's throwing own copy still publishes the value to its joiners. Bad
// capacity (not in [1, 2^32]) or window (not in [1, 32]) throw
// std::invalid_argument naming the single_flight_options field. Keys hash
// with a per-instance seed (random unless given). run_for: timeout <= 0 gives
// up at once; nanoseconds::max() waits.
//
// Results (detail/load_result.hpp): run, run_for and run_all return
// load_result<Value> — status loaded (this caller's own load), shared,
// timed_out, cancelled or failed; the value; for a failure the exception and
// its origin (own load or shared). The loader's exception is never thrown
// from run: `.get()` rethrows it. run still throws what the table's own steps
// throw (a Key copy or ==, a joiner's Value copy, bad_alloc), slots given back.
//
// Cancellation. A loader that takes a std::stop_token gets its flight's (the
// flight then owns a std::stop_source; a loader without one costs nothing).
// Each flight counts the callers still interested: its leader's caller and
// every joiner. A joiner leaves by its deadline (run_for) or by its own
// std::stop_token (returning timed_out / cancelled); the leader's caller
// leaves when its stop_token fires while the loader runs (the leader itself
// returns when its loader does: cancelled if the loader threw after that
// stop, its value otherwise). The caller that takes the count to 0 detaches
// the flight (as forget: later callers start anew) and requests stop on its
// stop_source — never while one caller still waits. A flight at 0 cannot be
// joined again (the count only rises from nonzero).
//
// Keys. Heterogeneous lookup: with a transparent Hash (policy::hash<std::string>
// is), run / run_for / forget accept any K that compares with and converts to
// Key (std::string_view, a literal); a Key is built only for a claimed flight's
// slot. Keys are stored only while their flight runs (the slot's copy is
// destroyed when it is freed); pointer keys (const char*) are rejected at
// compile time, since they would coalesce by address.//
// What callers see. A flight is joinable from its claim until its result is
// published; later callers start a new flight (this is coalescing, not a
// cache). Every caller of one flight gets a copy of the same value, or the
// same exception object. A failed flight is not remembered: the next call
// starts a new flight (no poisoning). forget(key) detaches the current flight
// so later callers start a new one; the detached flight still delivers to its
// own waiters and, finishing, touches only its own slot generation, so it can
// never remove its successor (the bug of golang/go#31420). When no free slot
// is found in the window, or after A beaten attempts, the caller loads by
// itself and `stats().overflow` counts it: never undefined, at worst a
// duplicate load. Capacity bounds concurrent flights, not keys. A loader must
// not run() its own key on the same table (it would wait for itself), and
// Value must be copyable (every caller gets its own copy).
//
// Memory ordering: the claimer writes the key, clears `published` and sets
// `interest` and the stop source before the release store (4) of its phase
// (revealed); a pinner's acquire load (4') of that phase sees them all, and
// `published` can change again only by its own flight's publish while the pin
// holds the slot. The verdict (6) is a release store read the same way. The
// claim CAS (3) and the scan loads (5) are seq_cst: the Dekker pair of the
// claim race. The leader writes the value or
// exception before the release store of `published`; a waiter's acquire load
// of `published` sees them. Timed and stoppable waiters sleep on `bell`
// instead: the publisher bumps it (seq_cst, after its seq_cst store of
// `published`) when it sees timed_waiters != 0, and a waiter's cancel bumps it
// too; a waiter reads `bell` before `published` (both seq_cst), so an event
// after its check changes the word it sleeps on (no lost wake-up). `interest`
// RMWs are acq_rel (they pair with each other). Every leave is acq_rel, so
// all reads of a flight happen before the last leaver destroys it; the
// freer's release return of the slot to FREE (7) pairs with the next
// claimer's CAS (3).
// Tested: tests/single_flight (regressions of issue 12, and the stress tests
// again with yields at every protocol step through Contention::schedule_point,
// under TSan — among them the claim race in one window); the slot state
// machine and the claim race are model-checked (models/README.md).
#pragma once

#include <hotshard/detail/backoff.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/detail/futex_wait.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/load_result.hpp>
#include <hotshard/detail/metrics.hpp>
#include <hotshard/detail/single_flight_support.hpp>
#include <hotshard/keys.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hotshard {

// Construction options (designated initialisers: single_flight<K, V> t({.capacity = 4096});).
// Every bad value throws std::invalid_argument naming the field; nothing is clamped.
struct single_flight_options {
  std::size_t capacity = 1024;          // slots, in [1, 2^32]; rounded up to a power of two (at least 8 and the window)
  std::size_t window = 8;               // probe window, in [1, 32]
  std::optional<std::uint64_t> seed{};  // hash seed; empty: a random one per instance
};

struct single_flight_stats {
  std::uint64_t flights = 0;   // loader runs as leader of a coalesced flight
  std::uint64_t joins = 0;     // results shared (loads saved)
  std::uint64_t timeouts = 0;  // waiters that gave up (run_for's deadline or the caller's stop_token)
  std::uint64_t overflow = 0;  // loads run alone: window full or claim beaten A times

  // detail/metrics.hpp's export shape: every field, in declaration order, as a counter.
  template <class F>
  void for_each_metric(F&& f) const {
    using detail::metric;
    using detail::metric_kind;
    f(metric{"flights_total", metric_kind::counter, static_cast<double>(flights),
             "Loader runs as the leader of a coalesced flight."});
    f(metric{"joins_total", metric_kind::counter, static_cast<double>(joins),
             "Calls served another caller's result (loads saved)."});
    f(metric{"timeouts_total", metric_kind::counter, static_cast<double>(timeouts),
             "Waiters that gave up at their deadline or by their stop_token."});
    f(metric{"overflow_total", metric_kind::counter, static_cast<double>(overflow),
             "Loads run alone: the probe window was full or the claim was beaten max_attempts times."});
  }
};

// policy::hash<Key> (the default, transparent for std::string): hotshard/keys.hpp.

namespace detail {
// A lookup key K other than Key itself, accepted when the hash is transparent
// and K compares with and converts to Key (std::string_view for std::string).
template <class K, class Key, class Hash>
concept sf_hetero_key = !std::same_as<std::remove_cvref_t<K>, Key> && requires { typename Hash::is_transparent; } &&
                        std::is_constructible_v<Key, const K&> && std::is_invocable_v<const Hash&, const K&> &&
                        requires(const Key& a, const K& b) {
                          { a == b } -> std::convertible_to<bool>;
                        };
// Calls a loader with the flight's stop_token if it takes one.
template <class Loader>
decltype(auto) sf_invoke(Loader& loader, const std::stop_token& st) {
  if constexpr (std::is_invocable_v<Loader&, std::stop_token>)
    return loader(st);
  else
    return loader();
}
template <class Loader>
inline constexpr bool sf_takes_stop_token = std::is_invocable_v<Loader&, std::stop_token>;
}  // namespace detail

template <class Key, class Value, class... Policies>
  requires policy::keyed_policies<Policies...> && concepts::hashable_key<Key, policy::hash_of<Key, Policies...>>
class single_flight {
  // The named policies (hotshard/policy.hpp): the key hash and the contention hook.
  using Hash = policy::hash_of<Key, Policies...>;
  using Contention = policy::contention_of<Policies...>;

 public:
  using key_type = Key;
  using value_type = Value;
  using result_type = load_result<Value>;
  using options = single_flight_options;
  static constexpr std::size_t max_window = 32;
  static constexpr unsigned max_attempts = 4;
  static constexpr unsigned claim_yields = 16;
  static constexpr unsigned claim_sleeps = 32;  // of claim_sleep each: ~1 ms, a preempted claimer's wait for its core
  static constexpr std::chrono::microseconds claim_sleep{32};
  static_assert(std::is_copy_constructible_v<Value>, "every caller of a flight receives a copy of its value");
  static_assert(!std::is_pointer_v<Key>,
                "single_flight: a pointer key (e.g. const char*) would coalesce by address, not by content; "
                "use std::string keys (lookups may pass std::string_view) or a value type");

  static constexpr std::size_t max_capacity = std::size_t{1} << 32;

  // Throws std::invalid_argument naming the field for a bad option.
  explicit single_flight(options o = {})
      : window_(checked_window(o.window)),
        mask_(checked_size(o.capacity, window_) - 1),
        seed_(o.seed ? *o.seed : detail::random_seed()),
        lines_(std::make_unique<word_line[]>((mask_ + 1) / words_per_line)),
        slots_(std::make_unique<slot[]>(mask_ + 1)) {}

  single_flight(const single_flight&) = delete;
  single_flight& operator=(const single_flight&) = delete;

  // Runs `loader` for `key`, or shares the result of the flight of `key` in
  // progress. Never throws the loader's exception: it comes back as status
  // failed (origin own or shared); `run(k, l).get()` is the one-line form that
  // returns the value or rethrows. The loader is called as loader(stop_token)
  // if it takes one (see "Cancellation" above), else as loader(). A caller
  // that passes `stop` and sees it requested while it waits for another
  // caller's load returns cancelled; a leader runs its loader to the end.
  template <class Loader>
  [[nodiscard]] result_type run(const Key& key, Loader&& loader, std::stop_token stop = {}) {
    return run_impl(key, loader, nullptr, stop);
  }
  template <detail::sf_hetero_key<Key, Hash> K, class Loader>
  [[nodiscard]] result_type run(const K& key, Loader&& loader, std::stop_token stop = {}) {
    return run_impl(key, loader, nullptr, stop);
  }

  // As run, but a caller that would wait longer than `timeout` for somebody
  // else's load returns timed_out instead (the flight goes on for the others).
  // The leader is never timed out: its own loader runs to completion. A
  // timeout too long to represent as a deadline (nanoseconds::max()) means
  // "wait as long as it takes"; a timeout <= 0 gives up at once.
  template <class Loader>
  [[nodiscard]] result_type run_for(const Key& key, std::chrono::nanoseconds timeout, Loader&& loader,
                                    std::stop_token stop = {}) {
    deadline_t deadline{};
    return run_impl(key, loader, detail::sf_deadline_after(timeout, deadline), stop);
  }
  template <detail::sf_hetero_key<Key, Hash> K, class Loader>
  [[nodiscard]] result_type run_for(const K& key, std::chrono::nanoseconds timeout, Loader&& loader,
                                    std::stop_token stop = {}) {
    deadline_t deadline{};
    return run_impl(key, loader, detail::sf_deadline_after(timeout, deadline), stop);
  }

  // Bulk: one result per key, in order. Keys with a flight in progress join
  // it; the others are loaded by ONE call bulk_loader(std::span<const Key>)
  // (the keys this caller leads, each once), which returns a range of
  // (key, value) pairs (e.g. std::unordered_map<Key, Value> or
  // std::vector<std::pair<Key, Value>>). A key the result omits gets status
  // failed with a hotshard::missing_key exception (origin own); if the bulk
  // loader throws, every key it was asked for gets failed with that exception
  // (origin own); joiners of those keys' flights get the same (origin shared).
  // A joined flight whose claim was beaten (a race with another claimer) is
  // retried as run() with bulk_loader called for that one key: a second call,
  // only under that race. Duplicate keys share one flight. Every flight this
  // call leads is published before it waits for any other, so bulk callers
  // cannot wait for each other in a cycle.
  template <class BulkLoader>
  [[nodiscard]] std::vector<result_type> run_all(std::span<const Key> keys, BulkLoader&& bulk_loader) {
    return run_all_impl(keys, bulk_loader);
  }

  // Detaches the flights of `key` now in the table: later callers start anew.
  // Returns whether there was one.
  bool forget(const Key& key) { return forget_impl(key); }
  template <detail::sf_hetero_key<Key, Hash> K>
  bool forget(const K& key) {
    return forget_impl(key);
  }

  // Sums per-slot counters (kept on the slot's own line, so counting adds no
  // shared write to the hot path): exact once the calls have returned, O(capacity).
  [[nodiscard]] single_flight_stats stats() const noexcept {
    single_flight_stats r;
    for (std::size_t i = 0; i <= mask_; ++i) {
      r.flights += slots_[i].flights.load(std::memory_order_relaxed);
      r.joins += slots_[i].joins.load(std::memory_order_relaxed);
      r.timeouts += slots_[i].timeouts.load(std::memory_order_relaxed);
    }
    r.overflow = overflow_->load(std::memory_order_relaxed);
    return r;
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }
  [[nodiscard]] std::size_t window() const noexcept { return window_; }
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }

  // Slots not free (a flight, or a pin). Exact only when no call is running.
  [[nodiscard]] std::size_t unsafe_slots_in_use() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i <= mask_; ++i) {
      const std::uint64_t w = word_at(i).load(std::memory_order_relaxed);
      n += w != generation_only(w);
    }
    return n;
  }

 private:
  // Word layout. refs in the low bits so pin/leave are a plain ±1; a pin can
  // never carry into the state as long as fewer than 2^20/3 threads run (each
  // holds at most three refs at once: its own flight, a scan pin, a join).
  // The 16-bit generation may wrap: a joiner never relies on it alone, since
  // the claim clears `published` (see the top of the file). The 23-bit tag is the top of the key's hash: a mismatch
  // rules a slot out without touching its payload. Bit 23 is unused.
  static constexpr std::uint64_t ref_mask = (std::uint64_t{1} << 20) - 1;
  static constexpr unsigned state_shift = 20;
  static constexpr std::uint64_t state_mask = std::uint64_t{0x7} << state_shift;
  static constexpr std::uint64_t forgotten_bit = std::uint64_t{1} << 24;
  static constexpr unsigned gen_shift = 25;
  static constexpr std::uint64_t gen_mask = std::uint64_t{0xffff} << gen_shift;
  static constexpr unsigned tag_shift = 41;
  static constexpr std::uint64_t tag_mask = ~std::uint64_t{0} << tag_shift;
  enum : std::uint64_t { st_free = 0, st_pending = 1, st_done = 2, st_dead = 3, st_freeing = 4 };
  enum class result_kind : std::uint8_t { none, value, error, aborted };
  // A flight's phase (slot::phase, written by its claimer only, tagged with
  // the flight's generation): its key is revealed, then its claim has won or
  // lost the race with the other claims of the key in the window. `lost` may
  // also come without a reveal (the key copy threw).
  enum : std::uint32_t { ph_claimed = 0, ph_revealed = 1, ph_won = 2, ph_lost = 3 };
  static constexpr std::uint32_t phase_word(std::uint32_t gen, std::uint32_t ph) noexcept { return gen << 2 | ph; }
  static constexpr std::size_t words_per_line = detail::cache_line_bytes / sizeof(std::uint64_t);
  // Without destructors to run, a finished slot goes straight back to FREE.
  static constexpr bool trivial_payload = std::is_trivially_destructible_v<Key> && std::is_trivially_destructible_v<Value>;

  static constexpr std::uint64_t state_of(std::uint64_t w) noexcept { return (w & state_mask) >> state_shift; }
  static constexpr std::uint64_t refs_of(std::uint64_t w) noexcept { return w & ref_mask; }
  static constexpr std::uint32_t gen_of(std::uint64_t w) noexcept {
    return static_cast<std::uint32_t>((w & gen_mask) >> gen_shift);
  }
  static constexpr std::uint64_t tag_of_hash(std::uint64_t h) noexcept { return h & tag_mask; }
  static constexpr std::uint64_t generation_only(std::uint64_t w) noexcept { return w & gen_mask; }
  static constexpr std::uint64_t state_delta(std::uint64_t from, std::uint64_t to) noexcept {
    return (to << state_shift) - (from << state_shift);  // modular: adding it moves the state field only
  }
  static constexpr bool joinable(std::uint64_t w) noexcept {
    return (w & forgotten_bit) == 0 && state_of(w) == st_pending;
  }
  static std::size_t checked_window(std::size_t window) {
    if (window < 1 || window > max_window) throw std::invalid_argument("single_flight_options::window must be in [1, 32]");
    return window;
  }
  static std::size_t checked_size(std::size_t capacity, std::size_t window) {
    if (capacity < 1 || capacity > max_capacity)
      throw std::invalid_argument("single_flight_options::capacity must be in [1, 2^32]");
    return std::bit_ceil(std::max({capacity, window, words_per_line}));  // <= 2^32: cannot overflow
  }
  // A `published` value no generation (16 bits) can equal: the claimer stores
  // it before its flight becomes joinable, so a joiner never mistakes the
  // result of an earlier flight of the slot (whatever its generation) for its own.
  static constexpr std::uint32_t no_result = 0xffffffff;
  static_assert((gen_mask >> gen_shift) < no_result);

  static void step() noexcept { detail::sf_schedule_point<Contention>(); }

  template <class K>
  std::uint64_t hash_of(const K& key) const {
    // = detail::seeded_hash(mix64(hash), seed_), with the seed's own mix done once (seed_mix_).
    return detail::mix64(detail::mix64(static_cast<std::uint64_t>(hash_(key))) ^ seed_mix_);
  }

  // Whether pinned slot idx holds `key`. A throwing operator== drops our pin first.
  template <class K>
  bool key_matches(std::size_t idx, const K& key) {
    try {
      return *slots_[idx].key == key;
    } catch (...) {
      leave(idx);
      throw;
    }
  }


  struct alignas(detail::cache_line_bytes) word_line {
    std::array<std::atomic<std::uint64_t>, words_per_line> w{};
  };
  static_assert(sizeof(word_line) == detail::cache_line_bytes);

  // What only the owner, its joiners and the freer touch.
  struct alignas(detail::cache_line_bytes) slot {
    std::atomic<std::uint32_t> published{no_result};  // generation of this flight once it has a result
    std::atomic<std::uint32_t> timed_waiters{0};       // timed / stoppable waiters asleep on `bell`
    std::atomic<std::uint32_t> bell{0};                // bumped on publish (if timed_waiters) and on a cancel
    // Callers still interested in the flight: 1 for the leader at the claim,
    // +1 per joiner, -1 per waiter that gives up (and for the leader when its
    // caller's stop_token fires). Reaching 0 closes it for good: the flight is
    // forgotten and its stop_source asked to stop.
    std::atomic<std::uint32_t> interest{0};
    // phase_word(generation, ph_*) of the slot's latest flight; every claim
    // writes it at least once (revealed or lost) before its slot can be freed,
    // so a pinned flight's own generation never meets a stale value.
    std::atomic<std::uint32_t> phase{0};
    std::stop_source stop{std::nostopstate};  // the flight's; written by the claimer before (4)
    result_kind kind = result_kind::none;
    std::optional<Key> key;
    std::optional<Value> value;
    std::exception_ptr error;
    std::atomic<std::uint64_t> flights{0}, joins{0}, timeouts{0};  // statistics only
  };

  using outcome = result_type;

  using deadline_t = std::chrono::steady_clock::time_point;

  std::atomic<std::uint64_t>& word_at(std::size_t idx) const noexcept {
    return lines_[idx / words_per_line].w[idx % words_per_line];
  }

  // A pin's outcome: the slot holds a live flight of `key` (pinned, the
  // word), holds something else (left), or its claimer has not revealed the
  // key within the bounded wait (left: we cannot tell whose flight it is).
  enum class pin_kind : std::uint8_t { matched, other, undecided };
  struct pinned {
    pin_kind kind;
    std::uint64_t word;
  };

  // Pins slot idx and checks it holds a live flight of `key`, waiting (bounded)
  // for its claimer to reveal the key. Leaves again unless matched.
  template <class K>
  pinned pin(std::size_t idx, const K& key, std::memory_order order) {
    const std::uint64_t p = word_at(idx).fetch_add(1, order);  // (2) pin: a pinned slot is never freed
    step();
    if (joinable(p)) {
      const std::uint32_t ph = await_phase(idx, gen_of(p), ph_revealed);
      if (ph == ph_claimed) {
        leave(idx);
        return {pin_kind::undecided, 0};
      }
      if (ph != ph_lost && key_matches(idx, key)) return {pin_kind::matched, p};
    }
    leave(idx);
    return {pin_kind::other, 0};
  }

  // Flight `gen` of pinned slot idx: waits until its phase is at least
  // `at_least` (ph_lost counts as past every other) and returns the phase, or
  // ph_claimed if that takes longer than detail::backoff's pause rounds (63
  // pauses), claim_yields yields and claim_sleeps short sleeps (~1 ms in all):
  // its claimer is then preempted between two steps of its claim (a few
  // instructions, or a Key copy), and waiting longer would make us wait on a
  // thread that is not running — the caller gives up its attempt instead.
  // The pin keeps the generation ours: the claimer writes the phase before
  // its slot can be freed.
  std::uint32_t await_phase(std::size_t idx, std::uint32_t gen, std::uint32_t at_least) noexcept {
    constexpr unsigned spin_rounds = detail::backoff::pause_rounds + claim_yields;
    const slot& s = slots_[idx];
    detail::backoff wait;
    for (unsigned slept = 0;;) {
      const std::uint32_t p = s.phase.load(std::memory_order_acquire);  // (4') acquire: pairs with (4)/(6)
      if ((p >> 2) == gen && (p & 3u) >= at_least) return p & 3u;
      if (wait.rounds() < spin_rounds) {
        wait();
      } else if (slept++ < claim_sleeps) {
        std::this_thread::sleep_for(claim_sleep);
      } else {
        return ph_claimed;
      }
    }
  }

  template <class K>
  bool forget_impl(const K& key) {
    const std::uint64_t h = hash_of(key);
    const std::uint64_t tag = tag_of_hash(h);
    bool found = false;
    for (std::size_t i = 0; i < window_; ++i) {
      const std::size_t idx = (h + i) & mask_;
      auto& word = word_at(idx);
      const std::uint64_t w = word.load(std::memory_order_acquire);  // (1) acquire: pairs with the release of (7)
      if (!joinable(w) || (w & tag_mask) != tag) continue;
      // An undecided claim started concurrently with this call: forget is
      // ordered before it, so it is left alone.
      if (pin(idx, key, std::memory_order_acq_rel).kind != pin_kind::matched) continue;
      word.fetch_or(forgotten_bit, std::memory_order_acq_rel);  // (2a) pairs with the pins (2) of later callers
      found = true;
      leave(idx);
    }
    return found;
  }

  // One attempt to join or claim a flight of `key` (never blocks).
  enum class acq_kind : std::uint8_t { joined, own, retry, full };
  struct acquired {
    acq_kind kind = acq_kind::full;
    std::size_t idx = 0;
    std::uint64_t word = 0;  // joined: the pinned word; own: our word if nobody else pinned the slot
  };

  template <class K>
  acquired acquire(const K& key, std::uint64_t h, bool wants_stop) {
    const std::uint64_t tag = tag_of_hash(h);
    // Pass 1: join a live flight of this key, or note the free slots.
    // Left uninitialised (a value-initialised std::array of pairs zeroed 512
    // bytes per call); only the first n_free entries are ever read.
    struct free_slot {
      std::size_t idx;
      std::uint64_t word;
    };
    free_slot free_slots[max_window];
    std::size_t n_free = 0;
    for (std::size_t i = 0; i < window_; ++i) {
      const std::size_t idx = (h + i) & mask_;
      const std::uint64_t w = word_at(idx).load(std::memory_order_acquire);  // (1) see forget
      if (joinable(w) && (w & tag_mask) == tag) {
        const pinned p = pin(idx, key, std::memory_order_acq_rel);
        if (p.kind == pin_kind::matched) return {acq_kind::joined, idx, p.word};
      } else if (w == generation_only(w)) {
        free_slots[n_free++] = {idx, w};
      }
    }
    step();  // pass 1 seen, nothing claimed yet: the window may change meanwhile
    // Claim the first free slot we can: one CAS makes the flight PENDING
    // (joinable) with our tag; the key is revealed through `phase` after it.
    std::size_t own = npos;
    std::uint64_t claimed = 0;
    for (std::size_t f = 0; f < n_free; ++f) {
      const std::size_t idx = free_slots[f].idx;
      std::uint64_t expected = free_slots[f].word;
      const std::uint64_t desired =
          tag | ((expected + (std::uint64_t{1} << gen_shift)) & gen_mask) | (st_pending << state_shift) | 1u;
      // (3) seq_cst: acquire pairs with the release return to FREE in (7), so
      // the previous flight's destruction happens before we construct; and it
      // is the store half of the Dekker pair with other claimers' scans (5).
      if (word_at(idx).compare_exchange_strong(expected, desired, std::memory_order_seq_cst,
                                               std::memory_order_relaxed)) {
        own = idx;
        claimed = desired;
        break;
      }
      Contention::cas_failure();
      step();
      // Somebody claimed it first, most likely for this very key (a herd
      // claims the same first free slot): join it if it is.
      if (joinable(expected) && (expected & tag_mask) == tag) {
        const pinned p = pin(idx, key, std::memory_order_acq_rel);
        if (p.kind == pin_kind::matched) return {acq_kind::joined, idx, p.word};
      }
    }
    if (own == npos) return {acq_kind::full, 0, 0};
    slot& mine = slots_[own];
    const std::uint32_t gen = gen_of(claimed);
    // Relaxed: ordered before the release (4), which every pinner acquires.
    mine.published.store(no_result, std::memory_order_relaxed);
    mine.interest.store(1, std::memory_order_relaxed);  // the leader
    step();
    try {
      mine.key.emplace(key);
      // The flight's stop source (an allocation) only for a loader that takes a stop_token.
      mine.stop = wants_stop ? std::stop_source{} : std::stop_source{std::nostopstate};
    } catch (...) {
      conclude(own, gen, ph_lost);  // pinners stop waiting for a key that never comes
      retire(own, gen);
      throw;
    }
    // (4) release: reveals the key, the cleared `published`, `interest` and
    // the stop source to every pinner's acquire (4').
    mine.phase.store(phase_word(gen, ph_revealed), std::memory_order_release);
    step();
    const std::size_t own_pos = (own - h) & mask_;

    // Pass 2 (Purcell–Harris): another claim of this key in the window? Of
    // two racing claims at least one sees the other here, since each claim
    // CAS (3) precedes its scan loads (5) in the seq_cst total order. The
    // claim earlier in the window wins: a later claimer that sees an earlier
    // one loses and joins it; an earlier claimer that sees a later one waits
    // for that one's verdict (won: join it; lost: go on). Waits only ever go
    // from an earlier position to a later one, so they cannot form a cycle,
    // and each is bounded: a claim whose rival stays undecided loses.
    std::size_t target = npos;
    std::uint64_t target_word = 0;
    bool beaten = false;
    try {
      for (std::size_t i = 0; i < window_; ++i) {
        if (i == own_pos) continue;
        const std::size_t idx = (h + i) & mask_;
        const std::uint64_t w = word_at(idx).load(std::memory_order_seq_cst);  // (5) seq_cst: Dekker with (3)
        if (!joinable(w) || (w & tag_mask) != tag) continue;
        const pinned p = pin(idx, key, std::memory_order_acq_rel);
        if (p.kind == pin_kind::other) continue;
        if (p.kind == pin_kind::undecided) {
          beaten = true;
          break;
        }
        const std::uint32_t verdict = i < own_pos ? ph_won : await_phase(idx, gen_of(p.word), ph_won);
        if (verdict == ph_won) {  // an earlier claim, or a later one that won: join it
          target = idx;
          target_word = p.word;
          break;
        }
        leave(idx);
        step();
        if (verdict != ph_lost) {  // undecided: it may yet win, so ours must not
          beaten = true;
          break;
        }
      }
    } catch (...) {  // a throwing Key::operator== (pin dropped its pin): give our claim back
      conclude(own, gen, ph_lost);
      retire(own, gen);
      throw;
    }
    if (target == npos && !beaten) {
      conclude(own, gen, ph_won);
      return {acq_kind::own, own, claimed};  // `claimed` is our word while nobody else pins the slot
    }
    conclude(own, gen, ph_lost);
    retire(own, gen);
    if (target == npos) return {acq_kind::retry, 0, 0};
    return {acq_kind::joined, target, target_word};
  }

  // (6) release: our claim's verdict, for an earlier claimer waiting in its pass 2.
  void conclude(std::size_t idx, std::uint32_t gen, std::uint32_t verdict) noexcept {
    slots_[idx].phase.store(phase_word(gen, verdict), std::memory_order_release);
  }

  template <class K, class Loader>
  outcome run_impl(const K& key, Loader& loader, const deadline_t* deadline, const std::stop_token& stop) {
    if (stop.stop_requested()) return outcome::of(load_status::cancelled);
    const std::uint64_t h = hash_of(key);
    for (unsigned attempt = 0; attempt < max_attempts; ++attempt) {
      const acquired a = acquire(key, h, detail::sf_takes_stop_token<Loader>);
      if (a.kind == acq_kind::full) break;  // window full
      if (a.kind == acq_kind::retry) continue;
      if (a.kind == acq_kind::own) {
        return lead(a.idx, gen_of(a.word), a.word, stop,
                    [&](const std::stop_token& st) -> Value { return detail::sf_invoke(loader, st); });
      }
      if (auto o = wait_for(a.idx, gen_of(a.word), deadline, &stop)) return std::move(*o);
      // that claim was beaten (or the flight abandoned): try again
    }
    overflow_->fetch_add(1, std::memory_order_relaxed);  // statistics only, no ordering
    try {
      return outcome::of_value(load_status::loaded, detail::sf_invoke(loader, stop));
    } catch (...) {
      if (stop.stop_requested()) return outcome::of(load_status::cancelled);
      return outcome::of_error(std::current_exception(), load_origin::own);
    }
  }

  template <class BulkLoader>
  std::vector<outcome> run_all_impl(std::span<const Key> keys, BulkLoader& bulk) {
    struct held {
      std::size_t pos, idx;
      std::uint64_t word;
    };
    std::vector<outcome> results(keys.size());
    std::vector<held> joined, led;
    std::vector<std::size_t> alone, retry;
    joined.reserve(keys.size());
    led.reserve(keys.size());
    alone.reserve(keys.size());
    // Phase 1 (never blocks): join or claim a flight for every key.
    std::size_t next = 0;
    try {
      for (; next < keys.size(); ++next) {
        const std::uint64_t h = hash_of(keys[next]);
        bool placed = false;
        for (unsigned attempt = 0; attempt < max_attempts && !placed; ++attempt) {
          const acquired a = acquire(keys[next], h, false);
          if (a.kind == acq_kind::full) break;
          if (a.kind == acq_kind::retry) continue;
          (a.kind == acq_kind::own ? led : joined).push_back({next, a.idx, a.word});  // reserved: no throw
          placed = true;
        }
        if (!placed) {
          overflow_->fetch_add(1, std::memory_order_relaxed);  // statistics only
          alone.push_back(next);
        }
      }
    } catch (...) {  // a throwing Key copy or ==: give back every flight and pin taken so far
      const std::exception_ptr e = std::current_exception();
      for (const held& l : led)
        (void)lead(l.idx, gen_of(l.word), l.word, {}, [&](const std::stop_token&) -> Value { std::rethrow_exception(e); });
      for (const held& j : joined) leave(j.idx);
      throw;
    }
    // Phase 2: one bulk call for the keys we lead and those that found no slot.
    std::vector<std::optional<Value>> got(led.size() + alone.size());
    std::exception_ptr bulk_error;
    if (!got.empty()) {
      try {
        std::vector<Key> batch;
        batch.reserve(got.size());
        std::unordered_map<Key, std::size_t, Hash> where;
        where.reserve(got.size());
        for (const held& l : led) {
          where.emplace(keys[l.pos], batch.size());
          batch.push_back(keys[l.pos]);
        }
        for (std::size_t p : alone) {
          where.emplace(keys[p], batch.size());  // a duplicate key without a slot: its first place
          batch.push_back(keys[p]);
        }
        auto&& loaded = bulk(std::span<const Key>(batch));
        for (auto&& [k, v] : loaded)
          if (auto it = where.find(k); it != where.end()) got[it->second].emplace(v);
        for (std::size_t i = 0; i < alone.size(); ++i)  // duplicates among the alone keys share the first's value
          if (!got[led.size() + i]) {
            auto it = where.find(keys[alone[i]]);
            if (it != where.end() && got[it->second]) got[led.size() + i].emplace(*got[it->second]);
          }
      } catch (...) {
        bulk_error = std::current_exception();
      }
    }
    auto produce = [&](std::size_t b) {
      return [&, b](const std::stop_token&) -> Value {
        if (got[b]) return std::move(*got[b]);
        if (bulk_error) std::rethrow_exception(bulk_error);
        throw missing_key{};
      };
    };
    for (std::size_t i = 0; i < led.size(); ++i)
      results[led[i].pos] = lead(led[i].idx, gen_of(led[i].word), led[i].word, {}, produce(i));
    for (std::size_t i = 0; i < alone.size(); ++i) {
      try {
        results[alone[i]] = outcome::of_value(load_status::loaded, produce(led.size() + i)(std::stop_token{}));
      } catch (...) {
        results[alone[i]] = outcome::of_error(std::current_exception(), load_origin::own);
      }
    }
    // Phase 3: wait for the flights we joined (ours are all published).
    for (const held& j : joined) {
      try {
        if (auto o = wait_for(j.idx, gen_of(j.word), nullptr, nullptr))
          results[j.pos] = std::move(*o);
        else
          retry.push_back(j.pos);
      } catch (...) {  // a throwing Value copy (wait_for left its pin)
        results[j.pos] = outcome::of_error(std::current_exception(), load_origin::shared);
      }
    }
    for (std::size_t p : retry) {
      auto one = [&]() -> Value {
        auto&& loaded = bulk(std::span<const Key>(&keys[p], 1));
        for (auto&& [k, v] : loaded)
          if (k == keys[p]) return Value(v);
        throw missing_key{};
      };
      results[p] = run_impl(keys[p], one, nullptr, std::stop_token{});
    }
    return results;
  }

  // The leader: run the loader, publish, close the flight and leave in one RMW.
  // `alone` is our word if nobody else has pinned the slot. `stop` is the
  // leader's caller's token: when it fires, the leader gives up its interest
  // (the loader is told to stop once no joiner wants the result either).
  template <class Produce>
  outcome lead(std::size_t idx, std::uint32_t gen, std::uint64_t alone, const std::stop_token& stop,
               Produce&& produce) {
    slot& s = slots_[idx];
    // Only the slot's owner writes `flights`, and owners follow one another
    // through the claim CAS (3) and the free (7): a plain increment, no RMW.
    s.flights.store(s.flights.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    outcome o;
    {
      std::optional<std::stop_callback<interest_dropper>> leaving;
      try {
        if (stop.stop_possible()) leaving.emplace(stop, interest_dropper{this, idx});
        s.value.emplace(produce(s.stop.get_token()));
        s.kind = result_kind::value;
      } catch (...) {
        s.error = std::current_exception();
        s.kind = result_kind::error;
      }
      // `leaving` is destroyed here: its callback has run or never will.
    }
    step();
    if (s.kind == result_kind::value) {
      // Our own copy: if it throws, the joiners still get the value and only we
      // see the copy's exception.
      try {
        // Built in place (the returned object): a temporary moved in cost a
        // store-forwarding stall per call on the uncontended path.
        o.value.emplace(*s.value);
        o.status = load_status::loaded;
      } catch (...) {
        o = outcome::of_error(std::current_exception(), load_origin::own);
      }
    } else if (stop.stop_requested()) {
      o = outcome::of(load_status::cancelled);
    } else {
      o = outcome::of_error(s.error, load_origin::own);
    }
    // Nobody joined (the common case without a herd): no waiter to publish
    // to, so one CAS frees the slot. A pin or forget makes it fail.
    if (trivial_payload && !s.error &&
        word_at(idx).compare_exchange_strong(alone, generation_only(alone), std::memory_order_acq_rel,
                                             std::memory_order_relaxed))  // (7) release: pairs with (3)
      return o;
    finish(idx, gen);
    return o;
  }

  // Our claim lost: send our joiners (if any) round again.
  void retire(std::size_t idx, std::uint32_t gen) {
    slots_[idx].kind = result_kind::aborted;
    finish(idx, gen);
  }

  // Publish the result, then, in one RMW, close the flight to joiners (DONE or
  // DEAD) and drop the owner's ref. A joiner pinned before that RMW is
  // counted in its refs, so with refs == 1 nobody can be asleep on it; one
  // pinned after it sees the flight closed and does not wait.
  void finish(std::size_t idx, std::uint32_t gen) {
    slot& s = slots_[idx];
    const bool done = s.kind != result_kind::aborted;
    const std::uint64_t close = state_delta(st_pending, done ? st_done : st_dead);
    s.published.store(gen, std::memory_order_seq_cst);  // (8) release: pairs with (9); seq_cst for (10)
    step();
    const std::uint64_t old = word_at(idx).fetch_add(close - 1, std::memory_order_acq_rel);  // pairs with the pins (2)
    if (refs_of(old) > 1) {
      s.published.notify_all();
      if (s.timed_waiters.load(std::memory_order_seq_cst) != 0) ring(s);  // (10) Dekker with (11)
    } else {
      try_free(idx, old - 1 + close);
    }
  }

  // Wakes the timed and stoppable waiters of s (they sleep on `bell`).
  static void ring(slot& s) noexcept {
    s.bell.fetch_add(1, std::memory_order_seq_cst);  // (12) seq_cst: after (8), seen by the waiters' (13)
    detail::futex_wake(s.bell, true);
  }

  // One caller less wants the flight (caller pinned). The last one closes it:
  // forgotten (later callers start anew) and its loader asked to stop.
  void drop_interest(std::size_t idx) noexcept {
    slot& s = slots_[idx];
    // acq_rel: pairs with the other droppers' and the joiners' RMWs on `interest`.
    if (s.interest.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    word_at(idx).fetch_or(forgotten_bit, std::memory_order_acq_rel);  // as forget (2a)
    if (s.stop.stop_possible()) s.stop.request_stop();  // s.stop is the claimer's, stable while we are pinned
  }
  // A joiner's interest: fails once the flight was abandoned (interest 0).
  // Lock-free: a CAS loop that fails only when another joiner or dropper moved the count.
  static bool add_interest(slot& s) noexcept {
    std::uint32_t n = s.interest.load(std::memory_order_relaxed);
    while (n != 0)
      if (s.interest.compare_exchange_weak(n, n + 1, std::memory_order_acq_rel, std::memory_order_relaxed))
        return true;
    return false;
  }
  struct interest_dropper {
    single_flight* t;
    std::size_t idx;
    void operator()() const noexcept { t->drop_interest(idx); }
  };
  struct waiter_cancel {
    std::atomic<bool>* cancelled;
    slot* s;
    void operator()() const noexcept {
      cancelled->store(true, std::memory_order_seq_cst);
      ring(*s);
    }
  };

  // Wait (pinned) for flight `gen` of slot idx; empty result = its claim was
  // beaten, or the flight was abandoned by all its callers: try again.
  std::optional<outcome> wait_for(std::size_t idx, std::uint32_t gen, const deadline_t* deadline,
                                  const std::stop_token* stop) {
    slot& s = slots_[idx];
    if (!add_interest(s)) {
      leave(idx);
      return std::nullopt;
    }
    std::uint32_t p = s.published.load(std::memory_order_acquire);  // (9) acquire: pairs with (8)
    const bool waited = p != gen;
    if (waited) {
      Contention::wait();
      const bool stoppable = stop != nullptr && stop->stop_possible();
      if (deadline == nullptr && !stoppable) {
        do {
          s.published.wait(p, std::memory_order_acquire);  // (9)
          p = s.published.load(std::memory_order_acquire);  // (9)
        } while (p != gen);
      } else {
        // Timed or stoppable: sleep on `bell`, which every event that ends
        // this wait bumps after it happened (publish (12), our cancel).
        std::atomic<bool> cancelled{false};
        s.timed_waiters.fetch_add(1, std::memory_order_seq_cst);  // (11) Dekker with (10)
        {
          std::optional<std::stop_callback<waiter_cancel>> cb;
          if (stoppable) cb.emplace(*stop, waiter_cancel{&cancelled, &s});
          for (;;) {
            const std::uint32_t b = s.bell.load(std::memory_order_seq_cst);  // (13)
            p = s.published.load(std::memory_order_seq_cst);                  // (9)
            if (p == gen || cancelled.load(std::memory_order_seq_cst)) break;
            if (deadline != nullptr && std::chrono::steady_clock::now() >= *deadline) break;
            detail::futex_wait(s.bell, b, deadline);
          }
        }  // the callback has run or never will
        s.timed_waiters.fetch_sub(1, std::memory_order_relaxed);  // a stale count costs one spare wake only
        if (p != gen) {
          s.timeouts.fetch_add(1, std::memory_order_relaxed);  // statistics only, no ordering
          drop_interest(idx);
          leave(idx);
          return outcome::of(cancelled.load(std::memory_order_relaxed) ? load_status::cancelled
                                                                       : load_status::timed_out);
        }
      }
    }
    std::optional<outcome> o;
    if (s.kind == result_kind::aborted && waited) Contention::spin();  // the wait was for nothing: a re-check
    step();
    if (s.kind != result_kind::aborted) {
      if (s.kind == result_kind::value) {
        try {
          o.emplace(outcome::of_value(load_status::shared, *s.value));
        } catch (...) {
          leave(idx);  // a throwing copy must not keep the slot pinned
          throw;
        }
      } else {
        o.emplace(outcome::of_error(s.error, load_origin::shared));
      }
      s.joins.fetch_add(1, std::memory_order_relaxed);  // statistics only, no ordering
    }
    leave(idx);
    return o;
  }

  void leave(std::size_t idx) {
    step();
    // acq_rel: our reads of the flight happen before whoever frees it.
    const std::uint64_t old = word_at(idx).fetch_sub(1, std::memory_order_acq_rel);
    if (refs_of(old) == 1) try_free(idx, old - 1);
  }

  // `w` is the word we saw drop to refs 0.
  void try_free(std::size_t idx, std::uint64_t w) {
    const auto st = state_of(w);
    if (st != st_done && st != st_dead) return;  // free already, or being freed
    slot& s = slots_[idx];
    auto& word = word_at(idx);
    std::uint64_t expected = w;
    if (trivial_payload && !s.error) {
      // (7) release: pairs with the claim CAS (3). One CAS: if a pin arrived
      // meanwhile, its own leave frees the slot.
      (void)word.compare_exchange_strong(expected, generation_only(w), std::memory_order_acq_rel,
                                         std::memory_order_relaxed);
      return;
    }
    if (!word.compare_exchange_strong(expected, generation_only(w) | (st_freeing << state_shift),
                                      std::memory_order_acq_rel, std::memory_order_relaxed))
      return;
    step();
    s.key.reset();
    s.value.reset();
    s.error = nullptr;
    s.kind = result_kind::none;
    // (7) release: pairs with the claim CAS (3); keeps pins that arrived meanwhile.
    word.fetch_add(state_delta(st_freeing, st_free), std::memory_order_release);
  }

  static constexpr std::size_t npos = ~std::size_t{0};

  [[no_unique_address]] Hash hash_{};
  std::size_t window_;
  std::size_t mask_;
  std::uint64_t seed_;
  std::uint64_t seed_mix_ = detail::mix64(seed_ + 0x9e3779b97f4a7c15ULL);  // seeded_hash's mix of the seed
  std::unique_ptr<word_line[]> lines_;
  std::unique_ptr<slot[]> slots_;
  detail::padded<std::atomic<std::uint64_t>> overflow_;
};

}  // namespace hotshard
