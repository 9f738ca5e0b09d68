// hotshard/single_flight.hpp — request coalescing: the first caller for a key
// runs the loader, callers that arrive while it runs share its result.
//
// Algorithm. The idea is Go's golang.org/x/sync/singleflight (one call per key
// in flight, duplicates wait for it), rebuilt without its mutex over a
// fixed-capacity open-addressing table of flights. A key may live in any slot
// of its probe window (W consecutive slots from its hash). Each slot has one
// 64-bit word  [tag:23 | generation:16 | flags:2 | state:3 | refs:20]  — the
// words are packed eight to a cache line, apart from the slots' payload (key,
// value), so scanning a window touches one or two lines. Every change to a
// word is a single fetch_add / fetch_or / fetch_xor / CAS, so no step retries:
//  - join: load a slot; if it holds a live flight with our hash tag, pin it
//    (fetch_add on refs) and check the key under the pin — a pinned slot is
//    never freed, so the key cannot change under the check;
//  - claim: one CAS on a free slot (refs 0) writes our tag and bumps the
//    generation, then clears `published` to a value no generation has,
//    publishes the key as PENDING and scans the window again. The clear makes
//    the 16-bit generation safe to wrap: a solo flight frees without
//    publishing, so without it a joiner 2^16 solo flights later saw a stale
//    `published` equal to its generation (models/single_flight.pml: 2-bit
//    generation; its mutant without the clear finds that bug). Two claims for one key are resolved Purcell–Harris style
//    ("Non-blocking hashtables with open addressing", DISC 2005): the claim
//    earlier in the window wins, a later PENDING claim is killed with fetch_or
//    of a verdict bit, and a committed (LOADING) one is joined. Because the
//    PENDING store and the scan loads are seq_cst, of two racing claims at
//    least one sees the other (Dekker), so at most one committed flight per
//    key exists at a time. A beaten claimer tells its own joiners to retry;
//  - leave: fetch_sub on refs; the thread that takes refs to 0 after the
//    flight is finished frees the slot (one CAS; if it fails somebody pinned
//    the slot meanwhile and that thread's own leave frees it). The leader's
//    leave is the same RMW that closes the flight to joiners, and it wakes
//    sleepers only if somebody else held the slot.
// Only waiting for the result blocks: waiters sleep in std::atomic::wait (a
// futex on Linux) on the slot's `published` word, which the leader sets to the
// flight's generation.
//
// Progress guarantees (W = window, at most 32; A = max_attempts = 4):
//  - run / run_for, everything except waiting for another thread's loader:
//    wait-free, at most A attempts of at most 2W slot loads, W claim CASes,
//    2W pins and one commit each; before joining a slot that another caller
//    has just claimed with our hash tag, at most 64 pauses and 16 yields for
//    it to show its key — then, if every attempt was beaten or the
//    window was full, the caller runs the loader itself (counted as overflow);
//  - waiting for the result: blocking (futex), never a spin loop;
//  - run_for's wait: blocking until the result or the deadline (see
//    detail/sf_timed_wait.hpp for how the deadline is kept);
//  - forget: wait-free, W loads and at most W pins;
//  - stats (O(capacity)), capacity, window: wait-free. unsafe_slots_in_use:
//    not thread-safe.
//
// Exceptions leave no slot held: a throwing Key copy or == after a claim
// gives the claim back; a joiner's throwing Value copy leaves first; a
// leader's throwing own copy still publishes the value to its joiners. Bad
// capacity (not in [1, 2^32]) or window (not in [1, 32]) throw
// std::invalid_argument. Keys hash with a per-instance seed (random unless
// given). run_for: timeout <= 0 gives up at once; nanoseconds::max() waits.
//
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
// Memory ordering: the claimer writes the key and clears `published` before
// the PENDING fetch_add (seq_cst ⊇ release); a joiner's pin is an acq_rel RMW
// in the same release sequence, so it sees both, and `published` can change
// again only by its own flight's publish while the pin holds the slot. The leader writes the value or
// exception before the release store of `published`; a waiter's acquire load
// of `published` sees them. Every leave is acq_rel, so all reads of a flight
// happen before the last leaver destroys it; the freer's release return of
// the slot to FREE pairs with the next claimer's acquire CAS.
// Tested: tests/single_flight (regressions of issue 12, and the stress tests
// again with yields at every protocol step through Stats::schedule_point,
// under TSan); the slot state machine is model-checked (models/README.md).
#pragma once

#include <hotshard/detail/backoff.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/sf_timed_wait.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

namespace hotshard {

enum class flight_status : std::uint8_t {
  loaded,     // this caller ran the loader (as leader, or alone on overflow)
  shared,     // this caller received another caller's result
  timed_out,  // run_for gave up waiting; the flight goes on for the others
};

template <class Value>
struct flight_result {
  Value value;
  bool shared = false;
};

template <class Value>
struct timed_flight_result {
  flight_status status = flight_status::timed_out;
  std::optional<Value> value;  // empty exactly when timed_out
  [[nodiscard]] bool timed_out() const noexcept { return status == flight_status::timed_out; }
};

struct single_flight_stats {
  std::uint64_t flights = 0;   // loader runs as leader of a coalesced flight
  std::uint64_t joins = 0;     // results shared (loads saved)
  std::uint64_t timeouts = 0;  // run_for waiters that gave up
  std::uint64_t overflow = 0;  // loads run alone: window full or claim beaten A times
};

template <class Key, class Value, class Hash = std::hash<Key>, class Stats = detail::no_stats>
class single_flight {
 public:
  using key_type = Key;
  using value_type = Value;
  using result_type = flight_result<Value>;
  static constexpr std::size_t max_window = 32;
  static constexpr unsigned max_attempts = 4;
  static constexpr unsigned claim_spins = 64;
  static constexpr unsigned claim_yields = 16;
  static_assert(std::is_copy_constructible_v<Value>, "every caller of a flight receives a copy of its value");

  static constexpr std::size_t max_capacity = std::size_t{1} << 32;

  // capacity in [1, 2^32] (rounded up to a power of two, at least 8 and at
  // least the window), window in [1, 32]; anything else throws
  // std::invalid_argument naming the field. `seed` keys the table's hash: a
  // random one per instance by default, an explicit one for reproducible runs.
  explicit single_flight(std::size_t capacity = 1024, std::size_t window = 8,
                         std::uint64_t seed = detail::random_seed())
      : window_(checked_window(window)),
        mask_(checked_size(capacity, window_) - 1),
        seed_(seed),
        lines_(std::make_unique<word_line[]>((mask_ + 1) / words_per_line)),
        slots_(std::make_unique<slot[]>(mask_ + 1)) {}

  single_flight(const single_flight&) = delete;
  single_flight& operator=(const single_flight&) = delete;

  // Returns the loader's value (or rethrows its exception) and whether it was
  // another caller's load.
  template <class Loader>
  result_type run(const Key& key, Loader&& loader) {
    outcome o = run_impl(key, loader, nullptr);
    if (o.error) std::rethrow_exception(o.error);
    return result_type{std::move(*o.value), o.status == flight_status::shared};
  }

  // As run, but a caller that would wait longer than `timeout` for somebody
  // else's load returns timed_out instead. The leader is never timed out: its
  // own loader runs to completion (a loader cannot be interrupted from here).
  // A timeout too long to represent as a deadline (nanoseconds::max()) means
  // "wait as long as it takes"; a timeout <= 0 gives up at once.
  template <class Loader>
  timed_flight_result<Value> run_for(const Key& key, std::chrono::nanoseconds timeout, Loader&& loader) {
    deadline_t deadline{};
    outcome o = run_impl(key, loader, detail::sf_deadline_after(timeout, deadline));
    if (o.error) std::rethrow_exception(o.error);
    return timed_flight_result<Value>{o.status, std::move(o.value)};
  }

  // Detaches the flights of `key` now in the table: later callers start anew.
  // Returns whether there was one.
  bool forget(const Key& key) {
    const std::uint64_t h = hash_of(key);
    const std::uint64_t tag = tag_of_hash(h);
    bool found = false;
    for (std::size_t i = 0; i < window_; ++i) {
      const std::size_t idx = (h + i) & mask_;
      auto& word = word_at(idx);
      const std::uint64_t w = word.load(std::memory_order_acquire);  // (1) acquire: pairs with the release of (4)
      if (!joinable(w) || (w & tag_mask) != tag) continue;
      const std::uint64_t p = word.fetch_add(1, std::memory_order_acq_rel);  // (2) pin: same release sequence as (4)
      if (joinable(p) && key_matches(idx, key)) {
        word.fetch_or(forgotten_bit, std::memory_order_acq_rel);  // (2a) pairs with the pins (2) of later callers
        found = true;
      }
      leave(idx);
    }
    return found;
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
  // rules a slot out without touching its payload.
  static constexpr std::uint64_t ref_mask = (std::uint64_t{1} << 20) - 1;
  static constexpr unsigned state_shift = 20;
  static constexpr std::uint64_t state_mask = std::uint64_t{0x7} << state_shift;
  // The verdict bit, flipped by the claim's commit (fetch_xor) and set by a
  // kill (fetch_or): while PENDING, set = killed; while LOADING, set =
  // committed cleanly (a kill after the commit changes nothing, and a commit
  // after a kill clears it, so the owner's fetch_xor tells it who won).
  static constexpr std::uint64_t verdict_bit = std::uint64_t{1} << 23;
  static constexpr std::uint64_t forgotten_bit = std::uint64_t{1} << 24;
  static constexpr unsigned gen_shift = 25;
  static constexpr std::uint64_t gen_mask = std::uint64_t{0xffff} << gen_shift;
  static constexpr unsigned tag_shift = 41;
  static constexpr std::uint64_t tag_mask = ~std::uint64_t{0} << tag_shift;
  enum : std::uint64_t { st_free = 0, st_claimed = 1, st_pending = 2, st_loading = 3, st_done = 4, st_dead = 5, st_freeing = 6 };
  enum class result_kind : std::uint8_t { none, value, error, aborted };
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
    if ((w & forgotten_bit) != 0) return false;
    const auto st = state_of(w);
    const bool verdict = (w & verdict_bit) != 0;
    return (st == st_pending && !verdict) || (st == st_loading && verdict);
  }
  static std::size_t checked_window(std::size_t window) {
    if (window < 1 || window > max_window) throw std::invalid_argument("single_flight: window must be in [1, 32]");
    return window;
  }
  static std::size_t checked_size(std::size_t capacity, std::size_t window) {
    if (capacity < 1 || capacity > max_capacity)
      throw std::invalid_argument("single_flight: capacity must be in [1, 2^32]");
    return std::bit_ceil(std::max({capacity, window, words_per_line}));  // <= 2^32: cannot overflow
  }
  // A `published` value no generation (16 bits) can equal: the claimer stores
  // it before its flight becomes joinable, so a joiner never mistakes the
  // result of an earlier flight of the slot (whatever its generation) for its own.
  static constexpr std::uint32_t no_result = 0xffffffff;
  static_assert((gen_mask >> gen_shift) < no_result);

  static void step() noexcept { detail::sf_schedule_point<Stats>(); }

  std::uint64_t hash_of(const Key& key) const { return detail::seeded_hash(detail::hash_key(key, hash_), seed_); }

  // Whether pinned slot idx holds `key`. A throwing operator== drops our pin first.
  bool key_matches(std::size_t idx, const Key& key) {
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
    std::atomic<std::uint32_t> timed_waiters{0};       // run_for callers asleep in sf_wait_until
    result_kind kind = result_kind::none;
    std::optional<Key> key;
    std::optional<Value> value;
    std::exception_ptr error;
    std::atomic<std::uint64_t> flights{0}, joins{0}, timeouts{0};  // statistics only
  };

  struct outcome {
    flight_status status = flight_status::loaded;
    std::optional<Value> value;
    std::exception_ptr error;
  };

  using deadline_t = std::chrono::steady_clock::time_point;

  std::atomic<std::uint64_t>& word_at(std::size_t idx) const noexcept {
    return lines_[idx / words_per_line].w[idx % words_per_line];
  }

  // Pins slot idx if it holds a live flight of `key`; returns the pinned word.
  std::optional<std::uint64_t> try_pin(std::size_t idx, const Key& key, std::memory_order order) {
    const std::uint64_t p = word_at(idx).fetch_add(1, order);  // (2) pin: same release sequence as (4)
    step();
    if (joinable(p) && key_matches(idx, key)) return p;
    leave(idx);
    return std::nullopt;
  }

  template <class Loader>
  outcome run_impl(const Key& key, Loader& loader, const deadline_t* deadline) {
    const std::uint64_t h = hash_of(key);
    const std::uint64_t tag = tag_of_hash(h);
    for (unsigned attempt = 0; attempt < max_attempts; ++attempt) {
      // Pass 1: join a live flight of this key, or note the free slots.
      std::array<std::pair<std::size_t, std::uint64_t>, max_window> free_slots;
      std::size_t n_free = 0;
      std::size_t joined = npos;
      std::uint64_t joined_word = 0;
      for (std::size_t i = 0; i < window_ && joined == npos; ++i) {
        const std::size_t idx = (h + i) & mask_;
        std::uint64_t w = word_at(idx).load(std::memory_order_acquire);  // (1) see forget
        if ((w & tag_mask) == tag && state_of(w) == st_claimed) w = await_reveal(idx, w);
        if (joinable(w) && (w & tag_mask) == tag) {
          if (auto p = try_pin(idx, key, std::memory_order_acq_rel)) {
            joined = idx;
            joined_word = *p;
          }
        } else if (w == generation_only(w)) {
          free_slots[n_free++] = {idx, w};
        }
      }
      // Claim the first free slot we can.
      std::size_t own = npos;
      std::uint64_t claimed = 0;
      for (std::size_t f = 0; f < n_free && joined == npos; ++f) {
        const std::size_t idx = free_slots[f].first;
        std::uint64_t expected = free_slots[f].second;
        const std::uint64_t desired =
            tag | ((expected + (std::uint64_t{1} << gen_shift)) & gen_mask) | (st_claimed << state_shift) | 1u;
        // (3) acquire: pairs with the release return to FREE in (7), so the
        // previous flight's destruction happens before we construct.
        if (word_at(idx).compare_exchange_strong(expected, desired, std::memory_order_acquire,
                                                 std::memory_order_relaxed)) {
          own = idx;
          claimed = desired;
          break;
        }
        Stats::cas_failure();
        step();
        // Somebody claimed it first, most likely for this very key (a herd
        // claims the same first free slot): if the tag says so, give it a
        // bounded moment to show its key, then join it.
        if ((expected & tag_mask) == tag && joinable(await_reveal(idx, expected))) {
          if (auto p = try_pin(idx, key, std::memory_order_acq_rel)) {
            joined = idx;
            joined_word = *p;
          }
        }
      }
      if (joined != npos) {
        if (auto o = wait_for(joined, gen_of(joined_word), deadline)) return std::move(*o);
        continue;  // that claim was beaten: try again
      }
      if (own == npos) break;  // window full
      slot& mine = slots_[own];
      const std::uint32_t gen = gen_of(claimed);
      // Relaxed: ordered before the release (4), which every joiner's pin acquires.
      mine.published.store(no_result, std::memory_order_relaxed);
      step();
      try {
        mine.key.emplace(key);
      } catch (...) {
        retire(own, gen, st_claimed);  // nobody can have joined a CLAIMED slot: it goes straight back to FREE
        throw;
      }
      // (4) seq_cst: publishes the key and the cleared `published` (release
      // for the pins (2)) and is the store half of the Dekker pair with other
      // claimers' scan loads (5).
      word_at(own).fetch_add(state_delta(st_claimed, st_pending), std::memory_order_seq_cst);
      step();
      const std::size_t own_pos = (own - h) & mask_;

      std::size_t target = npos;
      std::uint64_t target_word = 0;
      try {
        for (std::size_t i = 0; i < window_ && target == npos; ++i) {
          const std::size_t idx = (h + i) & mask_;
          if (idx == own) continue;
          auto& word = word_at(idx);
          const std::uint64_t w = word.load(std::memory_order_seq_cst);  // (5) seq_cst: Dekker with (4)
          if (!joinable(w) || (w & tag_mask) != tag) continue;
          const auto p = try_pin(idx, key, std::memory_order_seq_cst);
          if (!p) continue;
          if (state_of(*p) == st_loading || i < own_pos) {
            target = idx;  // a committed flight, or a claim that beats ours: join it
            target_word = *p;
            break;
          }
          // A later PENDING claim loses to ours, unless it committed first.
          const std::uint64_t k = word.fetch_or(verdict_bit, std::memory_order_seq_cst);  // (6) races with commit (6a)
          if (joinable(k) && state_of(k) == st_loading) {
            target = idx;
            target_word = k;
            break;
          }
          leave(idx);
          step();
        }
      } catch (...) {  // a throwing Key::operator== (try_pin dropped its pin): give our claim back
        retire(own, gen, st_pending);
        throw;
      }
      if (target == npos) {
        // (6a) seq_cst commit; a kill (6) ordered before it means we lost.
        const std::uint64_t c = word_at(own).fetch_xor(((st_pending ^ st_loading) << state_shift) | verdict_bit,
                                                       std::memory_order_seq_cst);
        if ((c & verdict_bit) == 0) {
          const std::uint64_t alone = (c & (tag_mask | gen_mask)) | (st_loading << state_shift) | verdict_bit | 1u;
          return lead(own, gen, alone, loader);
        }
        retire(own, gen, st_loading);
      } else {
        retire(own, gen, st_pending);
        if (auto o = wait_for(target, gen_of(target_word), deadline)) return std::move(*o);
      }
    }
    overflow_->fetch_add(1, std::memory_order_relaxed);  // statistics only, no ordering
    return outcome{flight_status::loaded, std::optional<Value>(loader()), nullptr};
  }

  // A slot just claimed with our tag is most likely a claim for this very key
  // (a herd's callers all go for the same first free slot): give the claimer
  // a bounded moment — claim_spins pauses, then claim_yields yields, in case
  // it was preempted — to publish its key, so we join it instead of opening
  // a second claim beside it. Returns the slot's latest word.
  std::uint64_t await_reveal(std::size_t idx, std::uint64_t w) {
    for (unsigned i = 0; i < claim_spins + claim_yields && state_of(w) == st_claimed; ++i) {
      if (i < claim_spins)
        detail::cpu_relax();
      else
        std::this_thread::yield();
      w = word_at(idx).load(std::memory_order_acquire);  // (1) see forget
    }
    return w;
  }

  // The leader: run the loader, publish, close the flight and leave in one RMW.
  // `alone` is our word if nobody else has pinned the slot.
  template <class Loader>
  outcome lead(std::size_t idx, std::uint32_t gen, std::uint64_t alone, Loader& loader) {
    slot& s = slots_[idx];
    // Only the slot's owner writes `flights`, and owners follow one another
    // through the claim CAS (3) and the free (7): a plain increment, no RMW.
    s.flights.store(s.flights.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    outcome o;
    try {
      s.value.emplace(loader());
      s.kind = result_kind::value;
    } catch (...) {
      s.error = std::current_exception();
      s.kind = result_kind::error;
      o.error = s.error;
    }
    step();
    // Our own copy: if it throws, the joiners still get the value and only we
    // see the copy's exception.
    if (s.kind == result_kind::value) {
      try {
        o.value.emplace(*s.value);
      } catch (...) {
        o.error = std::current_exception();
      }
    }
    // Nobody joined (the common case without a herd): no waiter to publish
    // to, so one CAS frees the slot. A pin or forget makes it fail.
    if (trivial_payload && !s.error &&
        word_at(idx).compare_exchange_strong(alone, generation_only(alone), std::memory_order_acq_rel,
                                             std::memory_order_relaxed))  // (7) release: pairs with (3)
      return o;
    finish(idx, gen, st_loading);
    return o;
  }

  // Our claim lost: send our joiners (if any) round again.
  void retire(std::size_t idx, std::uint32_t gen, std::uint64_t from) {
    slots_[idx].kind = result_kind::aborted;
    finish(idx, gen, from);
  }

  // Publish the result, then, in one RMW, close the flight to joiners (DONE or
  // DEAD) and drop the owner's ref. A joiner pinned before that RMW is
  // counted in its refs, so with refs == 1 nobody can be asleep on it; one
  // pinned after it sees the flight closed and does not wait.
  void finish(std::size_t idx, std::uint32_t gen, std::uint64_t from) {
    slot& s = slots_[idx];
    const bool done = s.kind != result_kind::aborted;
    s.published.store(gen, std::memory_order_seq_cst);  // (8) release: pairs with (9); seq_cst for (10)
    step();
    const std::uint64_t old = word_at(idx).fetch_add(state_delta(from, done ? st_done : st_dead) - 1,
                                                     std::memory_order_acq_rel);  // pairs with the pins (2)
    if (refs_of(old) > 1) {
      s.published.notify_all();
      if (s.timed_waiters.load(std::memory_order_seq_cst) != 0) detail::sf_wake_all(s.published);  // (10) Dekker with (11)
    } else {
      try_free(idx, old - 1 + state_delta(from, done ? st_done : st_dead));
    }
  }

  // Wait (pinned) for flight `gen` of slot idx; empty result = its claim was beaten.
  std::optional<outcome> wait_for(std::size_t idx, std::uint32_t gen, const deadline_t* deadline) {
    slot& s = slots_[idx];
    std::uint32_t p = s.published.load(std::memory_order_acquire);  // (9) acquire: pairs with (8)
    const bool waited = p != gen;
    if (waited) {
      Stats::wait();
      if (deadline == nullptr) {
        do {
          s.published.wait(p, std::memory_order_acquire);  // (9)
          p = s.published.load(std::memory_order_acquire);  // (9)
        } while (p != gen);
      } else {
        s.timed_waiters.fetch_add(1, std::memory_order_seq_cst);  // (11) Dekker with (10)
        p = s.published.load(std::memory_order_seq_cst);          // (9)
        while (p != gen && std::chrono::steady_clock::now() < *deadline) {
          detail::sf_wait_until(s.published, p, *deadline);
          p = s.published.load(std::memory_order_acquire);  // (9)
        }
        s.timed_waiters.fetch_sub(1, std::memory_order_relaxed);  // a stale count costs one spare wake only
        if (p != gen) {
          s.timeouts.fetch_add(1, std::memory_order_relaxed);  // statistics only, no ordering
          leave(idx);
          return outcome{flight_status::timed_out, std::nullopt, nullptr};
        }
      }
    }
    std::optional<outcome> o;
    if (s.kind == result_kind::aborted && waited) Stats::spin();  // the wait was for nothing: a re-check
    step();
    if (s.kind != result_kind::aborted) {
      o.emplace();
      o->status = flight_status::shared;
      if (s.kind == result_kind::value) {
        try {
          o->value.emplace(*s.value);
        } catch (...) {
          leave(idx);  // a throwing copy must not keep the slot pinned
          throw;
        }
      }
      o->error = s.error;
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
  std::unique_ptr<word_line[]> lines_;
  std::unique_ptr<slot[]> slots_;
  detail::padded<std::atomic<std::uint64_t>> overflow_;
};

}  // namespace hotshard
