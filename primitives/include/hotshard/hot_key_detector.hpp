// hotshard/hot_key_detector.hpp — which keys carry at least a share φ of the
// recent traffic, answered cheaply on the request path.
//
// Algorithm: a Count-Min sketch (count_min_sketch.hpp, plain update) whose
// counters are halved at the end of every epoch, as TinyLFU ages its sketch
// (Einziger, Friedman & Manes, ACM ToS 13(4), 2017, doi:10.1145/3149371),
// so a key's estimate is its exponentially decayed count: each past epoch
// weighs half the next. The decayed traffic D is kept the same way (D/2 at
// each epoch end, + every counted unit). A key is hot when its decayed count
// is ≥ max(min_count, φ·D). Hot keys are stamped with the current epoch in a
// small lock-free table (detail/hot_key_table.hpp), so is_hot() is a probe of
// that table and never reads the sketch. At an epoch end the keys still above
// the bar after the halving are carried over; the others stop being reported.
//
// Sampling in front (why: every request passes observe(), and a shared sketch
// updated by every request makes the hottest keys' counters bounce between
// cores — the hot-key problem inside the detector, issue 19). Each thread
// keeps every unit of weight independently with probability p = 1/sample_every
// (a per-thread geometric countdown, so a skipped observation is a decrement
// and a table probe, touching no shared written line), and a kept unit counts
// sample_every in the sketch and in D. A threshold on a share is what
// sampling preserves (Manku & Motwani, "Approximate frequency counts over data
// streams", VLDB 2002, §3 "sticky sampling"; Gibbons & Matias, "New
// sampling-based summary statistics", SIGMOD 1998): counts stay unbiased and
// their relative error shrinks as 1/√(samples). The default sample_every (0 =
// auto) is the largest power of two ≤ min(16, φ·W/64), so a key at share φ
// gets ≥ 64 samples per window; windowless detectors (W = 0) and small φ·W
// get 1 (no sampling: the deterministic statements hold exactly).
//
// Epochs: every `window` counted units (a striped ticker; with one thread and
// no sampling, exactly at the window-th when window is a multiple of 64; with
// T threads up to 16 × 64 late; with sampling the count is the sampled
// estimate, ± √(W·sample_every) typically), and whenever advance_epoch() is
// called — so a time-based window is a timer that calls advance_epoch() with
// window = 0. No window's end is dropped: when k windows come due while one
// epoch end runs (a preempted thread), the next epoch end advances the epoch
// by k with one halving (so those k windows weigh as one; halving k times
// would decay traffic that has just arrived).
//
// What a stable key gets (steady state, windows of W, key share s), for the
// counted traffic (= the true traffic when sample_every = 1):
//  * s ≥ φ (+ sketch error): reported continuously, except for at most one
//    observation of it just after an epoch end that raced with its stamping.
//  * s < φ: not reported once its decayed count falls below φ·D.
// After the hot set moves: a new key with share s' > φ is reported within
// φ·W/(s' − φ) observations of the move plus one window; a key whose traffic
// stops is dropped within ⌈log2(s/φ)⌉ + 1 windows.
// With sampling (p = 1/sample_every), a count c of true units is counted as
// ĉ with E[ĉ] = c, and by the multiplicative Chernoff bound
// P(ĉ < (1 − γ)c) ≤ exp(−γ²·p·c/2), P(ĉ > (1 + γ)c) ≤ exp(−γ²·p·c/(2 + γ)).
// So each statement above holds for the true traffic with s' replaced by
// (1 − γ)s' (and D by (1 + γ)D), and φ by the lowered bar share (1 − γ_bar)φ
// of "Sampling and the bar" below (so the drop takes up to one window more),
// failing with at most those probabilities; sampled epoch ends drift by
// ± √(W·sample_every) units against a move;
// e.g. a key with share s' = 4φ is reported within 2W of a move except with
// probability ≤ exp(−p·s'·W/8) + exp(−p·W/12) (γ = 1/2 on its count, on D).
// tests/sketches/test_hot_key_detector.cpp (exact form) and
// test_detection_accuracy.cpp (sampled form) check both on fixed seeds.
// Sampling and the bar: so that sampling does not miss keys at share φ, the
// sampled detector compares with (1 − γ_bar)·φ·D, γ_bar = min(1/2, 4/√(p·φ·D)) —
// four standard deviations of the count of a key exactly at φ (p·φ·D is its
// expected number of samples). A key at share ≥ φ is then under the bar with
// probability ≤ exp(−8) (Chernoff, γ_bar² p φD / 2 = 8) per check. The price is
// reports of keys below φ: a key at share (1 − γ_bar)φ is reported about half the
// time, and one at share σ·φ < (1 − γ_bar)φ with probability ≤
// exp(−x²·p·σφD/(2 + x)), x = (1 − γ_bar)/σ − 1 (with the defaults γ_bar ≈ 0.36 in
// steady state; keys at φ/4 are then reported with probability < e^-20).
// Without sampling γ_bar = 0 and the bar is φ·D exactly.
// Also: a key needs a decayed count ≥ max(min_count, 8·sample_every), so one
// sample of a cold key never makes it hot.
//
// Keys must be trivially copyable and at most 8 bytes (the table stores keys).
//
// Progress guarantees:
//  * observe(): wait-free after the thread's first observe on this instance
//    (which allocates a sampler node, lock-free; none when sample_every = 1):
//    a countdown, or a plain sketch add, a ticker tick and a bounded table
//    claim — except an observation that carries the total past a window:
//    it runs every epoch end due inline (lock-free; also ends that another
//    thread's crossing made due while this one held the flag, so a crossing
//    is never dropped).
//  * is_hot(): wait-free (≤ 16 probes, one load of the epoch).
//  * hot_keys(): wait-free per slot, allocates.
//  * advance_epoch(): lock-free (sketch halving); if another advance is under
//    way it returns false at once and does nothing (that epoch end is merged
//    into the one running).
//
// What a concurrent reader may see: is_hot() answers for the epoch it loads;
// a key being stamped or carried over while it runs may read as not hot once.
// A key stamped hot in the current epoch is never evicted from the table in
// that epoch (the eviction claims the stamp first; see hot_key_table.hpp).
// estimate(): without sampling ≥ the true decayed count (except observations
// racing a halving — count_min_sketch.hpp) and ≤ it + εD w.p. ≥ 1 − δ; with
// sampling, an unbiased estimate with the error above.
//
// Memory ordering: counts, D and stamps are relaxed except: advance_epoch()
// stamps the carried-over keys, then stores the new epoch with release (1);
// is_hot()/hot_keys() load the epoch with acquire (2), so a reader that sees
// the new epoch sees the carried stamps. The advancing flag is taken with an
// acquire exchange (3) and dropped with a release store (4), so consecutive
// epoch ends see each other's D and halving. An epoch end stores D's offset
// with release (5); recent_traffic() loads it with acquire (6) before the
// published total, so D is never read below the halved traffic. A crossing
// that finds the flag taken and the holder dropping it are a store-buffer
// pair: seq_cst fences (7) on both sides make one of them see the other. Table words: hot_key_table.hpp;
// sampler nodes: detail/thread_summary.hpp (registry).
//
// Hash flooding: the sketch's rows, the table's placement and its key
// encoding derive from `seed`; by default a random per-instance seed.
//
// Memory: the sketch (8 × ⌈e/ε⌉ × ⌈ln 1/δ⌉) + 16 × table slots (default 4/φ,
// rounded up to a power of two) + ~1.2 KiB + 128 bytes per sampling thread.
#pragma once

#include <hotshard/count_min_sketch.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/hot_key_table.hpp>
#include <hotshard/detail/instance_seed.hpp>
#include <hotshard/detail/sketch_support.hpp>
#include <hotshard/detail/thread_summary.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace hotshard {

struct hot_key_detector_options {
  double hot_share = 0.01;              // φ, in (0, 1]
  std::uint64_t window = 1 << 16;       // units per epoch; 0 = only advance_epoch(); ≤ 2^62
  std::uint64_t min_count = 8;          // decayed count a key needs before it can be hot
  double epsilon = 0.0005;              // sketch error (keep ε well below φ); see count_min_sketch.hpp
  double delta = 0.01;
  std::size_t table_slots = 0;          // 0 = 4/φ; ≤ 2^32
  std::optional<std::uint64_t> seed{};  // unset = random per instance
  std::uint64_t sample_every = 0;       // 1/p; 0 = auto (see header); 1 = count every unit; ≤ 2^20
};

template <class Key, class Hash = std::hash<Key>, class Stats = detail::no_stats>
class hot_key_detector {
  static_assert(detail::word_key<Key>, "hot_key_detector: Key must be trivially copyable and at most 8 bytes");

 public:
  using key_type = Key;

  explicit hot_key_detector(hot_key_detector_options opt = {})
      : opt_(validated(opt)),
        seed_(detail::seed_or_random(opt_.seed)),
        salt_(detail::mix64(seed_ ^ 0x5bd1e9955bd1e995ULL)),
        sample_every_(opt_.sample_every != 0 ? opt_.sample_every : auto_sample_every(opt_)),
        min_count_(std::max(opt_.min_count, sample_every_ == 1 ? 0 : 8 * sample_every_)),
        inv_log_skip_(sample_every_ == 1 ? 0 : 1.0 / std::log1p(-1.0 / static_cast<double>(sample_every_))),
        sketch_(opt_.epsilon, opt_.delta, count_min_options{update_policy::plain, seed_, 0}),
        table_(opt_.table_slots != 0 ? opt_.table_slots : static_cast<std::size_t>(std::ceil(4.0 / opt_.hot_share)),
               salt_) {}

  // Counts one request for `key` (of `weight` units); returns whether the key is hot now.
  bool observe(const Key& key, std::uint64_t weight = 1) {
    if (weight == 0) return is_hot(key);
    if (sample_every_ != 1) {
      if (sampler* s = samplers_.local([this] { return new sampler(seed_, samplers_.nodes(), inv_log_skip_); })) {
        const std::uint64_t kept = s->keep(weight);
        if (kept == 0) [[likely]] return is_hot(key);
        weight = kept * sample_every_;
      }  // else: a late thread_local destructor; count it in full (unbiased too)
    }
    const std::uint64_t h = sketch_type::hash_of(key);
    const std::uint64_t est = sketch_.add_hashed(h, weight);
    const auto tick = ticker_.tick(weight);
    if (opt_.window != 0 && tick.crossed(opt_.window)) [[unlikely]] end_due_windows();
    if (est < threshold()) return false;
    const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);  // (2) pairs with (1)
    (void)table_.stamp(detail::key_to_word(key), table_hash(h), epoch);
    return true;  // hot by its count, even if the table window is full of hot keys
  }

  // Cheap: a probe of the hot table, no sketch read.
  [[nodiscard]] bool is_hot(const Key& key) const noexcept {
    const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);  // (2) pairs with (1)
    return table_.hot(detail::key_to_word(key), table_hash(sketch_type::hash_of(key)), epoch);
  }

  [[nodiscard]] std::vector<Key> hot_keys() const {
    const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);  // (2) pairs with (1)
    std::vector<std::uint64_t> words;
    table_.for_each([&](std::uint64_t w, std::uint64_t stamp) {
      if (stamp >= epoch && stamp != detail::hot_key_table::claiming) words.push_back(w);
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
    end_epoch_locked();
    advancing_.store(false, std::memory_order_release);  // (4) pairs with (3)
    return true;
  }

  // The key's decayed count (see "What a concurrent reader may see").
  [[nodiscard]] std::uint64_t estimate(const Key& key) const noexcept { return sketch_.estimate(key); }
  // D: the decayed traffic (lags by < 16 × 64 counted units).
  [[nodiscard]] std::uint64_t recent_traffic() const noexcept {
    // offset_ first, with acquire (6) pairing with its release store (5): a reader that sees an epoch
    // end's offset then reads a published total ≥ the one that epoch end read, so D is never below the
    // halved traffic. (Read the other way round, a reader preempted between the loads could add a stale
    // total to a newer offset and see D ≈ 0, a bar of min_count, and stamp a cold key hot.)
    const std::int64_t off = offset_.load(std::memory_order_acquire);  // (6) pairs with (5)
    const std::int64_t d = static_cast<std::int64_t>(ticker_.published()) + off;
    return d > 0 ? static_cast<std::uint64_t>(d) : 0;
  }

  // The decayed count a key needs now to be hot.
  [[nodiscard]] std::uint64_t threshold() const noexcept { return bar_for(recent_traffic()); }
  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }  // (2)
  [[nodiscard]] const hot_key_detector_options& options() const noexcept { return opt_; }
  [[nodiscard]] std::uint64_t sample_every() const noexcept { return sample_every_; }
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) - sizeof(sketch_) - sizeof(table_) + sketch_.memory_bytes() + table_.memory_bytes() +
           samplers_.nodes() * sizeof(sampler);
  }

 private:
  using sketch_type = count_min_sketch<Key, Hash, Stats>;

  // Runs the epoch ends the window ticker has made due, here or in the thread
  // already ending one: a crossing that finds an epoch end running is not
  // lost (before: it was dropped, so under preemption epochs fell far behind
  // the window and D grew without bound). The fences (7) make the store-buffer
  // pattern safe: a crosser publishes its tick, then tries the flag; the
  // holder drops the flag, then re-reads the total. At least one of them sees
  // the other's write.
  void end_due_windows() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // (7) pairs with (7) below
    for (;;) {
      if (advancing_.exchange(true, std::memory_order_acquire)) return;  // (3) pairs with (4); the holder re-checks
      const std::uint64_t due = ticker_.published() / opt_.window;
      const std::uint64_t done = windows_ended_.load(std::memory_order_relaxed);  // written under the flag only
      if (due > done) {
        // k windows due at once (the last epoch end was preempted or slow) end as one halving that
        // advances the epoch by k: halving k times would weigh the k windows' traffic, which is all
        // in the sketch and in D now, as if it were k windows old.
        end_epoch_locked(due - done);
        windows_ended_.store(due, std::memory_order_relaxed);  // under the flag; read as a hint below
      }
      advancing_.store(false, std::memory_order_release);   // (4) pairs with (3)
      std::atomic_thread_fence(std::memory_order_seq_cst);  // (7) pairs with (7) above
      if (windows_due_unlocked() == 0) return;
    }
  }
  // Windows due but not ended, read without the flag (a hint for the re-check).
  [[nodiscard]] std::uint64_t windows_due_unlocked() const noexcept {
    const std::uint64_t due = ticker_.published() / opt_.window;
    const std::uint64_t done = windows_ended_.load(std::memory_order_relaxed);  // a hint only
    return due > done ? due - done : 0;
  }

  // One epoch end (a halving) that advances the epoch by `epochs`; the caller holds advancing_.
  void end_epoch_locked(std::uint64_t epochs = 1) noexcept {
    const auto pub = static_cast<std::int64_t>(ticker_.published());
    const std::int64_t d_end = pub + offset_.load(std::memory_order_relaxed);  // D: counts only
    sketch_.halve();
    const std::int64_t d_base = d_end / 2;
    offset_.store(d_base - pub, std::memory_order_release);  // (5) pairs with (6)
    const std::uint64_t e = epoch_.load(std::memory_order_relaxed);  // only advance_epoch writes it
    const std::uint64_t bar = bar_for(static_cast<std::uint64_t>(d_base));
    table_.for_each_slot([&](std::uint64_t w, detail::hot_key_table::slot& s) {
      const std::uint64_t st = s.stamp.load(std::memory_order_relaxed);  // stamps: see (1)
      if (st < e || st == detail::hot_key_table::claiming) return;
      if (sketch_.estimate(detail::word_to_key<Key>(w)) >= bar)
        detail::hot_key_table::stamp_at_least(s, e + epochs);
    });
    epoch_.store(e + epochs, std::memory_order_release);  // (1) release: pairs with (2)
  }


  // One thread's geometric countdown: units left until the next kept one.
  struct alignas(detail::cache_line_bytes) sampler : detail::thread_node {
    sampler(std::uint64_t seed, std::size_t index, double inv_log)
        : rng(detail::mix64(seed + 0x9e3779b97f4a7c15ULL * (index + 1))), inv_log_skip(inv_log) {
      left = gap();
    }
    // How many of the next `w` units are kept (owner only).
    std::uint64_t keep(std::uint64_t w) noexcept {
      if (w < left) [[likely]] {
        left -= w;
        return 0;
      }
      std::uint64_t kept = 0;
      while (w >= left) {
        w -= left;
        ++kept;
        left = gap();
      }
      left -= w;
      return kept;
    }
    // Geometric on {1, 2, ...} with mean sample_every (inversion).
    std::uint64_t gap() noexcept {
      rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;  // PCG's LCG step; mixed below
      const double u = static_cast<double>((detail::mix64(rng) >> 11) + 1) * 0x1.0p-53;  // (0, 1]
      const double g = std::floor(std::log(u) * inv_log_skip);
      return 1 + (g < 1e18 ? static_cast<std::uint64_t>(g) : std::uint64_t{1} << 60);
    }
    std::uint64_t rng;
    double inv_log_skip;  // 1 / ln(1 − p)
    std::uint64_t left = 1;
  };

  static hot_key_detector_options validated(hot_key_detector_options o) {
    const auto bad = [](const char* field, const std::string& what) {
      throw std::invalid_argument(std::string("hot_key_detector: ") + field + " " + what);
    };
    if (!(o.hot_share > 0 && o.hot_share <= 1)) bad("hot_share", "must be in (0, 1], got " + std::to_string(o.hot_share));
    if (o.window > (std::uint64_t{1} << 62)) bad("window", "must be ≤ 2^62");
    if (o.table_slots > (std::size_t{1} << 32)) bad("table_slots", "must be ≤ 2^32");
    if (o.table_slots == 0 && 4.0 / o.hot_share > 4294967296.0) bad("hot_share", "too small: 4/hot_share slots > 2^32");
    if (o.sample_every > (std::uint64_t{1} << 20)) bad("sample_every", "must be ≤ 2^20");
    if (!(o.epsilon > 0 && o.epsilon < 1)) bad("epsilon", "must be in (0, 1), got " + std::to_string(o.epsilon));
    if (!(o.delta > 0 && o.delta < 1)) bad("delta", "must be in (0, 1), got " + std::to_string(o.delta));
    // The sketch's width ⌈e/ε⌉ and depth ⌈ln 1/δ⌉: checked here until count_min_sketch checks its own sizes.
    if (std::exp(1.0) / o.epsilon * std::ceil(std::log(1.0 / o.delta)) > 4294967296.0)
      bad("epsilon", "too small: the sketch would exceed 2^32 counters");
    return o;
  }

  static std::uint64_t auto_sample_every(const hot_key_detector_options& o) noexcept {
    if (o.window == 0) return 1;
    const double room = o.hot_share * static_cast<double>(o.window) / 64.0;
    if (room < 2) return 1;
    return std::bit_floor(static_cast<std::uint64_t>(std::min(room, 16.0)));
  }

  [[nodiscard]] std::uint64_t table_hash(std::uint64_t h) const noexcept { return detail::mix64(h ^ salt_); }

  // φ·D, lowered by the sampling slack γ (see "Sampling and the bar").
  [[nodiscard]] std::uint64_t bar_for(std::uint64_t d) const noexcept {
    const double phi_d = opt_.hot_share * static_cast<double>(d);
    double gamma = 0;
    if (sample_every_ != 1 && phi_d > 0)
      gamma = std::min(0.5, 4.0 * std::sqrt(static_cast<double>(sample_every_) / phi_d));
    const auto share = static_cast<std::uint64_t>(std::ceil((1 - gamma) * phi_d));
    return std::max(min_count_, share);
  }

  hot_key_detector_options opt_;
  std::uint64_t seed_;
  std::uint64_t salt_;
  std::uint64_t sample_every_;
  std::uint64_t min_count_;
  double inv_log_skip_;
  sketch_type sketch_;
  mutable detail::hot_key_table table_;
  detail::sketch_ticker ticker_;
  detail::thread_node_registry<sampler> samplers_;
  std::atomic<std::int64_t> offset_{0};  // D = ticker_.published() + offset_
  std::atomic<std::uint64_t> epoch_{1};  // 0 = the stamp of a never-stamped slot
  std::atomic<bool> advancing_{false};
  std::atomic<std::uint64_t> windows_ended_{0};  // epoch ends the window has driven (advancing_ held to write)
};

}  // namespace hotshard
