// hotshard/count_min_sketch.hpp — a concurrent Count-Min sketch with an
// optional conservative update and TinyLFU-style aging.
//
// Algorithm: Cormode & Muthukrishnan, "An Improved Data Stream Summary: The
// Count-Min Sketch and its Applications", J. Algorithms 55(1), 2005,
// doi:10.1016/j.jalgor.2003.12.001. depth rows of width counters; add(x, c)
// adds c to one counter per row, estimate(x) is the minimum of x's counters.
// Conservative update (Estan & Varghese, "New directions in traffic
// measurement and accounting", SIGCOMM 2002, doi:10.1145/633025.633056)
// raises each of x's counters only to (minimum + c). Aging halves every
// counter, as TinyLFU's reset does (Einziger, Friedman & Manes, "TinyLFU: A
// Highly Efficient Cache Admission Policy", ACM ToS 13(4), 2017,
// doi:10.1145/3149371).
//
// Dimensions: from (ε, δ), width = ⌈e/ε⌉ and depth = ⌈ln(1/δ)⌉, so ε = e/width
// and δ = e^−depth. Bound (no aging): for every key x with true count f(x),
// f(x) ≤ estimate(x), and estimate(x) ≤ f(x) + εN with probability ≥ 1 − δ,
// N = the sum of all counts added. Conservative update never makes a counter
// larger than plain update would, so the same bound holds, usually far tighter.
// Memory: 8 × width × depth bytes of counters (64-bit: they cannot wrap, so a
// wrapped counter can never turn into an underestimate) + 8 × depth (row
// salts) + sizeof(*this) (~1.2 KiB, mostly the aging ticker's stripes).
// At the defaults of the harness (ε = 0.0002, δ = 0.01): 13,592 × 5, 545 KB.
// Keys: any concepts::hashable_key (keys.hpp; pointer keys are rejected at
// compile time). Keys are only hashed, never stored: two keys with equal
// Hash values are one key to the sketch. add/estimate also take a
// hashed_key<Key, Hash> (hash once per request: its word is the h below) and,
// with a transparent Hash (policy::hash<std::string>), a lookup key such as
// std::string_view.
// Row hashes: h = detail::hash_key(x) once, then row i uses column
// reduce(seeded_hash(h, seed + i), width); seeds seed, seed+1, .... The seed
// is drawn at random per instance unless count_min_sketch_options'
// sketch.seed names one (hash flooding: keys crafted to collide in every row
// of one build of this code collide in no other instance); options().seed
// reports the seed in use, so a sibling to merge with is built with it. Two sketches merge only with equal
// width, depth and seed.
//
// Bad dimensions throw std::invalid_argument naming the parameter: ε outside
// (0, 1) or so small that the width ⌈e/ε⌉ does not fit, δ outside (0, 1), a
// zero width or depth, or width × depth counters whose size overflows
// (detail/sketch_support.hpp). The layout is row-major (one cache line per row touched per add): the
// rows' columns are independent, which the (ε, δ) bound needs; a blocked
// layout (all of a key's counters in one line, as Caffeine does) would be
// faster but weakens the bound.
//
// Progress guarantees:
//  * add() plain: wait-free (depth relaxed fetch_adds).
//  * add() conservative: lock-free (a failed CAS means another add or a
//    halving changed that counter; the add then restarts from fresh reads).
//    With depth > 16 (δ < e^-16) it falls back to plain update (same bound).
//  * estimate(), memory_bytes(): wait-free (depth relaxed loads).
//  * halve(): lock-free (a CAS per counter; may retry on counters being added to).
//  * merge(other): wait-free (a fetch_add per counter); safe while either
//    sketch is being added to: adds to `other` that race with it may or may not
//    be carried over.
//  * aging every W additions (options::aging_window): the add that completes
//    the W-th addition runs halve() inline (O(width × depth)); one add whose
//    weight spans k windows runs min(k, 64) halvings (64 halvings zero every
//    64-bit counter, so the others change nothing).
//
// Aging is defined per unit of weight: add(x, c) counts as c additions of x
// with weight 1, in a row. A halving due at the u-th of those units halves the
// u units before it (and everything older) and not the c − u after it, so one
// add(x, c) leaves the sketch exactly as c calls of add(x) on the same thread
// would (counters and halvings()). The window ticker publishes in batches of
// the largest power of two ≤ 64 dividing W, so with one thread the halving
// runs exactly at every W-th unit.
//
// What a concurrent reader may see: estimate() reads the rows one at a time,
// so an add racing with it may be counted in some rows and not others; every
// add that happens-before the estimate is counted in full. A conservative
// update is not atomic across rows either: it reads all rows, then raises
// them one by one, restarting if any CAS fails. The restart is what keeps the
// bound: two adds of the same key cannot both succeed from the same stale
// minimum (the second one's CAS on that row fails and it re-reads), so once
// the adds are done every row of x is ≥ f(x). What the non-atomicity costs is
// only tightness: a counter is raised to (the minimum this add read) + c,
// never above what plain update would give, so the εN bound holds.
//
// Aging and what a racing add may do: halve() replaces each counter c by
// ⌊c/2⌋, one counter at a time (CAS). Define the decayed count g(x): g ← ⌊g/2⌋
// at each halving, g ← g + c at each add. An add that races with a halving
// may land, row by row, before that row is halved (then halved with it) or
// after (then counted in full). So: estimate(x) ≥ g(x) computed as if every
// racing add happened before the halving (the smallest choice), and the upper
// bound is the one of the sketch that counts racing adds in full. No add is
// ever lost, and with no halving the bound above holds as stated. Two halvings that
// overlap both apply (the counters are quartered).
//
// Memory ordering: every counter operation is relaxed. Counters publish no
// other data; an estimate that must include an add relies on the caller's
// happens-before (thread join, a queue, ...) and on per-counter coherence:
// once an add's fetch_add happens-before a load of that counter, the load
// returns that value or a later one. Counters only grow between halvings, so
// "a later one" is never smaller.
#pragma once

#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/metrics.hpp>
#include <hotshard/detail/sketch_support.hpp>
#include <hotshard/keys.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>

namespace hotshard {

enum class update_policy : std::uint8_t { plain, conservative };

// The resolved options a sketch reports (options()), and the old options of
// the deprecated (ε, δ) constructor and of the explicit-dimensions one.
struct count_min_options {
  update_policy update = update_policy::plain;
  // 0 (the default) = a random seed per instance; any other value is used
  // as given (reproducible runs, sketches to merge).
  std::uint64_t seed = random_seed;
  // Halve all counters every aging_window additions (counted in units of
  // `count`, see "Aging is defined per unit of weight"); 0 = never (halve()
  // on demand only). With T threads the halving starts between W and
  // W + 16 × b additions late, b = the ticker's batch (≤ 64, see above); with
  // one thread exactly at every W-th.
  std::uint64_t aging_window = 0;

  static constexpr std::uint64_t random_seed = 0;
};

// count_min_sketch<K> s({.sketch = {.epsilon = 0.001, .delta = 0.01}, .update = update_policy::conservative});
// Every bad value throws std::invalid_argument naming the field; nothing is clamped.
struct count_min_sketch_options {
  // ε (default 0.0002), δ (default 0.01), seed (default: random per
  // instance): width = ⌈e/ε⌉, depth = ⌈ln(1/δ)⌉ (see "Dimensions").
  sketch_options sketch{};
  update_policy update = update_policy::plain;
  // As count_min_options::aging_window: halve all counters every
  // aging_window additions; 0 = never (halve() on demand only).
  std::uint64_t aging_window = 0;

  static constexpr double default_epsilon = 0.0002;
  static constexpr double default_delta = 0.01;
};

struct count_min_dimensions {
  std::size_t width = 0;
  std::size_t depth = 0;
  // width = ⌈e/ε⌉, depth = ⌈ln(1/δ)⌉; throws std::invalid_argument outside
  // 0 < ε, δ < 1 or when the width does not fit (detail::sketch_width_for).
  static count_min_dimensions from_error(double epsilon, double delta) {
    count_min_dimensions d;
    d.width = detail::sketch_width_for(epsilon, "count_min_sketch");
    d.depth = detail::sketch_depth_for(delta, "count_min_sketch");
    return d;
  }
  [[nodiscard]] double epsilon() const noexcept { return std::exp(1.0) / static_cast<double>(width); }
  [[nodiscard]] double delta() const noexcept { return std::exp(-static_cast<double>(depth)); }
};

namespace detail {
// The seed half of seeded_hash, computed once per row.
[[nodiscard]] constexpr std::uint64_t cms_row_salt(std::uint64_t seed) noexcept {
  return mix64(seed + 0x9e3779b97f4a7c15ULL);
}
static_assert(seeded_hash(12345, 678) == mix64(12345 ^ cms_row_salt(678)),
              "count_min_sketch::column() must stay equal to reduce(seeded_hash(h, seed + r), width)");
}  // namespace detail

// stats(): a snapshot for a metrics thread (detail/metrics.hpp).
struct count_min_sketch_stats {
  std::size_t width = 0;
  std::size_t depth = 0;
  std::uint64_t halvings = 0;
  std::size_t memory_bytes = 0;

  template <class F>
  void for_each_metric(F&& f) const {
    using detail::metric_kind;
    f(detail::metric{"width", metric_kind::gauge, static_cast<double>(width), "Counters per row (e/epsilon)."});
    f(detail::metric{"depth", metric_kind::gauge, static_cast<double>(depth), "Rows (ln 1/delta)."});
    f(detail::metric{"halvings_total", metric_kind::counter, static_cast<double>(halvings),
                     "Agings that halved every counter."});
    f(detail::metric{"memory_bytes", metric_kind::gauge, static_cast<double>(memory_bytes), "Bytes held."});
  }
};

template <class Key, class... Policies>
  requires policy::keyed_policies<Policies...> && concepts::hashable_key<Key, policy::hash_of<Key, Policies...>>
class count_min_sketch {
  // The named policies (hotshard/policy.hpp): the key hash and the contention hook.
  using Hash = policy::hash_of<Key, Policies...>;
  using Contention = policy::contention_of<Policies...>;

 public:
  using key_type = Key;
  using counter = std::atomic<std::uint64_t>;

  using options_type = count_min_sketch_options;

  // The convention of every primitive: one options struct, designated
  // initialisers, every field defaulted.
  explicit count_min_sketch(count_min_sketch_options o = {})
      : count_min_sketch(resolved{},
                         count_min_dimensions::from_error(
                             o.sketch.epsilon.value_or(count_min_sketch_options::default_epsilon),
                             o.sketch.delta.value_or(count_min_sketch_options::default_delta)),
                         count_min_options{o.update, o.sketch.seed ? *o.sketch.seed : detail::random_seed(),
                                           o.aging_window}) {}

  // DEPRECATED shim (issue 16): the positional (ε, δ) pair and the old
  // count_min_options (seed 0 = random); use count_min_sketch_options.
  count_min_sketch(double epsilon, double delta, count_min_options opt = {})
      : count_min_sketch(count_min_dimensions::from_error(epsilon, delta), opt) {}

  // Explicit dimensions (a sibling sized like another sketch, tests); opt.seed
  // 0 = random, as in count_min_options.
  explicit count_min_sketch(count_min_dimensions dims, count_min_options opt = {})
      : count_min_sketch(resolved{}, dims, with_seed(opt)) {}

 private:
  struct resolved {};  // opt's seed is the one to use as given
  count_min_sketch(resolved, count_min_dimensions dims, count_min_options opt)
      : width_(dims.width),
        depth_(dims.depth),
        opt_(checked(opt)),
        counters_(std::make_unique<counter[]>(detail::checked_sketch_counters(width_, depth_, sizeof(counter),
                                                                              "count_min_sketch"))),
        row_salts_(std::make_unique<std::uint64_t[]>(depth_)),
        ticker_(detail::sketch_ticker::batch_for_window(opt_.aging_window)) {
    for (std::size_t r = 0; r < depth_; ++r) row_salts_[r] = detail::cms_row_salt(opt_.seed + r);
  }

 public:

  count_min_sketch(const count_min_sketch&) = delete;
  count_min_sketch& operator=(const count_min_sketch&) = delete;

  [[nodiscard]] static std::uint64_t hash_of(const Key& key) noexcept(noexcept(Hash{}(key))) {
    return detail::hash_key(key, Hash{});
  }

  // Adds `count` to a Key, a hashed_key<Key, Hash> (the same counters:
  // its word is hash_of(key)), or with a transparent Hash a lookup key
  // (std::string_view for std::string). Keys are only hashed, never stored.
  void add(const Key& key, std::uint64_t count = 1) noexcept { (void)add_hashed(hash_of(key), count); }
  void add(const hashed_key<Key, Hash>& key, std::uint64_t count = 1) noexcept { (void)add_hashed(key.word(), count); }
  template <class K>
    requires detail::lookup_key<K, Key, Hash>
  void add(const K& key, std::uint64_t count = 1) noexcept {
    (void)add_hashed(detail::key_word(key, Hash{}), count);
  }

  // Adds and returns a lower bound of the estimate right after the add
  // (≥ the count of every add of h that completed before this one began).
  std::uint64_t add_hashed(std::uint64_t h, std::uint64_t count = 1) noexcept {
    if (count == 0) return estimate_hashed(h);
    if (opt_.aging_window != 0) [[unlikely]] return add_aging(h, count);
    return add_now(h, count);
  }

  // Accepts the keys add() does.
  [[nodiscard]] std::uint64_t estimate(const Key& key) const noexcept { return estimate_hashed(hash_of(key)); }
  [[nodiscard]] std::uint64_t estimate(const hashed_key<Key, Hash>& key) const noexcept {
    return estimate_hashed(key.word());
  }
  template <class K>
    requires detail::lookup_key<K, Key, Hash>
  [[nodiscard]] std::uint64_t estimate(const K& key) const noexcept {
    return estimate_hashed(detail::key_word(key, Hash{}));
  }

  [[nodiscard]] std::uint64_t estimate_hashed(std::uint64_t h) const noexcept {
    std::uint64_t m = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t r = 0; r < depth_; ++r)
      m = std::min(m, cell(r, h).load(std::memory_order_relaxed));  // counts only; see "Memory ordering"
    return m;
  }

  // Halves every counter (aging on demand). Safe while other threads add.
  void halve() noexcept {
    const std::size_t n = width_ * depth_;
    for (std::size_t i = 0; i < n; ++i) {
      if (i % width_ == 0) detail::schedule_point<Contention>();  // between rows
      std::uint64_t c = counters_[i].load(std::memory_order_relaxed);  // counts only
      while (c != 0 && !counters_[i].compare_exchange_weak(c, c >> 1, std::memory_order_relaxed,
                                                            std::memory_order_relaxed))
        Contention::cas_failure();
    }
    halvings_.fetch_add(1, std::memory_order_relaxed);  // counts only
  }

  // Adds other's counters to ours. Throws std::invalid_argument unless width,
  // depth and seed are equal. For plain update the result equals the sketch of
  // the concatenated streams counter for counter.
  void merge(const count_min_sketch& other) {
    if (!compatible(other)) throw std::invalid_argument("count_min_sketch::merge: width, depth or seed differ");
    const std::size_t n = width_ * depth_;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t c = other.counters_[i].load(std::memory_order_relaxed);  // counts only
      if (c != 0) counters_[i].fetch_add(c, std::memory_order_relaxed);             // counts only
    }
  }

  [[nodiscard]] bool compatible(const count_min_sketch& other) const noexcept {
    return width_ == other.width_ && depth_ == other.depth_ && opt_.seed == other.opt_.seed;
  }

  // The counter of row r for hash h, and the raw counters, for per-thread
  // merges at query time and for tests.
  // == reduce(seeded_hash(h, seed + r), width), with the seed's mix precomputed.
  [[nodiscard]] std::size_t column(std::size_t r, std::uint64_t h) const noexcept {
    return static_cast<std::size_t>(detail::reduce(detail::mix64(h ^ row_salts_[r]), width_));
  }
  [[nodiscard]] std::uint64_t counter_at(std::size_t r, std::size_t col) const noexcept {
    return counters_[r * width_ + col].load(std::memory_order_relaxed);  // counts only
  }

  [[nodiscard]] std::size_t width() const noexcept { return width_; }
  [[nodiscard]] std::size_t depth() const noexcept { return depth_; }
  [[nodiscard]] double epsilon() const noexcept { return count_min_dimensions{width_, depth_}.epsilon(); }
  [[nodiscard]] double delta() const noexcept { return count_min_dimensions{width_, depth_}.delta(); }
  [[nodiscard]] const count_min_options& options() const noexcept { return opt_; }
  [[nodiscard]] std::uint64_t halvings() const noexcept { return halvings_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return sizeof(*this) + width_ * depth_ * sizeof(counter) + depth_ * sizeof(std::uint64_t); }
  // A snapshot for a metrics thread: wait-free, any thread, any time.
  [[nodiscard]] count_min_sketch_stats stats() const noexcept { return {width_, depth_, halvings(), memory_bytes()}; }

 private:
  static constexpr std::size_t max_inline_depth = 16;

  counter& cell(std::size_t r, std::uint64_t h) const noexcept { return counters_[r * width_ + column(r, h)]; }

  static count_min_options checked(count_min_options opt) {
    if (opt.update != update_policy::plain && opt.update != update_policy::conservative)
      detail::throw_bad_option("count_min_sketch", "update", "is not an update_policy");
    return opt;
  }
  static count_min_options with_seed(count_min_options opt) {
    if (opt.seed == count_min_options::random_seed) opt.seed = detail::random_seed();
    return opt;
  }

  std::uint64_t add_now(std::uint64_t h, std::uint64_t count) noexcept {
    return opt_.update == update_policy::plain ? add_plain(h, count) : add_conservative(h, count);
  }

  // Per unit of weight (see the header): the units before each window
  // crossing are added before its halving, the rest after. Past 64 crossings
  // only the last 64 matter: 64 halvings zero whatever came before them.
  std::uint64_t add_aging(std::uint64_t h, std::uint64_t count) noexcept {
    const std::uint64_t w = opt_.aging_window;
    const detail::sketch_ticker::tick_result t = ticker_.tick(count);
    const std::uint64_t k = t.crossings(w);
    if (k == 0) return add_now(h, count);
    constexpr std::uint64_t max_useful = 64;
    const std::uint64_t last = t.after / w;  // crossings at multiples first..last of w
    const std::uint64_t first = k > max_useful ? last - max_useful + 1 : last - k + 1;
    std::uint64_t done = k > max_useful ? t.ops_until((first - 1) * w) : 0;  // units that are zeroed anyway
    if (k > max_useful) halvings_.fetch_add(k - max_useful, std::memory_order_relaxed);  // counts only
    for (std::uint64_t m = first; m <= last; ++m) {
      const std::uint64_t until = t.ops_until(m * w);
      if (until > done) (void)add_now(h, until - done);
      done = until;
      halve();
    }
    return done < count ? add_now(h, count - done) : estimate_hashed(h);
  }

  // Why the prefetch: a locked RMW waits for its cache line before the next
  // one can start, so five RMWs on five missing lines would pay five misses
  // in a row; prefetching all lines for writing first overlaps the misses.
  std::uint64_t add_plain(std::uint64_t h, std::uint64_t count) noexcept {
    std::uint64_t m = std::numeric_limits<std::uint64_t>::max();
    if (depth_ > max_inline_depth) [[unlikely]] {
      for (std::size_t r = 0; r < depth_; ++r)
        m = std::min(m, cell(r, h).fetch_add(count, std::memory_order_relaxed) + count);  // counts only
      return m;
    }
    counter* cells[max_inline_depth];
    for (std::size_t r = 0; r < depth_; ++r) {
      cells[r] = &cell(r, h);
      __builtin_prefetch(cells[r], 1);
    }
    for (std::size_t r = 0; r < depth_; ++r) {
      m = std::min(m, cells[r]->fetch_add(count, std::memory_order_relaxed) + count);  // counts only
      if (r == 0) detail::schedule_point<Contention>();  // counted in one row, not yet in the others
    }
    return m;
  }

  // All rows are read before any is written, and any failed CAS restarts the
  // attempt from fresh reads: that is what makes two racing adds of one key
  // unable to both raise a row from the same stale minimum.
  std::uint64_t add_conservative(std::uint64_t h, std::uint64_t count) noexcept {
    counter* cells[max_inline_depth];
    std::uint64_t seen[max_inline_depth];
    if (depth_ > max_inline_depth) return add_plain(h, count);  // δ < e^-16: plain update, same bound
    for (std::size_t r = 0; r < depth_; ++r) {
      cells[r] = &cell(r, h);
      __builtin_prefetch(cells[r], 1);
    }
    for (;;) {
      std::uint64_t m = std::numeric_limits<std::uint64_t>::max();
      for (std::size_t r = 0; r < depth_; ++r) {
        seen[r] = cells[r]->load(std::memory_order_relaxed);  // counts only
        m = std::min(m, seen[r]);
      }
      const std::uint64_t target = m + count;
      detail::schedule_point<Contention>();
      bool failed = false;
      for (std::size_t r = 0; r < depth_ && !failed; ++r) {
        if (seen[r] >= target) continue;
        failed = !cells[r]->compare_exchange_strong(seen[r], target, std::memory_order_relaxed,
                                                    std::memory_order_relaxed);  // counts only
      }
      if (!failed) return target;
      Contention::cas_failure();
    }
  }

  std::size_t width_;
  std::size_t depth_;
  count_min_options opt_;
  std::unique_ptr<counter[]> counters_;
  std::unique_ptr<std::uint64_t[]> row_salts_;  // mix64(seed + r + φ·2^64), see column()
  std::atomic<std::uint64_t> halvings_{0};
  detail::sketch_ticker ticker_;
};

}  // namespace hotshard
