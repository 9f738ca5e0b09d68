// hotshard/salted_counter_map.hpp — a fixed-capacity concurrent table of
// key → counter that salts only the keys that turn hot, and gives a key's
// salt back when it cools.
//
// Keys: any `concepts::hashable_key<Key, Hash>` (hotshard/keys.hpp; pointer
// keys such as `const char*` do not compile: they would count addresses).
//  * Integral keys (≤ 8 bytes, not bool) take the fast path: the entry's word
//    is mix64(key ^ seed) (detail::mix64 is a bijection, so the word *is* the
//    key and its hash); nothing else is stored, and the one key whose word is
//    0 (key == seed) lives in a dedicated entry beside the array.
//  * Every other key is stored in its entry beside a 63-bit word of its
//    seeded hash; a word match is confirmed by comparing the full key, so
//    hash collisions never merge two keys. With a transparent Hash (the
//    default policy::hash<std::string> is one) add/read/promote/demote also
//    take any type the key compares with and is built from — std::string_view
//    or a literal for std::string keys — without building a Key on lookup.
//  * Every operation also takes a hashed_key<Key, Hash> (hash_once(key)) and
//    gives exactly the result of passing the key: the per-instance word is
//    detail::seeded_hash(key word, seed).
// The table is detail::word_table (lock-free insert-only open addressing,
// linear probing, probe_limit). The seed is random per instance unless
// options.seed names one (hash flooding: keys crafted to share one probe run
// of one build are spread in every other instance).
//
// Configuration (std::invalid_argument naming the field otherwise):
// capacity ≥ 1 and hot_capacity ≤ 2^32, their tables' byte sizes must fit;
// max_salt 0 (= cores rounded up, at least 2) or in [2, 2^31]; grow_after ≥ 1.
// Nothing is clamped: a bad value is rejected, never raised or lowered.
//
// Salting (key salting of the hot-partition articles, done in memory): a
// cold key counts in its entry's value word by CAS. A failed CAS is
// contention observed on the key; when one thread has seen `grow_after` of
// them on the same key (a thread-local tally, no shared write), the key gets
// a block of K = 2 padded sub-counters from a fixed pool of hot_capacity
// blocks: the block's sub-counter 0 takes the key's count and one CAS
// replaces the value word by a tag naming the block, so the count moves
// without ever being missing or doubled. Later adds go to the sub-counter
// picked by the thread's probe (as in LongAdder, detail/thread_slots.hpp);
// contention there doubles K, up to `max_salt`. An external verdict — the
// hot-key detector — salts a key at once with promote(key, k). A salted key's
// count is the sum of its K sub-counters, gathered on read.
//
// Giving the salt back: demote(key) folds the key's sub-counters back into
// its value word and returns the block to the pool, exactly, while adds,
// reads, promotes and other demotes run:
//  1. Freeze: each of the block's max_salt sub-counters is *closed* by a CAS
//     that sets its closed mark (bit 62 flipped: a count in [-2^62, 2^62) has
//     bits 63 and 62 equal; a closed one has them differ, its value kept). An
//     add's single CAS on a sub-counter either lands before the close (and is
//     in the value the close keeps) or fails on the closed mark.
//  2. Fold: once all are closed their sum is final; one CAS (G4) replaces the
//     tag by that sum. An adder that meets a closed sub-counter *helps*: it
//     closes the rest, sums and tries the same CAS (any helper computes the
//     same sum; one CAS wins), then retries its add on the value word. So
//     adds never wait for a demote.
//  3. Grace: the block may still be named by a thread that loaded the tag
//     before the fold. Every access to a block happens inside a *section*: the
//     thread's own announcement word (one per thread, shared by all maps) is
//     made odd (G1) before the thread loads the tag with a seq_cst load, and
//     even again by a release store (G2) when it is done. After the fold
//     (seq_cst, G4) demote scans every announcement (G3, seq_cst) and waits
//     for each odd one to change: a section that began after the fold loads
//     the count, not the tag (store-load pairing of G1/G3 with G4: Dekker),
//     so once the waits end no thread can still reach the block. The fence
//     the pairing needs is asymmetric where Linux has membarrier: G1 is a
//     plain store and demote pays one membarrier(PRIVATE_EXPEDITED) before
//     G3 (see detail::heavy_fence); elsewhere G1 is a seq_cst store. Only then are its sub-counters
//     reopened at 0 and the block pushed on the free list (4) → (3).
// Only the thread that set the block's `retiring` flag (demote's ownership,
// one per block) gives the block back; a second demote of the same key
// returns false. A key demoted and salted again gets any free block.
//
// Progress guarantees:
//  * add(), promote(): lock-free for integral keys (a failed CAS means another
//    add, insert, salting or fold succeeded; an add meeting a demote helps it
//    and never waits). For other keys, an insert that meets a concurrent
//    insert of a key with the same word waits for that key's copy (blocking,
//    one copy-construction; see word_table.hpp). At most `probe_limit`
//    entries are probed, so a full table answers `false` in bounded time.
//  * demote(): blocking. The fold is lock-free; the grace period waits for
//    every thread that was inside a section (an add/read/promote/salt_of of a
//    salted key, on any map) when the fold landed, to leave it; a section is
//    a few CASes, but a preempted thread delays the demote (backoff, then
//    yields). It may be called from a for_each callback (f runs outside any
//    section), not from a Key's hash, copy or operator==.
//  * read(), salt_of(): wait-free for integral keys (≤ probe_limit probes,
//    ≤ max_salt loads; a section is two stores); others as find() in
//    word_table.hpp. A thread's first section registers its announcement
//    (a mutex-free list push, one allocation, kept for reuse after exit).
//  * unsafe_size(): a plain relaxed scan (exact when no insert runs).
//  * for_each(), stats(): safe beside every operation; wait-free per entry.
//  * unsafe_reset(): not thread-safe at all (per-window counts, see there).
//
// What a concurrent read(key) may return: the value word, or for a salted key
// each sub-counter's value at some moment while read() ran (a closed one's
// kept value); each add is counted whole or not at all; not a snapshot (same
// bounds as striped_counter.hpp). Once writers have stopped and their stop
// happens-before read() (join), read() is exact — across any number of
// promotes and demotes.
//
// Memory ordering: entry words follow word_table.hpp. A tag is published by a
// release CAS (1) after the block's K and moved count were stored, and every
// load of a value word that may follow a tag into its block acquires (2) —
// the ones inside a section are seq_cst (G1 pairing above). A block's reset
// is handed to its next claimer through the free list: push (4, release) →
// pop (3, acquire); the adders' last writes to the block happen-before the
// reset through (G2) → the scan's acquire load in demote. Counts in
// sub-counters are relaxed. The rare-path totals of stats() are relaxed.
//
// Counts: a key's count, and every partial sum of its deltas, must stay
// within [min_count, max_count] = [-2^62, 2^62): the values below are tags and
// a sub-counter outside it would look closed.
//
// Memory bound (fixed at construction, never grows), for integral keys:
//   16 × capacity + 64 × hot_capacity × (max_salt + 1) + 512 bytes;
// other keys add sizeof(Key) per entry (rounded to the entry's alignment).
// Full table: add() of an absent key returns false and changes nothing when
// the key's probe window (probe_limit consecutive entries) holds no free
// entry — always once `capacity` keys are present, rarely a little earlier at
// load factors near 1. Size the table at ≥ 2× the expected distinct keys.
// Keys are never removed (demote keeps the key and its count).
#pragma once

#include <hotshard/detail/backoff.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/checked_size.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/detail/fetch_max.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/metrics.hpp>
#include <hotshard/detail/thread_slots.hpp>
#include <hotshard/detail/word_table.hpp>
#include <hotshard/keys.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace hotshard {

struct salted_counter_map_options {
  std::size_t capacity = std::size_t{1} << 16;  // entries (keys), ≥ 1; rounded up to a power of two ≥ 2
  std::size_t hot_capacity = 64;                // keys salted at once (demote() gives a block back)
  std::uint32_t max_salt = 0;                   // bound on K: 0 = cores rounded up; else ≥ 2, rounded up to a power of two
  std::uint32_t grow_after = 8;                 // CAS failures on a key before its K doubles
  std::uint64_t seed = 0;                       // 0 = random per instance
};
using salted_counter_map_config = salted_counter_map_options;  // the old name (migration)

// A snapshot of a salted_counter_map for a metrics thread (detail/metrics.hpp):
// each number is a value it had at some moment during stats(); the gauges
// come from a relaxed scan of the table, the totals from rare-path counters.
struct salted_counter_map_stats {
  std::uint64_t keys_present = 0;          // keys in the table
  std::uint64_t keys_salted = 0;           // keys whose count is spread over a block now
  std::uint64_t blocks_free = 0;           // pool blocks a promote/salting can take
  std::uint64_t blocks_in_use = 0;         // pool blocks claimed (salted keys, or a salting in progress)
  std::uint64_t promotions_total = 0;      // keys salted (promote() or contention)
  std::uint64_t demotions_total = 0;       // blocks given back by demote()
  std::uint64_t failed_inserts_total = 0;  // add/promote of an absent key refused: no room in its probe window

  template <class F>
  void for_each_metric(F&& f) const {
    using detail::metric;
    using detail::metric_kind;
    f(metric{"keys", metric_kind::gauge, static_cast<double>(keys_present), "Keys present in the table."});
    f(metric{"keys_salted", metric_kind::gauge, static_cast<double>(keys_salted),
             "Keys whose count is spread over sub-counters now."});
    f(metric{"blocks_free", metric_kind::gauge, static_cast<double>(blocks_free),
             "Salting blocks free in the hot pool."});
    f(metric{"blocks_in_use", metric_kind::gauge, static_cast<double>(blocks_in_use),
             "Salting blocks claimed from the hot pool."});
    f(metric{"promotions_total", metric_kind::counter, static_cast<double>(promotions_total),
             "Keys salted, by promote() or by contention."});
    f(metric{"demotions_total", metric_kind::counter, static_cast<double>(demotions_total),
             "Salting blocks given back by demote()."});
    f(metric{"failed_inserts_total", metric_kind::counter, static_cast<double>(failed_inserts_total),
             "Inserts refused because the key's probe window was full."});
  }
};

namespace detail {
// Per-thread tally of CAS failures by key word (direct-mapped, 64 entries):
// "contention observed on this key" without a shared write per failure. Shared
// by every salted_counter_map of the thread; a collision only resets a tally.
struct salt_tally {
  std::uint64_t word = 0;
  std::uint32_t failures = 0;
};
inline thread_local salt_tally tls_salt_tally[64];

// --- sections: the grace period of demote() ----------------------------------
// One announcement per thread, shared by every salted map; nodes are never
// freed (a thread that exits marks its node free for the next thread).
struct alignas(prefetch_pair_bytes) salted_section_word {  // written on every salted add: its own line pair
  std::atomic<std::uint64_t> seq{0};  // odd while the owner is inside a section
  std::atomic<bool> taken{false};
  salted_section_word* next = nullptr;  // immutable once pushed
};
inline std::atomic<salted_section_word*> salted_section_list{nullptr};
inline thread_local salted_section_word* tls_salted_section = nullptr;  // trivially destructible: no TLS guard

struct salted_section_owner {
  salted_section_word* word = nullptr;
  ~salted_section_owner() {
    if (word == nullptr) return;
    tls_salted_section = nullptr;
    // Release: pairs with the acquire exchange of the next owner.
    word->taken.store(false, std::memory_order_release);
  }
};

[[gnu::noinline]] inline salted_section_word& claim_salted_section() {
  thread_local salted_section_owner owner;
  salted_section_word* p = salted_section_list.load(std::memory_order_acquire);
  for (; p != nullptr; p = p->next)
    // Acquire: pairs with the owner's release at thread exit.
    if (!p->taken.load(std::memory_order_relaxed) && !p->taken.exchange(true, std::memory_order_acquire)) break;
  if (p == nullptr) {
    p = new salted_section_word;
    p->taken.store(true, std::memory_order_relaxed);
    salted_section_word* head = salted_section_list.load(std::memory_order_relaxed);
    do {
      p->next = head;
      // seq_cst: a demote's scan (seq_cst) that follows this thread's first
      // section's tag load in the seq_cst order sees the node.
    } while (!salted_section_list.compare_exchange_weak(head, p, std::memory_order_seq_cst, std::memory_order_relaxed));
  }
  owner.word = p;
  tls_salted_section = p;
  return *p;
}

// The store-load pairing of a section's announcement (G1) with its tag load,
// against demote's fold (G4) and scan (G3), needs a full fence on one side.
// Sections are the hot side, demote the rare one: where Linux offers
// membarrier(PRIVATE_EXPEDITED) (probed and registered once per process), the
// heavy side calls it between the fold and the scan — a full barrier on every
// running thread of the process — and the announcement is a plain store
// ordered by a compiler fence only (the asymmetric Dekker of liburcu's
// membarrier flavour and folly's asymmetric_thread_fence_heavy). Elsewhere
// the announcement and the scan are seq_cst (a locked instruction per section).
[[gnu::cold, gnu::noinline]] inline bool probe_asymmetric_fence() noexcept {
#if defined(__linux__) && defined(SYS_membarrier)
  const long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  return cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0 &&
         syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
  return false;
#endif
}
// Decided once, before any section or demote uses it (a function-local static:
// every caller sees the same answer).
inline bool asymmetric_fence() noexcept {
  static const bool available = probe_asymmetric_fence();
  return available;
}
// The heavy side: after this returns, every section that announced itself
// before the call is visible to the caller's following loads, and every
// section announced after it sees what the caller stored before it.
inline void heavy_fence() noexcept {
#if defined(__linux__) && defined(SYS_membarrier)
  if (asymmetric_fence() && syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return;
#endif
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// RAII: the calling thread is inside a section while it lives.
class salted_section {
 public:
  salted_section() : word_(tls_salted_section != nullptr ? *tls_salted_section : claim_salted_section()) {
    // Relaxed: only this thread writes its word while it owns it.
    seq_ = word_.seq.load(std::memory_order_relaxed) + 1;
    if (asymmetric_fence()) {
      // (G1), light side: a plain store kept before the section's tag load by
      // the compiler; the CPU order is enforced by demote's heavy_fence().
      word_.seq.store(seq_, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
      word_.seq.store(seq_, std::memory_order_seq_cst);  // (G1): before the section's tag load, for (G3)
    }
  }
  ~salted_section() { word_.seq.store(seq_ + 1, std::memory_order_release); }  // (G2): pairs with the scan's acquire
  salted_section(const salted_section&) = delete;
  salted_section& operator=(const salted_section&) = delete;

 private:
  salted_section_word& word_;
  std::uint64_t seq_;
};

// Returns once every section open at the call (in the seq_cst order) has
// ended. Must not be called from inside a section.
inline void wait_for_salted_sections() noexcept {
  heavy_fence();  // between the fold (G4) the caller has observed and the scan (G3)
  for (salted_section_word* p = salted_section_list.load(std::memory_order_seq_cst); p != nullptr; p = p->next) {
    const std::uint64_t s = p->seq.load(std::memory_order_seq_cst);  // (G3)
    if ((s & 1) == 0) continue;
    backoff wait;
    while (p->seq.load(std::memory_order_acquire) == s) wait();  // acquire: pairs with (G2)
  }
}

// Q looks up a Key without building one: a transparent Hash hashes it (to the
// Key's hash on equal contents, the Hash's promise), Key == Q compares it,
// and Key is built from it on insert.
template <class Q, class Key, class Hash>
concept salted_lookup = !std::same_as<std::remove_cvref_t<Q>, Key> && !is_hashed_key<std::remove_cvref_t<Q>> &&
                        requires { typename Hash::is_transparent; } &&
                        requires(const Hash& h, const Q& q, const Key& k) {
                          { h(q) } -> std::convertible_to<std::size_t>;
                          { k == q } -> std::convertible_to<bool>;
                        } && std::constructible_from<Key, const Q&>;
}  // namespace detail

template <class Key, class... Policies>
  requires policy::keyed_policies<Policies...> && concepts::hashable_key<Key, policy::hash_of<Key, Policies...>>
class salted_counter_map {
  // The named policies (hotshard/policy.hpp): the key hash and the contention hook.
  using Hash = policy::hash_of<Key, Policies...>;
  using Contention = policy::contention_of<Policies...>;
  static constexpr bool exact_words = std::integral<Key> && !std::same_as<Key, bool> && sizeof(Key) <= 8;

 public:
  using key_type = Key;
  using hasher = Hash;
  static constexpr std::size_t probe_limit = 256;
  // A key's count, and every partial sum of its deltas, must stay in [min_count, max_count].
  static constexpr std::int64_t min_count = -(std::int64_t{1} << 62);
  static constexpr std::int64_t max_count = (std::int64_t{1} << 62) - 1;

  explicit salted_counter_map(salted_counter_map_options cfg = {}, const Hash& hash = Hash{})
      : table_(checked_entries(checked(cfg).capacity)),
        hot_capacity_(checked_hot_capacity(cfg.hot_capacity)),
        max_salt_(checked_max_salt(cfg.max_salt)),
        grow_after_(checked_grow_after(cfg.grow_after)),
        seed_(cfg.seed == 0 ? detail::random_seed() : cfg.seed),
        hash_(hash),
        heads_(std::make_unique<detail::padded<block_head>[]>(std::max<std::size_t>(hot_capacity_, 1))),
        cells_(std::make_unique<cell[]>(std::max<std::size_t>(hot_capacity_, 1) * max_salt_)) {}

  salted_counter_map(const salted_counter_map&) = delete;
  salted_counter_map& operator=(const salted_counter_map&) = delete;
  ~salted_counter_map() { destroy_keys(); }

  // --- add: false (nothing changed) if the key is absent and the table has no room.
  [[nodiscard]] bool add(const Key& key, std::int64_t delta) { return add_at(insert_entry(key), delta); }
  template <class Q>
    requires(!exact_words && detail::salted_lookup<Q, Key, Hash>)
  [[nodiscard]] bool add(const Q& key, std::int64_t delta) {
    return add_at(insert_entry(key), delta);
  }
  [[nodiscard]] bool add(const hashed_key<Key, Hash>& key, std::int64_t delta) {
    return add_at(insert_entry(key), delta);
  }

  // --- read: 0 for a key never added.
  [[nodiscard]] std::int64_t read(const Key& key) const { return count_or_zero(find_entry(key)); }
  template <class Q>
    requires(!exact_words && detail::salted_lookup<Q, Key, Hash>)
  [[nodiscard]] std::int64_t read(const Q& key) const {
    return count_or_zero(find_entry(key));
  }
  [[nodiscard]] std::int64_t read(const hashed_key<Key, Hash>& key) const { return count_or_zero(find_entry(key)); }

  // --- promote: the hot-key detector's verdict: salt `key` over at least k
  // sub-counters (rounded up to a power of two, capped at max_salt). Inserts
  // the key if needed. false if the table is full or no pool block is free.
  [[nodiscard]] bool promote(const Key& key, std::uint32_t k) { return promote_at(insert_entry(key), k); }
  template <class Q>
    requires(!exact_words && detail::salted_lookup<Q, Key, Hash>)
  [[nodiscard]] bool promote(const Q& key, std::uint32_t k) {
    return promote_at(insert_entry(key), k);
  }
  [[nodiscard]] bool promote(const hashed_key<Key, Hash>& key, std::uint32_t k) {
    return promote_at(insert_entry(key), k);
  }

  // --- demote: the key cooled: fold its sub-counters back into its value word
  // and give its block back to the pool (see the protocol above). true if this
  // call gave a block back; false if the key is absent, not salted, or being
  // demoted by another call. Blocking (grace period); never call it while the
  // calling thread is inside another operation of a salted map.
  [[nodiscard]] bool demote(const Key& key) { return demote_at(find_mutable(key)); }
  template <class Q>
    requires(!exact_words && detail::salted_lookup<Q, Key, Hash>)
  [[nodiscard]] bool demote(const Q& key) {
    return demote_at(find_mutable(key));
  }
  [[nodiscard]] bool demote(const hashed_key<Key, Hash>& key) { return demote_at(find_mutable(key)); }

  // --- salt_of: K of the key: 1 while unsalted or absent.
  [[nodiscard]] std::uint32_t salt_of(const Key& key) const { return salt_at(find_entry(key)); }
  template <class Q>
    requires(!exact_words && detail::salted_lookup<Q, Key, Hash>)
  [[nodiscard]] std::uint32_t salt_of(const Q& key) const {
    return salt_at(find_entry(key));
  }
  [[nodiscard]] std::uint32_t salt_of(const hashed_key<Key, Hash>& key) const { return salt_at(find_entry(key)); }

  [[nodiscard]] std::size_t capacity() const noexcept { return table_.capacity(); }
  [[nodiscard]] std::size_t hot_capacity() const noexcept { return hot_capacity_; }
  [[nodiscard]] std::uint32_t max_salt() const noexcept { return max_salt_; }
  // The seed in use (options.seed, or the random one drawn for this instance).
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(entry) * capacity() + sizeof(cell) * (std::max<std::size_t>(hot_capacity_, 1) * (max_salt_ + 1)) +
           sizeof(*this);
  }

  // Export: calls f(key, count) for every key present, in table order (an
  // integral key is recovered from its word: mix64 is a bijection; other keys
  // are passed as stored, const Key&). Safe beside every operation: each
  // count is what read(key) would return at that moment (not a snapshot
  // across keys); a key inserted while it runs may or may not be visited. f
  // runs outside any section (it may call demote). Wait-free per entry,
  // O(capacity + hot_capacity × max_salt).
  template <class F>
  void for_each(F&& f) const {
    if constexpr (exact_words) {
      // Relaxed: a presence flag.
      if (table_.zero_entry().word.load(std::memory_order_relaxed) != 0)
        f(static_cast<Key>(static_cast<std::make_unsigned_t<Key>>(seed_)), count_of(table_.zero_entry()));
      table_.for_each_entry([&](std::uint64_t w, const entry& e) {
        f(static_cast<Key>(static_cast<std::make_unsigned_t<Key>>(detail::unmix64(w) ^ seed_)), count_of(e));
      });
    } else {
      table_.for_each_entry([&](std::uint64_t, const entry& e) { f(e.payload.key(), count_of(e)); });
    }
  }

  // A snapshot for a metrics thread (see salted_counter_map_stats): no lock,
  // no shared write; O(capacity) relaxed loads.
  [[nodiscard]] salted_counter_map_stats stats() const noexcept {
    salted_counter_map_stats s;
    auto visit = [&s](const entry& e) {
      ++s.keys_present;
      // Relaxed: a gauge; no block is followed.
      if (is_tag(e.payload.value.load(std::memory_order_relaxed))) ++s.keys_salted;
    };
    if constexpr (exact_words)
      if (table_.zero_entry().word.load(std::memory_order_relaxed) != 0) visit(table_.zero_entry());
    table_.for_each_entry([&](std::uint64_t, const entry& e) { visit(e); });
    // Relaxed: rare-path totals, each a value it had at some moment.
    const std::size_t used = std::min<std::size_t>(totals_->in_use.load(std::memory_order_relaxed), hot_capacity_);
    s.blocks_in_use = used;
    s.blocks_free = hot_capacity_ - used;
    s.promotions_total = totals_->promotions.load(std::memory_order_relaxed);
    s.demotions_total = totals_->demotions.load(std::memory_order_relaxed);
    s.failed_inserts_total = totals_->failed_inserts.load(std::memory_order_relaxed);
    return s;
  }

  // Per-window counts: empties the table and gives every salting block back
  // to the pool, as if newly constructed (same seed; stats totals kept). NOT
  // thread-safe: no other operation may run concurrently, and the caller's
  // quiescence (e.g. joining or parking the writers) must happen-before it.
  // For windows with writers that never stop, rotate two tables: writers load
  // the current table from an atomic pointer; at the window's end swap in the
  // other one, wait until no writer still uses the old one (the caller's grace
  // period), then for_each() it for export and unsafe_reset() it for reuse.
  void unsafe_reset() noexcept {
    destroy_keys();
    for (std::size_t i = 0; i < table_.capacity(); ++i) table_.at(i).payload.value.store(0, std::memory_order_relaxed);
    table_.zero_entry().payload.value.store(0, std::memory_order_relaxed);
    table_.unsafe_clear();
    const std::size_t used = std::min<std::size_t>(next_block_->load(std::memory_order_relaxed), hot_capacity_);
    for (std::size_t b = 0; b < used; ++b) reopen_block(static_cast<std::uint32_t>(b));
    next_block_->store(0, std::memory_order_relaxed);
    free_head_->store(0, std::memory_order_relaxed);
    totals_->in_use.store(0, std::memory_order_relaxed);
  }

  // Keys present. Exact only when no insert runs concurrently.
  [[nodiscard]] std::size_t unsafe_size() const noexcept {
    return static_cast<std::size_t>(stats().keys_present);
  }

 private:
  static constexpr std::size_t max_blocks = std::size_t{1} << 32;
  static constexpr std::uint32_t no_block = ~std::uint32_t{0};
  static constexpr const char* who = "salted_counter_map";

  struct exact_payload {
    std::atomic<std::int64_t> value{0};  // the count, or a tag: salted, see block_of
  };
  struct keyed_payload {
    std::atomic<std::int64_t> value{0};
    alignas(Key) unsigned char storage[sizeof(Key)];  // the key, built by word_table's init
    [[nodiscard]] const Key& key() const noexcept { return *std::launder(reinterpret_cast<const Key*>(storage)); }
  };
  using payload = std::conditional_t<exact_words, exact_payload, keyed_payload>;
  using word_table = detail::word_table<payload, !exact_words, Contention>;
  using entry = typename word_table::entry;
  static_assert(!exact_words || (sizeof(entry) == 16 && detail::cache_line_bytes % sizeof(entry) == 0));

  struct block_head {
    std::atomic<std::uint32_t> salt{0};        // K
    std::atomic<std::uint32_t> failures{0};    // contention on the sub-counters since K last grew
    std::atomic<std::uint32_t> free_next{0};   // free list: the next free block + 1, or 0
    std::atomic<bool> retiring{false};         // a demote owns the block
  };
  using cell = detail::padded<std::atomic<std::int64_t>>;
  static_assert(sizeof(cell) == detail::cache_line_bytes);
  struct totals {  // rare-path counters, one line
    std::atomic<std::size_t> in_use{0};
    std::atomic<std::uint64_t> promotions{0};
    std::atomic<std::uint64_t> demotions{0};
    std::atomic<std::uint64_t> failed_inserts{0};
  };

  // --- validation ---------------------------------------------------------
  static std::size_t checked_entries(std::size_t capacity) {
    if (capacity == 0) detail::throw_bad_option(who, "capacity", "must be >= 1");
    return detail::checked_array_count(detail::checked_bit_ceil(std::max<std::size_t>(capacity, 2), who, "capacity"),
                                       1, sizeof(entry), who, "capacity");
  }
  // Every field, before anything is allocated.
  static const salted_counter_map_options& checked(const salted_counter_map_options& cfg) {
    (void)checked_entries(cfg.capacity);
    const std::size_t hot = std::max<std::size_t>(checked_hot_capacity(cfg.hot_capacity), 1);
    const std::uint32_t k = checked_max_salt(cfg.max_salt);
    (void)detail::checked_array_count(hot, k, sizeof(cell), who, "hot_capacity x max_salt");
    (void)checked_grow_after(cfg.grow_after);
    return cfg;
  }
  // 0: the cores rounded up (at least 2); otherwise ≥ 2 (K = 1 would be no
  // salting: rejected, not raised), rounded up to a power of two.
  static std::uint32_t checked_max_salt(std::uint32_t k) {
    if (k == 1) detail::throw_bad_option(who, "max_salt", "must be 0 (the cores) or >= 2");
    return detail::checked_bit_ceil(k == 0 ? std::max(2u, detail::default_stripe_bound()) : k, who, "max_salt");
  }
  static std::size_t checked_hot_capacity(std::size_t hot) {
    if (hot > max_blocks) detail::throw_bad_option(who, "hot_capacity", "must be <= 2^32");
    return hot;
  }
  static std::uint32_t checked_grow_after(std::uint32_t g) {
    if (g == 0) detail::throw_bad_option(who, "grow_after", "must be >= 1");
    return g;
  }

  // --- words and lookups ----------------------------------------------------
  std::uint64_t exact_word(Key key) const noexcept {
    return detail::mix64(static_cast<std::uint64_t>(static_cast<std::make_unsigned_t<Key>>(key)) ^ seed_);
  }
  std::uint64_t keyed_word(std::uint64_t key_word) const noexcept {
    return word_table::keyed_word(detail::seeded_hash(key_word, seed_));
  }

  entry* note_failure(entry* e) noexcept {
    if (e == nullptr) [[unlikely]] count_failed_insert();
    return e;
  }
  [[gnu::noinline, gnu::cold]] void count_failed_insert() noexcept {
    // Relaxed: a total for stats(); the full-table path is the rare one.
    totals_->failed_inserts.fetch_add(1, std::memory_order_relaxed);
  }
  entry* insert_exact(std::uint64_t w) noexcept {
    if (w == 0) {  // key == seed: mix64(0) == 0, the empty marker; its word only records presence
      entry& z = table_.zero_entry();
      // Relaxed: a presence flag for unsafe_size()/for_each().
      if (z.word.load(std::memory_order_relaxed) == 0) z.word.store(1, std::memory_order_relaxed);
      return &z;
    }
    return note_failure(table_.find_or_insert(w));
  }
  const entry* find_exact(std::uint64_t w) const noexcept { return w == 0 ? &table_.zero_entry() : table_.find(w); }

  template <class Q>
  entry* insert_keyed(const Q& q, std::uint64_t key_word) {
    return note_failure(table_.find_or_insert(
        keyed_word(key_word), [&q](const payload& p) { return static_cast<bool>(p.key() == q); },
        [&q](payload& p) { ::new (static_cast<void*>(p.storage)) Key(q); }));
  }
  template <class Q>
  const entry* find_keyed(const Q& q, std::uint64_t key_word) const {
    return table_.find(keyed_word(key_word), [&q](const payload& p) { return static_cast<bool>(p.key() == q); });
  }

  entry* insert_entry(const Key& key) {
    if constexpr (exact_words)
      return insert_exact(exact_word(key));
    else
      return insert_keyed(key, detail::key_word(key, hash_));
  }
  template <class Q>
  entry* insert_entry(const Q& q) {
    return insert_keyed(q, detail::hash_key(q, hash_));
  }
  entry* insert_entry(const hashed_key<Key, Hash>& hk) {
    if constexpr (exact_words)
      return insert_exact(exact_word(hk.key()));
    else
      return insert_keyed(hk.key(), detail::key_word(hk, hash_));
  }
  const entry* find_entry(const Key& key) const {
    if constexpr (exact_words)
      return find_exact(exact_word(key));
    else
      return find_keyed(key, detail::key_word(key, hash_));
  }
  template <class Q>
  const entry* find_entry(const Q& q) const {
    return find_keyed(q, detail::hash_key(q, hash_));
  }
  const entry* find_entry(const hashed_key<Key, Hash>& hk) const {
    if constexpr (exact_words)
      return find_exact(exact_word(hk.key()));
    else
      return find_keyed(hk.key(), detail::key_word(hk, hash_));
  }
  // demote's lookup: never inserts (the zero entry, found even if absent, is
  // then never salted).
  template <class K>
  entry* find_mutable(const K& k) {
    return const_cast<entry*>(find_entry(k));
  }

  void destroy_keys() noexcept {
    if constexpr (!exact_words && !std::is_trivially_destructible_v<Key>) {
      table_.for_each_entry([](std::uint64_t w, entry& e) {
        (void)w;
        std::launder(reinterpret_cast<Key*>(e.payload.storage))->~Key();
      });
    }
  }

  // --- tags and closed sub-counters ----------------------------------------
  static constexpr bool is_tag(std::int64_t v) noexcept { return v < min_count; }
  static constexpr std::int64_t tag_of(std::uint32_t b) noexcept {
    return std::numeric_limits<std::int64_t>::min() + static_cast<std::int64_t>(b);
  }
  static constexpr std::uint32_t block_of(std::int64_t tag) noexcept {
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(tag) -
                                      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::min()));
  }
  static constexpr std::uint64_t closed_bit = std::uint64_t{1} << 62;
  // Closed: bits 63 and 62 differ (an open count in [-2^62, 2^62) has them equal).
  static constexpr bool is_closed(std::int64_t v) noexcept {
    const auto u = static_cast<std::uint64_t>(v);
    return ((u ^ (u << 1)) >> 63) != 0;
  }
  static constexpr std::int64_t flip_closed(std::int64_t v) noexcept {
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(v) ^ closed_bit);
  }
  static constexpr std::int64_t open_value(std::int64_t v) noexcept { return is_closed(v) ? flip_closed(v) : v; }

  cell* cells_of(std::uint32_t b) const noexcept { return &cells_[b * std::size_t{max_salt_}]; }

  // --- counting ---------------------------------------------------------------
  bool add_at(entry* e, std::int64_t delta) {
    if (e == nullptr) return false;
    std::atomic<std::int64_t>& value = e->payload.value;
    // (2) acquire: pairs with the release in (1); a tag leads to a block.
    std::int64_t v = value.load(std::memory_order_acquire);
    for (;;) {
      if (is_tag(v)) {
        if (add_salted(*e, delta)) return true;
        v = value.load(std::memory_order_acquire);  // (2) the fold left a count
        continue;
      }
      detail::schedule_point<Contention>();
      // (2) acquire on failure, as above; success publishes nothing.
      if (value.compare_exchange_weak(v, v + delta, std::memory_order_acquire, std::memory_order_acquire))
        return true;
      Contention::cas_failure();
      if (!is_tag(v) && contended(e->word.load(std::memory_order_relaxed))) {
        (void)salt(*e, 2);
        v = value.load(std::memory_order_acquire);  // (2)
      }
    }
  }

  // Inside a section: adds to the key's block if its value word still holds a
  // tag. false: it holds a count (the caller adds there). Out of line, like
  // every rare path, so that add() of a cold key stays small enough to be
  // inlined into the caller's loop.
  [[gnu::noinline]] bool add_salted(entry& e, std::int64_t delta) {
    detail::salted_section section;
    for (;;) {
      const std::int64_t tag = e.payload.value.load(std::memory_order_seq_cst);  // (2), and the section's tag load
      if (!is_tag(tag)) return false;
      if (add_to_block(e, tag, delta)) return true;
    }
  }

  // One add into block_of(tag); false if the block is closed (the fold has
  // then been helped to its end and the value word no longer holds `tag`).
  bool add_to_block(entry& e, std::int64_t tag, std::int64_t delta) noexcept {
    const std::uint32_t b = block_of(tag);
    cell* c = cells_of(b);
    block_head& head = *heads_[b];
    std::uint32_t probe = detail::thread_probe();
    for (;;) {
      const std::uint32_t k = head.salt.load(std::memory_order_relaxed);  // ≥ the K released in (1)
      std::atomic<std::int64_t>& sub = *c[probe & (k - 1)];
      std::int64_t v = sub.load(std::memory_order_relaxed);
      if (!is_closed(v)) {
        detail::schedule_point<Contention>();
        // Relaxed: a count orders nothing.
        if (sub.compare_exchange_strong(v, v + delta, std::memory_order_relaxed, std::memory_order_relaxed))
          return true;
        Contention::cas_failure();
      }
      if (is_closed(v)) {
        fold(e, tag, b);
        return false;
      }
      // Relaxed: a heuristic tally; a lost increment only delays growth.
      if (k < max_salt_ && head.failures.fetch_add(1, std::memory_order_relaxed) + 1 >= grow_after_) {
        head.failures.store(0, std::memory_order_relaxed);
        raise_salt(b, k * 2);
      }
      probe = detail::rehash_probe();
    }
  }

  // Closes every sub-counter of block b and replaces the tag by their sum
  // (G4). Any thread inside a section may run it; all compute the same sum.
  void fold(entry& e, std::int64_t tag, std::uint32_t b) noexcept {
    cell* c = cells_of(b);
    std::int64_t sum = 0;
    for (std::uint32_t i = 0; i < max_salt_; ++i) {
      std::atomic<std::int64_t>& sub = *c[i];
      std::int64_t v = sub.load(std::memory_order_relaxed);
      // Relaxed: the close orders nothing by itself; the sum travels in (G4).
      while (!is_closed(v) && !sub.compare_exchange_weak(v, flip_closed(v), std::memory_order_relaxed,
                                                          std::memory_order_relaxed)) {
      }
      sum += open_value(v);
      detail::schedule_point<Contention>();
    }
    std::int64_t expected = tag;
    // (G4) seq_cst: the fold; demote's scan (G3) follows it in the seq_cst order.
    (void)e.payload.value.compare_exchange_strong(expected, sum, std::memory_order_seq_cst, std::memory_order_seq_cst);
  }

  std::int64_t count_or_zero(const entry* e) const { return e == nullptr ? 0 : count_of(*e); }

  std::int64_t count_of(const entry& e) const {
    // (2) acquire: pairs with the release in (1).
    std::int64_t v = e.payload.value.load(std::memory_order_acquire);
    if (!is_tag(v)) return v;
    detail::salted_section section;
    v = e.payload.value.load(std::memory_order_seq_cst);  // (2), the section's tag load
    if (!is_tag(v)) return v;
    const std::uint32_t b = block_of(v);
    const cell* c = cells_of(b);
    const std::uint32_t k = heads_[b]->salt.load(std::memory_order_relaxed);  // ≥ the K released in (1)
    std::int64_t sum = 0;
    for (std::uint32_t i = 0; i < k; ++i) sum += open_value(c[i]->load(std::memory_order_relaxed));
    return sum;
  }

  std::uint32_t salt_at(const entry* e) const {
    if (e == nullptr) return 1;
    // (2) acquire: pairs with the release in (1).
    if (!is_tag(e->payload.value.load(std::memory_order_acquire))) return 1;
    detail::salted_section section;
    const std::int64_t v = e->payload.value.load(std::memory_order_seq_cst);  // (2), the section's tag load
    return is_tag(v) ? heads_[block_of(v)]->salt.load(std::memory_order_relaxed) : 1;
  }

  bool promote_at(entry* e, std::uint32_t k) {
    if (e == nullptr) return false;
    const std::uint32_t want = std::bit_ceil(std::clamp(k, 1u, max_salt_));
    if (want == 1) return true;
    if (!salt(*e, want)) return false;
    detail::salted_section section;
    const std::int64_t v = e->payload.value.load(std::memory_order_seq_cst);  // (2), the section's tag load
    if (is_tag(v)) raise_salt(block_of(v), want);
    // else: a demote folded it since; promote-then-demote, both done.
    return true;
  }

  bool demote_at(entry* e) {
    if (e == nullptr) return false;
    // (2) acquire: pairs with the release in (1).
    if (!is_tag(e->payload.value.load(std::memory_order_acquire))) return false;
    std::uint32_t b = 0;
    {
      detail::salted_section section;
      const std::int64_t tag = e->payload.value.load(std::memory_order_seq_cst);  // (2), the section's tag load
      if (!is_tag(tag)) return false;
      b = block_of(tag);
      bool idle = false;
      // Relaxed: ownership only; the block cannot be reused while this
      // section is open (the owner's grace waits for it), so a stale flag
      // cannot be met.
      if (!heads_[b]->retiring.compare_exchange_strong(idle, true, std::memory_order_relaxed,
                                                      std::memory_order_relaxed))
        return false;  // another demote of this key gives the block back
      fold(*e, tag, b);
    }
    detail::schedule_point<Contention>();
    detail::wait_for_salted_sections();
    reopen_block(b);
    heads_[b]->retiring.store(false, std::memory_order_relaxed);  // published with the block by (4)
    release_block(b);
    // Relaxed: a total for stats().
    totals_->demotions.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  // Cells open at 0, K and the tally reset: the block as constructed.
  void reopen_block(std::uint32_t b) noexcept {
    cell* c = cells_of(b);
    // Relaxed: no thread can reach the block (grace, or unsafe_reset); (4) publishes.
    for (std::uint32_t i = 0; i < max_salt_; ++i) c[i]->store(0, std::memory_order_relaxed);
    heads_[b]->salt.store(0, std::memory_order_relaxed);
    heads_[b]->failures.store(0, std::memory_order_relaxed);
  }

  // One more CAS failure seen by this thread on key word w; true every
  // grow_after-th time in a row for the same key.
  bool contended(std::uint64_t w) const noexcept {
    detail::salt_tally& t = detail::tls_salt_tally[(w >> 32) & 63];
    if (t.word != w) t = {w, 0};
    if (++t.failures < grow_after_) return false;
    t.failures = 0;
    return true;
  }

  // A free block (its cells open at 0), or no_block if the pool is exhausted.
  std::uint32_t claim_block() noexcept {
    // (3) acquire: pairs with the release in (4): the popped block's reset is visible.
    std::uint64_t h = free_head_->load(std::memory_order_acquire);
    while ((h & 0xffffffffu) != 0) {
      const std::uint32_t b = static_cast<std::uint32_t>(h) - 1;
      // Relaxed: written before the push (4) that our acquire of h saw; if b
      // was popped and pushed again since, the stamp makes the CAS fail.
      const std::uint64_t next =
          ((h >> 32) + 1) << 32 | heads_[b]->free_next.load(std::memory_order_relaxed);
      if (free_head_->compare_exchange_weak(h, next, std::memory_order_acquire, std::memory_order_acquire)) {  // (3)
        totals_->in_use.fetch_add(1, std::memory_order_relaxed);  // Relaxed: a gauge
        return b;
      }
    }
    // Relaxed: a hint that saves an RMW once the pool is exhausted.
    if (next_block_->load(std::memory_order_relaxed) >= hot_capacity_) return no_block;
    // Relaxed: only uniqueness of the index matters; cells are zero from construction.
    const std::size_t b = next_block_->fetch_add(1, std::memory_order_relaxed);
    if (b >= hot_capacity_) return no_block;
    totals_->in_use.fetch_add(1, std::memory_order_relaxed);  // Relaxed: a gauge
    return static_cast<std::uint32_t>(b);
  }

  // Pushes block b (open, zero) on the free list: a Treiber stack whose head
  // carries a 32-bit stamp against ABA (a pop stalled across 2^32 pushes and
  // pops of the same block could corrupt it; unreachable in practice).
  void release_block(std::uint32_t b) noexcept {
    std::uint64_t h = free_head_->load(std::memory_order_relaxed);
    for (;;) {
      // Relaxed: published by the release CAS below.
      heads_[b]->free_next.store(static_cast<std::uint32_t>(h), std::memory_order_relaxed);
      const std::uint64_t next = ((h >> 32) + 1) << 32 | (std::uint64_t{b} + 1);
      // (4) release: the block's reset and free_next, to (3).
      if (free_head_->compare_exchange_weak(h, next, std::memory_order_release, std::memory_order_relaxed)) break;
    }
    totals_->in_use.fetch_sub(1, std::memory_order_relaxed);  // Relaxed: a gauge
  }

  // Salts the entry over K = k sub-counters unless it already is salted; the
  // count moves into sub-counter 0 in the same CAS that publishes the block,
  // so no reader ever sees it missing or doubled. false: the pool is exhausted.
  [[gnu::noinline]] bool salt(entry& e, std::uint32_t k) noexcept {
    // (2) acquire: pairs with the release in (1).
    std::int64_t v = e.payload.value.load(std::memory_order_acquire);
    if (is_tag(v)) return true;
    const std::uint32_t b = claim_block();
    if (b == no_block) return false;
    heads_[b]->salt.store(k, std::memory_order_relaxed);
    heads_[b]->failures.store(0, std::memory_order_relaxed);
    std::atomic<std::int64_t>& first = *cells_of(b)[0];
    for (;;) {
      if (is_tag(v)) {  // another thread salted it first
        first.store(0, std::memory_order_relaxed);
        release_block(b);
        return true;
      }
      first.store(v, std::memory_order_relaxed);  // the block is still private
      detail::schedule_point<Contention>();
      // (1) release: publishes K and the moved count with the tag, to (2).
      if (e.payload.value.compare_exchange_weak(v, tag_of(b), std::memory_order_acq_rel, std::memory_order_acquire)) {
        totals_->promotions.fetch_add(1, std::memory_order_relaxed);  // Relaxed: a total for stats()
        return true;
      }
    }
  }

  void raise_salt(std::uint32_t b, std::uint32_t want) noexcept {
    // Relaxed: K is an index bound over cells that exist from construction.
    (void)detail::fetch_max(heads_[b]->salt, want);
  }

  word_table table_;
  std::size_t hot_capacity_;
  std::uint32_t max_salt_;
  std::uint32_t grow_after_;
  std::uint64_t seed_;
  [[no_unique_address]] Hash hash_;
  std::unique_ptr<detail::padded<block_head>[]> heads_;  // K and free-list link per hot block
  std::unique_ptr<cell[]> cells_;                         // max_salt sub-counters per hot block
  detail::padded<std::atomic<std::size_t>> next_block_;   // blocks never claimed start here
  detail::padded<std::atomic<std::uint64_t>> free_head_;  // stamp << 32 | (free block + 1), or 0
  detail::padded<totals> totals_;
};

}  // namespace hotshard
