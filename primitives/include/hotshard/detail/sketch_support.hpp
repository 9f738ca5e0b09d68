// hotshard/detail/sketch_support.hpp — internals shared by the sketches
// family (count_min_sketch, heavy_hitters, hot_key_detector).
//
// * `sketch_ticker` counts operations without a single shared hot word: each
//   thread adds to a stripe picked by its probe (detail/thread_slots.hpp) and
//   publishes whole batches of `batch` to one shared total. A window of W
//   operations ("every W additions") is then a crossing of a multiple of W by
//   the published total, which exactly one caller observes (it is the result
//   of one fetch_add). The published total lags the true count by less than
//   stripes × batch; with one thread and W a multiple of batch it is exact at
//   every crossing.
// * `hotshard::sketch_options` is the ε/δ/seed block of every sketch's options.
// * `sketch_width_for`, `sketch_depth_for`, `checked_sketch_counters` size a
//   Count-Min table from (ε, δ) or explicit dimensions, rejecting (with
//   std::invalid_argument naming the parameter) ε outside (0, 1) or so small
//   that ⌈e/ε⌉ does not fit, δ outside (0, 1), a zero dimension, and
//   width × depth counters whose byte size overflows. Every sketch sizes its
//   table through them.
//
// Stored keys (key_readers): a reader's scope increments the count (K1, an
// seq_cst RMW) and then issues a seq_cst fence (K1) before it loads any
// pointer to a stored key; its exit decrements the count with release (K2).
// A retirer unlinks a node (stores another pointer, or publishes a purge that
// drops it), then quiescent() issues a seq_cst fence and loads the count
// with acquire (K3). The two fences make the store-buffer pair safe: either
// the retirer sees the reader's increment (and keeps the node), or the
// reader's later pointer loads see the unlink (and never reach the node);
// a count of 0 read from a decrement (K2) makes that reader's dereferences
// happen-before the free.
//
// Progress: sketch_ticker::tick is wait-free (one fetch_add, a second one per
// batch).
//
// * Keys (issue 16). `word_key<Key>` (trivially copyable, ≤ 8 bytes) keys
//   are stored as their own bits in a 64-bit word (the fast path). Any other
//   hashable key (concepts::hashable_key, keys.hpp) is stored as a
//   `stored_key` node — an immutable heap copy of the key beside its word
//   mix64(Hash(key)) — that readers may dereference while the writers have
//   already unlinked it. `key_readers` is the reclamation for those nodes:
//   a query that dereferences stored keys holds a `key_readers::scope` (one
//   RMW of the instance's reader count on entry and exit: on queries only,
//   never on add/observe), and a node unlinked from every place a reader
//   could newly find it is freed only when `quiescent()` sees no scope open
//   after the unlink; until then it waits on a retired list.
//   `lookup_key<K, Key, Hash>` is the heterogeneous lookup rule: with a
//   transparent Hash (policy::hash<std::string>), a K ≠ Key that Hash accepts,
//   that compares with Key and that a Key can be built from (e.g.
//   std::string_view for std::string) is accepted; a Key is built from it
//   only where the key is stored.
//
// Memory ordering: ticker counts are relaxed (they order nothing; a window
// crossing is decided by the value returned by one fetch_add). A table word is
// claimed by a CAS (acq_rel) and read with acquire; the key is the whole word,
// so nothing else is published with it. Stamps are relaxed and advisory: a
// reader may see a newly claimed key with its slot's previous stamp; each
// caller states what that means for it.
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/checked_size.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/thread_slots.hpp>
#include <hotshard/keys.hpp>

#include <atomic>
#include <algorithm>
#include <concepts>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

namespace hotshard {

// The accuracy and hashing block every sketch's options share (issue 16):
// count_min_sketch_options, buffered_count_min_sketch_options (through its
// count_min block), heavy_hitters_options and hot_key_detector_options each
// hold one as `.sketch`, e.g. {.sketch = {.epsilon = 0.001, .seed = 7}}. An
// unset field takes that sketch's default (stated in its options); a set one
// is checked by the sketch: std::invalid_argument naming the field, never a
// clamp.
struct sketch_options {
  std::optional<double> epsilon{};      // additive error bound εN (N = total count); in (0, 1)
  std::optional<double> delta{};        // the bound fails with probability ≤ δ; in (0, 1)
  std::optional<std::uint64_t> seed{};  // hashing seed; unset = random per instance (hash flooding)
};

}  // namespace hotshard

namespace hotshard::detail {

// The widest row a sketch accepts: far beyond any memory (2^48 counters of 8
// bytes is 2 PiB per row), small enough that ⌈e/ε⌉ is computed exactly in a
// double and converted to size_t without undefined behaviour.
inline constexpr std::size_t max_sketch_width = std::size_t{1} << 48;

// width = ⌈e/ε⌉ for 0 < ε < 1.
[[nodiscard]] inline std::size_t sketch_width_for(double epsilon, const char* who) {
  if (!(epsilon > 0 && epsilon < 1)) throw_bad_option(who, "epsilon", "must be in (0, 1)");
  const double w = std::ceil(std::exp(1.0) / epsilon);
  if (!(w <= static_cast<double>(max_sketch_width)))
    throw_bad_option(who, "epsilon", "is too small: the width e/epsilon does not fit");
  return static_cast<std::size_t>(w);
}

// depth = max(1, ⌈ln(1/δ)⌉) for 0 < δ < 1 (at most 745, at the smallest double).
[[nodiscard]] inline std::size_t sketch_depth_for(double delta, const char* who) {
  if (!(delta > 0 && delta < 1)) throw_bad_option(who, "delta", "must be in (0, 1)");
  const double d = std::ceil(-std::log(delta));
  return d < 1 ? 1 : static_cast<std::size_t>(d);
}

// The gaps between kept units when each unit is kept independently with
// probability 1/every: geometric on {1, 2, ...} with mean `every`. One
// owner; a PCG-style LCG step, mixed, per 64 random bits.
//  * every = 2^k, 1 ≤ k ≤ 6 (the sampled detectors' automatic rates): exact
//    and without a logarithm. A trial is k fresh random bits, kept iff all are
//    0, so one 64-bit draw holds ⌊64/k⌋ trials; the gap is the index of the
//    first kept trial (OR-folding each k-bit group onto its lowest bit, then
//    a count of trailing zeros), plus ⌊64/k⌋ per draw without one.
//  * any other every: inversion, 1 + ⌊ln U / ln(1 − 1/every)⌋ with U
//    uniform on (0, 1] (53 bits).
// Why: the logarithm of the inversion was 7% of a sampled detector's
// observe() at 2 threads.
class geometric_gaps {
 public:
  // every ≥ 1 (1: every gap is 1).
  geometric_gaps(std::uint64_t every, std::uint64_t seed) noexcept
      : state_(seed), every_(every == 0 ? 1 : every) {
    const bool pow2 = std::has_single_bit(every_);
    k_ = pow2 ? static_cast<unsigned>(std::countr_zero(every_)) : 0;
    if (pow2 && k_ >= 1 && k_ <= 6) {
      per_draw_ = 64 / k_;
      for (unsigned i = 0; i < per_draw_; ++i) starts_ |= std::uint64_t{1} << (i * k_);
    } else {
      k_ = 0;
      inv_log_keep_ = every_ == 1 ? 0 : 1.0 / std::log1p(-1.0 / static_cast<double>(every_));
    }
  }

  std::uint64_t next() noexcept {
    if (k_ != 0) {
      for (std::uint64_t g = 0;; g += per_draw_) {
        const std::uint64_t x = draw();
        std::uint64_t y = x;  // bit i·k of y: the OR of trial i's k bits
        for (unsigned j = 1; j < k_; ++j) y |= x >> j;
        if (const std::uint64_t kept = ~y & starts_; kept != 0)
          return g + static_cast<unsigned>(std::countr_zero(kept)) / k_ + 1;
      }
    }
    if (every_ == 1) return 1;
    const double u = static_cast<double>((draw() >> 11) + 1) * 0x1.0p-53;  // (0, 1]
    const double g = std::floor(std::log(u) * inv_log_keep_);
    return 1 + (g < 1e18 ? static_cast<std::uint64_t>(g) : std::uint64_t{1} << 60);
  }

 private:
  std::uint64_t draw() noexcept {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;  // PCG's LCG step; mixed below
    return mix64(state_);
  }

  std::uint64_t state_;
  std::uint64_t every_;
  unsigned k_ = 0;             // log2(every) when drawn by trials, else 0
  unsigned per_draw_ = 0;      // trials per 64-bit draw
  std::uint64_t starts_ = 0;   // bit i·k for each whole trial i of a draw
  double inv_log_keep_ = 0;    // 1 / ln(1 − 1/every), inversion only
};

// width × depth, checked: both ≥ 1 and the table of `counter_bytes`-byte
// counters must not overflow a size_t byte count.
[[nodiscard]] constexpr std::size_t checked_sketch_counters(std::size_t width, std::size_t depth,
                                                            std::size_t counter_bytes, const char* who) {
  if (width == 0) throw_bad_option(who, "width", "must be >= 1");
  if (depth == 0) throw_bad_option(who, "depth", "must be >= 1");
  if (width > max_sketch_width) throw_bad_option(who, "width", "is too large");
  return checked_array_count(width, depth, counter_bytes, who, "width x depth");
}

class sketch_ticker {
 public:
  static constexpr std::size_t stripes = 16;

  explicit sketch_ticker(std::uint64_t batch = 64) noexcept : batch_(batch == 0 ? 1 : batch) {}

  // The largest power-of-two batch ≤ 64 that divides w (1 for odd w; 64 for
  // w = 0): with it, one thread's published total reaches every multiple of w
  // exactly at the w-th tick.
  [[nodiscard]] static constexpr std::uint64_t batch_for_window(std::uint64_t w) noexcept {
    return w == 0 ? 64 : std::min<std::uint64_t>(64, w & (~w + 1));
  }

  // The published total before and after one tick (equal: nothing published).
  struct tick_result {
    std::uint64_t before = 0;
    std::uint64_t after = 0;
    std::uint64_t stripe_before = 0;  // the stripe's count before this tick
    std::uint64_t batch = 1;
    // Did this tick carry the published total past a multiple of w (w > 0)?
    [[nodiscard]] bool crossed(std::uint64_t w) const noexcept { return after / w != before / w; }
    // How many multiples of w (w > 0) it carried the published total past.
    [[nodiscard]] std::uint64_t crossings(std::uint64_t w) const noexcept { return after / w - before / w; }
    // For a published value t with before < t ≤ after: how many of this
    // tick's n operations came before the batch that published t, i.e. the
    // operation count of this tick at which the total reached t.
    [[nodiscard]] std::uint64_t ops_until(std::uint64_t t) const noexcept {
      const std::uint64_t j = (t - before + batch - 1) / batch;  // the j-th batch of this tick (1-based)
      return (stripe_before / batch + j) * batch - stripe_before;
    }
  };

  // Counts n operations.
  tick_result tick(std::uint64_t n = 1) noexcept {
    auto& s = *stripes_[thread_probe() & (stripes - 1)];
    const std::uint64_t before = s.fetch_add(n, std::memory_order_relaxed);  // counts only
    const std::uint64_t batches = (before + n) / batch_ - before / batch_;
    if (batches == 0) return {0, 0, before, batch_};
    const std::uint64_t pub = batches * batch_;
    const std::uint64_t old = published_->fetch_add(pub, std::memory_order_relaxed);  // counts only
    return {old, old + pub, before, batch_};
  }

  // Whole batches published so far: ≤ the true count, lagging by < stripes × batch.
  [[nodiscard]] std::uint64_t published() const noexcept {
    return published_->load(std::memory_order_relaxed);  // counts only
  }

  // Every tick so far: exact once the tickers' threads are joined.
  [[nodiscard]] std::uint64_t count() const noexcept {
    std::uint64_t sum = 0;
    for (const auto& s : stripes_) sum += s->load(std::memory_order_relaxed);  // counts only
    return sum;
  }

  [[nodiscard]] std::uint64_t batch() const noexcept { return batch_; }

 private:
  std::uint64_t batch_;
  padded<std::atomic<std::uint64_t>> stripes_[stripes];
  padded<std::atomic<std::uint64_t>> published_;
};

// Keys that fit a 64-bit word, stored by value (the summaries hold keys,
// not hashes, so hot_keys()/top() can name them).
template <class Key>
inline constexpr bool word_key = std::is_trivially_copyable_v<Key> && sizeof(Key) <= sizeof(std::uint64_t);

template <class Key>
[[nodiscard]] inline std::uint64_t key_to_word(const Key& key) noexcept {
  static_assert(word_key<Key>);
  std::uint64_t w = 0;
  std::memcpy(&w, &key, sizeof(Key));
  return w;
}

template <class Key>
[[nodiscard]] inline Key word_to_key(std::uint64_t w) noexcept {
  static_assert(word_key<Key>);
  Key key;
  std::memcpy(&key, &w, sizeof(Key));
  return key;
}

// A key that is not a word key, stored once beside its 64-bit word
// (mix64(Hash(key))). Immutable after construction; freed through key_readers.
template <class Key>
struct stored_key {
  template <class K>
  stored_key(std::uint64_t w, const K& k) : word(w), key(k) {}
  std::uint64_t word;
  Key key;
  stored_key* next_retired = nullptr;  // the retired list's link (owned by the retirer)
};

class key_readers {
 public:
  class scope {
   public:
    explicit scope(const key_readers& r) noexcept : r_(r) {
      r_.count_.fetch_add(1, std::memory_order_seq_cst);    // (K1)
      std::atomic_thread_fence(std::memory_order_seq_cst);  // (K1) pairs with (K3)
    }
    ~scope() { r_.count_.fetch_sub(1, std::memory_order_release); }  // (K2) pairs with (K3)
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    const key_readers& r_;
  };

  // After an unlink: true when no reader that could hold an unlinked node is
  // inside a scope (the caller may free what it unlinked before the call).
  [[nodiscard]] bool quiescent() const noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // (K3) pairs with (K1)
    return count_.load(std::memory_order_acquire) == 0;   // (K3) pairs with (K2)
  }

 private:
  mutable std::atomic<std::uint64_t> count_{0};
};

// A lock-free list of retired stored keys, freed when the readers are
// quiescent (any thread may retire; whoever retires tries to free).
template <class Key>
class retired_keys {
 public:
  retired_keys() = default;
  retired_keys(const retired_keys&) = delete;
  retired_keys& operator=(const retired_keys&) = delete;
  ~retired_keys() { free_list(head_.load(std::memory_order_acquire)); }

  // n was unlinked (with a seq_cst RMW or store) before this call.
  void retire(stored_key<Key>* n, const key_readers& readers) noexcept {
    push(n, n);
    stored_key<Key>* list = head_.exchange(nullptr, std::memory_order_acquire);  // pairs with push's release
    if (list == nullptr) return;
    if (readers.quiescent()) {
      free_list(list);
      return;
    }
    stored_key<Key>* tail = list;
    while (tail->next_retired != nullptr) tail = tail->next_retired;
    push(list, tail);  // a reader is inside: keep them for the next retire (or the destructor)
  }

 private:
  void push(stored_key<Key>* first, stored_key<Key>* last) noexcept {
    last->next_retired = head_.load(std::memory_order_relaxed);
    // release: the unlinks before this push happen-before the exchange that takes the list.
    while (!head_.compare_exchange_weak(last->next_retired, first, std::memory_order_release,
                                        std::memory_order_relaxed)) {
    }
  }
  static void free_list(stored_key<Key>* n) noexcept {
    while (n != nullptr) {
      stored_key<Key>* next = n->next_retired;
      delete n;
      n = next;
    }
  }
  std::atomic<stored_key<Key>*> head_{nullptr};
};

template <class Hash>
concept transparent_hash = requires { typename Hash::is_transparent; };

// A heterogeneous lookup key (see the header): never Key itself, never a hashed_key.
template <class K, class Key, class Hash>
concept lookup_key = transparent_hash<Hash> && !std::same_as<std::remove_cvref_t<K>, Key> &&
                     !is_hashed_key<std::remove_cvref_t<K>> && std::constructible_from<Key, const K&> &&
                     requires(const Hash& h, const K& k, const Key& key) {
                       { h(k) } -> std::convertible_to<std::size_t>;
                       { key == k } -> std::convertible_to<bool>;
                     };

}  // namespace hotshard::detail
