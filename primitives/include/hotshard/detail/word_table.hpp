// hotshard/detail/word_table.hpp — the lock-free, insert-only open-addressing
// table of 64-bit words shared by the keyed primitives (the salted map's
// entries; written generic so heavy_hitters' candidate table can use it).
//
// Layout: a power-of-two array of entries {std::atomic<uint64_t> word;
// Payload payload}; word 0 marks an empty entry. An entry is claimed by one
// CAS of its empty word and never released while the table is live (no
// deletion: the keys' space is bounded, or the table is rebuilt / cleared
// between windows). Lookups probe linearly from `word & mask` over at most
// `probe_limit` entries and stop at the first empty one (in the style of
// Preshing's "The World's Simplest Lock-Free Hash Table",
// https://preshing.com/20130605/the-worlds-simplest-lock-free-hash-table/, and
// Click's non-blocking table, 2007).
//
// Two ways to name an entry, chosen by the Keyed template argument:
//  * exact words (find / find_or_insert(w)): the word *is* the key (e.g. a
//    bijective mix of an integer key). Any nonzero word; the one key whose
//    word is 0 has the dedicated entry zero_entry() beside the array (the
//    caller routes it there: the table never stores word 0).
//  * keyed words (find / find_or_insert(w, eq[, init])): the word is a hash
//    of a key stored in the payload, compared in full by `eq` on a word
//    match. Words must lie in [1, max_keyed_word]: the top bit marks an entry
//    whose key is being written ("busy") and `dead_word` an entry whose key
//    copy threw. A claim CASes 0 → w|busy, runs init(payload) (the key copy),
//    then publishes w with a release store; a lookup that meets w|busy waits
//    (backoff) for the publication, so it never compares a half-built key.
//
// Progress: find(): wait-free for exact words (≤ probe_limit loads); for
// keyed words wait-free unless it meets an entry of the same word being
// claimed, then blocking until that claimer's init() returns (one key copy;
// a preempted claimer delays it). find_or_insert(): lock-free for exact words
// (a failed CAS means another claim succeeded); for keyed words the same
// blocking wait as find(). for_each_entry(), size(): a plain scan, safe beside
// inserts (an entry claimed meanwhile may or may not be visited).
//
// Memory ordering: exact words are relaxed — the word is the whole key and
// nothing else is published with it (payload fields carry their own
// orderings). Keyed words: the publication store (K1, release) pairs with the
// acquire loads (K2) of find/find_or_insert/for_each_entry, so the key built
// by init() is visible before eq() reads it.
//
// Not thread-safe: unsafe_clear() (the caller's quiescence must happen-before it).
#pragma once

#include <hotshard/detail/backoff.hpp>
#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace hotshard::detail {

template <class Payload>
inline constexpr std::size_t word_entry_align =
    std::min<std::size_t>(64, std::bit_ceil(sizeof(std::atomic<std::uint64_t>) + sizeof(Payload)));

template <class Payload>
struct alignas(word_entry_align<Payload>) word_entry {
  std::atomic<std::uint64_t> word{0};  // 0 = empty
  Payload payload{};
};

template <class Payload, bool Keyed = false, class Contention = no_stats>
class word_table {
 public:
  using entry = word_entry<Payload>;
  static constexpr std::size_t probe_limit = 256;
  static constexpr std::uint64_t busy_bit = std::uint64_t{1} << 63;
  static constexpr std::uint64_t dead_word = ~std::uint64_t{0};
  static constexpr std::uint64_t max_keyed_word = (std::uint64_t{1} << 63) - 2;

  // `entries`: a power of two ≥ 2 (the caller validates and names its option).
  explicit word_table(std::size_t entries) : mask_(entries - 1), entries_(std::make_unique<entry[]>(entries)) {}

  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }
  [[nodiscard]] entry& zero_entry() noexcept { return zero_.value; }
  [[nodiscard]] const entry& zero_entry() const noexcept { return zero_.value; }
  [[nodiscard]] entry& at(std::size_t i) noexcept { return entries_[i]; }
  [[nodiscard]] const entry& at(std::size_t i) const noexcept { return entries_[i]; }

  // A keyed word from any 64-bit hash: in [1, max_keyed_word].
  [[nodiscard]] static constexpr std::uint64_t keyed_word(std::uint64_t h) noexcept {
    const std::uint64_t w = h >> 1;
    return w == 0 ? 1 : (w > max_keyed_word ? max_keyed_word : w);
  }

  // --- exact words (w != 0) -------------------------------------------------
  [[nodiscard]] entry* find_or_insert(std::uint64_t w) noexcept
    requires(!Keyed)
  {
    std::size_t i = w & mask_;
    const std::size_t limit = std::min(probe_limit, mask_ + 1);
    for (std::size_t n = 0; n < limit; ++n, i = (i + 1) & mask_) {
      entry& e = entries_[i];
      // Relaxed: the word is the whole key; nothing else is published with it.
      std::uint64_t seen = e.word.load(std::memory_order_relaxed);
      if (seen == w) return &e;
      if (seen == 0) {
        schedule_point<Contention>();
        if (e.word.compare_exchange_strong(seen, w, std::memory_order_relaxed, std::memory_order_relaxed)) return &e;
        Contention::cas_failure();
        if (seen == w) return &e;  // the same key, inserted by another thread
      }
    }
    return nullptr;
  }
  [[nodiscard]] const entry* find(std::uint64_t w) const noexcept
    requires(!Keyed)
  {
    std::size_t i = w & mask_;
    const std::size_t limit = std::min(probe_limit, mask_ + 1);
    for (std::size_t n = 0; n < limit; ++n, i = (i + 1) & mask_) {
      // Relaxed: as in find_or_insert.
      const std::uint64_t seen = entries_[i].word.load(std::memory_order_relaxed);
      if (seen == w) return &entries_[i];
      if (seen == 0) return nullptr;
    }
    return nullptr;
  }

  // --- keyed words (w in [1, max_keyed_word]) --------------------------------
  // eq(const Payload&) → bool: the stored key equals the looked-up one.
  template <class Eq>
    requires Keyed
  [[nodiscard]] const entry* find(std::uint64_t w, Eq&& eq) const {
    std::size_t i = w & mask_;
    const std::size_t limit = std::min(probe_limit, mask_ + 1);
    for (std::size_t n = 0; n < limit; ++n, i = (i + 1) & mask_) {
      const std::uint64_t seen = settled(entries_[i], w);
      if (seen == w && eq(entries_[i].payload)) return &entries_[i];
      if (seen == 0) return nullptr;
    }
    return nullptr;
  }
  // init(Payload&) writes the key into a freshly claimed entry; if it throws,
  // the entry is marked dead (never matched, never reused) and the exception
  // propagates.
  template <class Eq, class Init>
    requires Keyed
  [[nodiscard]] entry* find_or_insert(std::uint64_t w, Eq&& eq, Init&& init) {
    std::size_t i = w & mask_;
    const std::size_t limit = std::min(probe_limit, mask_ + 1);
    for (std::size_t n = 0; n < limit; ++n, i = (i + 1) & mask_) {
      entry& e = entries_[i];
      std::uint64_t seen = settled(e, w);
      if (seen == 0) {
        schedule_point<Contention>();
        // (K2) acquire on failure: the word seen may be a published w whose key
        // eq() then reads (success publishes nothing; the key goes out by (K1);
        // acquire there only because the failure order may not be stronger).
        if (e.word.compare_exchange_strong(seen, w | busy_bit, std::memory_order_acquire, std::memory_order_acquire)) {
          try {
            init(e.payload);
          } catch (...) {
            e.word.store(dead_word, std::memory_order_release);  // (K1) as below; waiters move on
            throw;
          }
          schedule_point<Contention>();
          e.word.store(w, std::memory_order_release);  // (K1) release: the key, to (K2)
          return &e;
        }
        Contention::cas_failure();
        if (seen == (w | busy_bit)) seen = settled(e, w);
      }
      if (seen == w && eq(e.payload)) return &e;
    }
    return nullptr;
  }

  // f(word, entry&) for every claimed entry of the array (keyed tables skip
  // busy and dead entries); the zero entry is the caller's to visit. Keyed
  // words are loaded with (K2) acquire, exact ones relaxed.
  template <class F>
  void for_each_entry(F&& f) const {
    for (std::size_t i = 0; i <= mask_; ++i) {
      const std::uint64_t w = entries_[i].word.load(Keyed ? std::memory_order_acquire : std::memory_order_relaxed);
      if (w == 0 || (Keyed && (w & busy_bit) != 0)) continue;
      f(w, entries_[i]);
    }
  }
  template <class F>
  void for_each_entry(F&& f) {
    for (std::size_t i = 0; i <= mask_; ++i) {
      const std::uint64_t w = entries_[i].word.load(Keyed ? std::memory_order_acquire : std::memory_order_relaxed);
      if (w == 0 || (Keyed && (w & busy_bit) != 0)) continue;
      f(w, entries_[i]);
    }
  }

  // Entries claimed in the array (a keyed table's busy and dead ones included): a relaxed scan.
  [[nodiscard]] std::size_t size() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i <= mask_; ++i) n += entries_[i].word.load(std::memory_order_relaxed) != 0 ? 1 : 0;
    return n;
  }

  // Empties every word (array and zero entry); payloads are the caller's.
  void unsafe_clear() noexcept {
    for (std::size_t i = 0; i <= mask_; ++i) entries_[i].word.store(0, std::memory_order_relaxed);
    zero_.value.word.store(0, std::memory_order_relaxed);
  }

 private:
  // The entry's word once no claim of word w is in progress on it.
  static std::uint64_t settled(const entry& e, std::uint64_t w) noexcept {
    std::uint64_t seen = e.word.load(std::memory_order_acquire);  // (K2) acquire: pairs with (K1)
    if (seen != (w | busy_bit)) return seen;
    backoff wait;
    while ((seen = e.word.load(std::memory_order_acquire)) == (w | busy_bit)) wait();  // (K2)
    return seen;
  }

  std::size_t mask_;
  std::unique_ptr<entry[]> entries_;
  padded<entry> zero_;
};

}  // namespace hotshard::detail
