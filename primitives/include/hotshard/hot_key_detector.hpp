// hotshard/hot_key_detector.hpp — which keys carry at least a share φ of the
// recent traffic, answered cheaply on the request path.
//
// Algorithm: a Count-Min sketch (count_min_sketch.hpp, plain update) whose
// counters are halved at the end of every epoch, as TinyLFU ages its sketch
// (Einziger, Friedman & Manes, ACM ToS 13(4), 2017, doi:10.1145/3149371),
// so a key's estimate is its exponentially decayed count: each past epoch
// weighs half the next. The decayed traffic D is kept the same way (D/2 at
// each epoch end, + every observation). A key is hot when its decayed count is
// ≥ max(min_count, φ·D), i.e. when its share of the decayed recent traffic is
// ≥ φ. Hot keys are stamped with the current epoch in a small lock-free table
// (detail/sketch_support.hpp), so is_hot() is a probe of that table and never
// reads the sketch. At an epoch end the keys still above the bar after the
// halving are carried over; the others stop being reported.
//
// Epochs: every `window` observations (counted by a striped ticker; with one
// thread and window a multiple of 64, exactly at the window-th; with T
// threads up to 16 × 64 late), and whenever advance_epoch() is called — so a
// time-based window is a timer that calls advance_epoch() with window = 0, and
// a test drives epochs deterministically by counting its own observations.
//
// What a stable key gets (steady state, windows of W, key share s):
//  * s ≥ φ (+ sketch error): reported continuously, except for at most one
//    observation of it just after an epoch end that raced with its stamping.
//  * s < φ: not reported once its decayed count falls below φ·D.
// After the hot set moves: a new key with share s' > φ is reported within
// φ·W/(s' − φ) observations of the move plus one window (its count must reach
// φ·D ≈ φ·W; D ≈ W in steady state); a key whose traffic stops is dropped at
// the end of epoch k, where k is the smallest with s/2^k < φ, i.e. within
// ⌈log2(s/φ)⌉ + 1 windows. (tests/sketches/test_hot_key_detector.cpp checks
// both on a shifted Zipf stream.)
//
// Keys must be trivially copyable and at most 8 bytes (the table stores keys).
//
// Progress guarantees:
//  * observe(): wait-free (plain sketch add, a ticker tick, a bounded table
//    probe with single CAS attempts), except the observation that ends an epoch,
//    which runs advance_epoch() inline.
//  * is_hot(): wait-free (≤ 16 probes, one load of the epoch).
//  * hot_keys(): wait-free per slot, allocates.
//  * advance_epoch(): lock-free (sketch halving); if another advance is under
//    way it returns false at once and does nothing (that epoch end is merged
//    into the one running).
//
// What a concurrent reader may see: is_hot() answers for the epoch it loads;
// a key being stamped or carried over while it runs may read as not hot once.
// The sketch is approximate (count ≤ true decayed count + εD w.p. ≥ 1 − δ,
// never below it except for observations racing a halving — see
// count_min_sketch.hpp), so a key just under φ may be reported.
//
// Memory ordering: counts, D and stamps are relaxed except: advance_epoch()
// stamps the carried-over keys, then stores the new epoch with release (1);
// is_hot()/hot_keys() load the epoch with acquire (2), so a reader that sees
// the new epoch sees the carried stamps. The advancing flag is taken with an
// acquire exchange (3) and dropped with a release store (4), so consecutive
// epoch ends see each other's D and halving.
//
// Memory: the sketch (8 × ⌈e/ε⌉ × ⌈ln 1/δ⌉) + 16 × table slots (default 4/φ,
// rounded up to a power of two) + ~1.2 KiB.
#pragma once

#include <hotshard/count_min_sketch.hpp>
#include <hotshard/detail/sketch_support.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

namespace hotshard {

struct hot_key_detector_options {
  double hot_share = 0.01;            // φ
  std::uint64_t window = 1 << 16;     // observations per epoch; 0 = only advance_epoch()
  std::uint64_t min_count = 8;        // decayed count a key needs before it can be hot
  double epsilon = 0.0005;            // sketch error (keep ε well below φ)
  double delta = 0.01;
  std::size_t table_slots = 0;        // 0 = 4/φ
  std::uint64_t seed = 0x243f6a8885a308d3ULL;
};

template <class Key, class Hash = std::hash<Key>, class Stats = detail::no_stats>
class hot_key_detector {
  static_assert(detail::word_key<Key>, "hot_key_detector: Key must be trivially copyable and at most 8 bytes");

 public:
  using key_type = Key;

  explicit hot_key_detector(hot_key_detector_options opt = {})
      : opt_(validated(opt)),
        sketch_(opt_.epsilon, opt_.delta, count_min_options{update_policy::plain, opt_.seed, 0}),
        table_(opt_.table_slots != 0 ? opt_.table_slots : static_cast<std::size_t>(std::ceil(4.0 / opt_.hot_share))) {}

  // Counts one request for `key`; returns whether the key is hot now.
  bool observe(const Key& key, std::uint64_t weight = 1) noexcept {
    if (weight == 0) return is_hot(key);
    const std::uint64_t h = sketch_type::hash_of(key);
    const std::uint64_t est = sketch_.add_hashed(h, weight);
    const auto tick = ticker_.tick(weight);
    if (opt_.window != 0 && tick.crossed(opt_.window)) [[unlikely]] (void)advance_epoch();
    if (est < opt_.min_count || est < threshold()) return false;
    const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);  // (2) pairs with (1)
    auto* s = table_.touch(detail::key_to_word(key), h,
                           [epoch](std::uint64_t, std::uint64_t stamp) noexcept { return stamp < epoch; });
    if (s == nullptr) return false;  // table window full of hot keys: answer for this observation only
    stamp_at_least(*s, epoch);
    return true;
  }

  // Cheap: a probe of the hot table, no sketch read.
  [[nodiscard]] bool is_hot(const Key& key) const noexcept {
    const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);  // (2) pairs with (1)
    const auto* s = table_.find(detail::key_to_word(key), sketch_type::hash_of(key));
    return s != nullptr && s->stamp.load(std::memory_order_relaxed) >= epoch;  // stamps: see (1)
  }

  [[nodiscard]] std::vector<Key> hot_keys() const {
    const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);  // (2) pairs with (1)
    std::vector<std::uint64_t> words;
    table_.for_each([&](std::uint64_t w, std::uint64_t stamp) {
      if (stamp >= epoch) words.push_back(w);
    });
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    std::vector<Key> out;
    out.reserve(words.size());
    for (const std::uint64_t w : words) out.push_back(detail::word_to_key<Key>(w));
    return out;
  }

  // Ends the current epoch: halves the sketch and D, keeps the keys still
  // above the bar. Returns false (doing nothing) if another call is under way.
  bool advance_epoch() noexcept {
    if (advancing_.exchange(true, std::memory_order_acquire)) return false;  // (3) pairs with (4)
    const auto pub = static_cast<std::int64_t>(ticker_.published());
    const std::int64_t d_end = pub + offset_.load(std::memory_order_relaxed);  // D: counts only
    sketch_.halve();
    const std::int64_t d_base = d_end / 2;
    offset_.store(d_base - pub, std::memory_order_relaxed);  // D: counts only
    const std::uint64_t e = epoch_.load(std::memory_order_relaxed);  // only advance_epoch writes it
    const std::uint64_t bar = bar_for(static_cast<std::uint64_t>(d_base));
    table_.for_each_slot([&](std::uint64_t w, detail::candidate_table::slot& s) {
      if (s.stamp.load(std::memory_order_relaxed) < e) return;  // stamps: see (1)
      if (sketch_.estimate(detail::word_to_key<Key>(w)) >= bar) stamp_at_least(s, e + 1);
    });
    epoch_.store(e + 1, std::memory_order_release);      // (1) release: pairs with (2)
    advancing_.store(false, std::memory_order_release);  // (4) pairs with (3)
    return true;
  }

  // The key's decayed count (an estimate, ≥ the true decayed count).
  [[nodiscard]] std::uint64_t estimate(const Key& key) const noexcept { return sketch_.estimate(key); }
  // D: the decayed traffic (lags by < 16 × 64 observations).
  [[nodiscard]] std::uint64_t recent_traffic() const noexcept {
    const std::int64_t d =
        static_cast<std::int64_t>(ticker_.published()) + offset_.load(std::memory_order_relaxed);  // counts only
    return d > 0 ? static_cast<std::uint64_t>(d) : 0;
  }
  // The decayed count a key needs now to be hot.
  [[nodiscard]] std::uint64_t threshold() const noexcept { return bar_for(recent_traffic()); }
  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }  // (2)
  [[nodiscard]] const hot_key_detector_options& options() const noexcept { return opt_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) - sizeof(sketch_) - sizeof(table_) + sketch_.memory_bytes() + table_.memory_bytes();
  }

 private:
  using sketch_type = count_min_sketch<Key, Hash, Stats>;

  static hot_key_detector_options validated(hot_key_detector_options o) {
    if (!(o.hot_share > 0 && o.hot_share <= 1))
      throw std::invalid_argument("hot_key_detector: hot_share must be in (0, 1]");
    return o;
  }

  [[nodiscard]] std::uint64_t bar_for(std::uint64_t d) const noexcept {
    const auto share = static_cast<std::uint64_t>(std::ceil(opt_.hot_share * static_cast<double>(d)));
    return std::max(opt_.min_count, share);
  }

  static void stamp_at_least(detail::candidate_table::slot& s, std::uint64_t epoch) noexcept {
    std::uint64_t cur = s.stamp.load(std::memory_order_relaxed);  // stamps: see (1)
    // Only raise: a late observer must not pull a carried-over key back to an old epoch.
    while (cur < epoch &&
           !s.stamp.compare_exchange_weak(cur, epoch, std::memory_order_relaxed, std::memory_order_relaxed)) {
    }
  }

  hot_key_detector_options opt_;
  sketch_type sketch_;
  mutable detail::candidate_table table_;
  detail::sketch_ticker ticker_;
  std::atomic<std::int64_t> offset_{0};  // D = ticker_.published() + offset_
  std::atomic<std::uint64_t> epoch_{1};  // 0 = the stamp of a never-stamped slot
  std::atomic<bool> advancing_{false};
};

}  // namespace hotshard
