// harness/contenders/sketches.hpp — every frequency sketch the sketches family
// compares, behind the `frequency_sketch` concept, and the family's registry.
//
// Baselines are thin adapters; ours are instantiated with
// detail::counting_stats so a run reports cas_failures_per_op. The registry
// calls `f.template operator()<Adapter>(name, description)` for each
// contender, in display order; the `sketch` scenario and bench-sketches both
// iterate it, so adding a contender is one adapter and one line here.
//
// Every adapter is constructed from `sketch_params` and has key_type
// std::uint64_t, add(key[, n]), estimate(key), memory_bytes() and epsilon()
// (the ε of its εN bound; 0 for exact counting). A contender that can name its
// heaviest keys also has top(k) (heavy_hitter_tracker); for the others the
// scenario ranks keys by estimate.
//
// The baselines' sketches (`cms_mutex`, `cms_per_thread`) use exactly our
// dimensions and row hashes (plain_count_min below), so the comparison
// measures concurrency control, not hashing or accuracy.
#pragma once

#include <hotshard/buffered_count_min_sketch.hpp>
#include <hotshard/concepts/frequency_sketch.hpp>
#include <hotshard/count_min_sketch.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/heavy_hitters.hpp>
#include <hotshard/hot_key_detector.hpp>

#include <tbb/concurrent_hash_map.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace hotshard::contenders {

struct sketch_params {
  double epsilon = 0.0002;
  double delta = 0.01;
  std::size_t hh_capacity = 2048;  // heavy hitters: every key above N/m is kept
  double hot_share = 0.01;         // detector: φ
  std::uint64_t window = 1 << 16;  // detector: units per epoch
  std::uint64_t seed = count_min_options{}.seed;  // explicit: runs repeat exactly
};

using sketch_key = std::uint64_t;
using sketch_stats = policy::count_contention;

// A single-writer Count-Min with our dimensions and row hashes. Counters are
// atomics written with load + store (no RMW: one writer), so a reader on
// another thread is race-free; the cost on x86 is that of plain integers.
class plain_count_min {
 public:
  explicit plain_count_min(count_min_dimensions d, std::uint64_t seed = count_min_options{}.seed)
      : dims_(d), seed_(seed), counters_(std::make_unique<std::atomic<std::uint64_t>[]>(d.width * d.depth)) {}

  void add(std::uint64_t h, std::uint64_t n) noexcept {
    for (std::size_t r = 0; r < dims_.depth; ++r) {
      auto& c = counters_[r * dims_.width + column(r, h)];
      c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // one writer; counts only
    }
  }
  [[nodiscard]] std::uint64_t at(std::size_t r, std::uint64_t h) const noexcept {
    return counters_[r * dims_.width + column(r, h)].load(std::memory_order_relaxed);  // counts only
  }
  [[nodiscard]] std::uint64_t estimate(std::uint64_t h) const noexcept {
    std::uint64_t m = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t r = 0; r < dims_.depth; ++r) m = std::min(m, at(r, h));
    return m;
  }
  [[nodiscard]] const count_min_dimensions& dims() const noexcept { return dims_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) + dims_.width * dims_.depth * sizeof(std::uint64_t);
  }

 private:
  [[nodiscard]] std::size_t column(std::size_t r, std::uint64_t h) const noexcept {
    return static_cast<std::size_t>(detail::reduce(detail::seeded_hash(h, seed_ + r), dims_.width));
  }
  count_min_dimensions dims_;
  std::uint64_t seed_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counters_;
};

inline std::uint64_t sketch_hash(sketch_key k) noexcept { return detail::hash_key(k); }

// --- baselines -----------------------------------------------------------------

// One std::mutex around one sketch.
class cms_mutex {
 public:
  using key_type = sketch_key;
  explicit cms_mutex(const sketch_params& p) : s_(count_min_dimensions::from_error(p.epsilon, p.delta)) {}
  void add(sketch_key k, std::uint64_t n = 1) {
    const std::uint64_t h = sketch_hash(k);
    std::scoped_lock lock(m_);
    s_.add(h, n);
  }
  [[nodiscard]] std::uint64_t estimate(sketch_key k) const {
    const std::uint64_t h = sketch_hash(k);
    std::scoped_lock lock(m_);
    return s_.estimate(h);
  }
  [[nodiscard]] double epsilon() const noexcept { return s_.dims().epsilon(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return sizeof(*this) + s_.memory_bytes(); }

 private:
  mutable std::mutex m_;
  plain_count_min s_;
};

// One sketch per thread, written by its owner only; estimate sums the threads'
// counters row by row (the merged sketch) and takes the minimum.
class cms_per_thread {
 public:
  using key_type = sketch_key;
  explicit cms_per_thread(const sketch_params& p) : dims_(count_min_dimensions::from_error(p.epsilon, p.delta)) {}
  void add(sketch_key k, std::uint64_t n = 1) { local().add(sketch_hash(k), n); }
  [[nodiscard]] std::uint64_t estimate(sketch_key k) const {
    const std::uint64_t h = sketch_hash(k);
    std::scoped_lock lock(m_);
    std::uint64_t m = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t r = 0; r < dims_.depth; ++r) {
      std::uint64_t sum = 0;
      for (const auto& s : sketches_) sum += s->at(r, h);
      m = std::min(m, sum);
    }
    return sketches_.empty() ? 0 : m;
  }
  [[nodiscard]] double epsilon() const noexcept { return dims_.epsilon(); }
  [[nodiscard]] std::size_t memory_bytes() const {
    std::scoped_lock lock(m_);
    std::size_t b = sizeof(*this);
    for (const auto& s : sketches_) b += s->memory_bytes();
    return b;
  }

 private:
  // The thread's sketch: a one-entry thread_local cache keyed by an id that
  // is never reused (so a stale entry of a destroyed contender is never
  // followed), then a map by thread id under the mutex.
  plain_count_min& local() {
    struct cache {
      std::uint64_t id = 0;
      plain_count_min* sketch = nullptr;
    };
    thread_local cache c;
    if (c.id == id_) [[likely]] return *c.sketch;
    std::scoped_lock lock(m_);
    auto& slot = by_thread_[std::this_thread::get_id()];
    if (slot == nullptr) {
      sketches_.push_back(std::make_unique<plain_count_min>(dims_));
      slot = sketches_.back().get();
    }
    c = {id_, slot};
    return *slot;
  }
  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);  // uniqueness only
  }

  count_min_dimensions dims_;
  std::uint64_t id_ = next_id();
  mutable std::mutex m_;
  std::vector<std::unique_ptr<plain_count_min>> sketches_;
  std::unordered_map<std::thread::id, plain_count_min*> by_thread_;
};

// Exact counting: tbb::concurrent_hash_map, an accessor (element write lock) per add.
class exact_counts {
 public:
  using key_type = sketch_key;
  explicit exact_counts(const sketch_params&) {}
  void add(sketch_key k, std::uint64_t n = 1) {
    map_type::accessor a;
    map_.insert(a, k);
    a->second += n;
  }
  [[nodiscard]] std::uint64_t estimate(sketch_key k) const {
    map_type::const_accessor a;
    return map_.find(a, k) ? a->second : 0;
  }
  [[nodiscard]] double epsilon() const noexcept { return 0; }
  // Approximate: entries × (key, value, node header and bucket pointer).
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return sizeof(*this) + map_.size() * 48; }

 private:
  using map_type = tbb::concurrent_hash_map<sketch_key, std::uint64_t>;
  map_type map_;
};

// --- ours ------------------------------------------------------------------------

template <update_policy Policy>
class cms_ours {
 public:
  using key_type = sketch_key;
  explicit cms_ours(const sketch_params& p) : s_({.sketch = {.epsilon = p.epsilon, .delta = p.delta}, .update = Policy}) {}
  void add(sketch_key k, std::uint64_t n = 1) noexcept { s_.add(k, n); }
  [[nodiscard]] std::uint64_t estimate(sketch_key k) const noexcept { return s_.estimate(k); }
  [[nodiscard]] double epsilon() const noexcept { return s_.epsilon(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return s_.memory_bytes(); }

 private:
  count_min_sketch<sketch_key, sketch_stats> s_;
};

class cms_buffered_ours {
 public:
  using key_type = sketch_key;
  explicit cms_buffered_ours(const sketch_params& p)
      : s_({.count_min = {.sketch = {.epsilon = p.epsilon, .delta = p.delta}}}) {}
  void add(sketch_key k, std::uint64_t n = 1) noexcept { s_.add(k, n); }
  [[nodiscard]] std::uint64_t estimate(sketch_key k) const noexcept { return s_.estimate(k); }
  [[nodiscard]] double epsilon() const noexcept { return s_.epsilon(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return s_.memory_bytes(); }

 private:
  buffered_count_min_sketch<sketch_key, sketch_stats> s_;
};

class heavy_hitters_ours {
 public:
  using key_type = sketch_key;
  explicit heavy_hitters_ours(const sketch_params& p)
      : h_({.capacity = p.hh_capacity, .sketch = {.epsilon = p.epsilon, .seed = p.seed}}) {}
  void add(sketch_key k, std::uint64_t n = 1) noexcept { h_.add(k, n); }
  [[nodiscard]] std::uint64_t estimate(sketch_key k) const noexcept { return h_.estimate(k); }
  [[nodiscard]] std::vector<heavy_hitter<sketch_key>> top(std::size_t k) const { return h_.top(k); }
  [[nodiscard]] double epsilon() const noexcept { return h_.epsilon(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return h_.memory_bytes(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return h_.capacity(); }

 private:
  heavy_hitters<sketch_key, sketch_stats> h_;
};

// The detector as a sketch row: add = observe. Its estimate is a decayed and
// (by default) sampled count, so the scenario reports the detector's own
// metrics (hot_* below) instead of the over/underestimate checks.
class hot_key_detector_ours {
 public:
  using key_type = sketch_key;
  explicit hot_key_detector_ours(const sketch_params& p)
      : d_({.hot_share = p.hot_share, .window = p.window, .sketch = {.seed = p.seed}}) {}
  void add(sketch_key k, std::uint64_t n = 1) { (void)d_.observe(k, n); }
  [[nodiscard]] std::uint64_t estimate(sketch_key k) const noexcept { return d_.estimate(k); }
  [[nodiscard]] bool is_hot(sketch_key k) const noexcept { return d_.is_hot(k); }
  [[nodiscard]] std::vector<sketch_key> hot_keys() const { return d_.hot_keys(); }
  [[nodiscard]] double hot_share() const noexcept { return d_.options().hot_share; }
  [[nodiscard]] std::uint64_t sample_every() const noexcept { return d_.sample_every(); }
  [[nodiscard]] std::size_t thread_sketches() const noexcept { return d_.thread_sketches(); }
  [[nodiscard]] hot_key_detector<sketch_key>& detector() noexcept { return d_; }
  [[nodiscard]] double epsilon() const noexcept { return *d_.options().sketch.epsilon; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return d_.memory_bytes(); }

 private:
  hot_key_detector<sketch_key> d_;
};

static_assert(concepts::frequency_sketch<cms_mutex> && concepts::frequency_sketch<cms_per_thread> &&
              concepts::frequency_sketch<exact_counts>);
static_assert(concepts::frequency_sketch<cms_ours<update_policy::plain>> && concepts::frequency_sketch<cms_buffered_ours>);
static_assert(concepts::heavy_hitter_tracker<heavy_hitters_ours> && concepts::frequency_sketch<hot_key_detector_ours>);

template <class F>
void for_each_sketch(F&& f) {
  f.template operator()<cms_mutex>("cms_mutex", "Count-Min under one std::mutex (baseline)");
  f.template operator()<cms_per_thread>("cms_per_thread",
                                        "one single-writer Count-Min per thread, summed row by row at query (baseline)");
  f.template operator()<exact_counts>("exact", "exact counts in tbb::concurrent_hash_map (baseline)");
  f.template operator()<cms_ours<update_policy::plain>>("cms", "ours: Count-Min, relaxed fetch_add per row (wait-free)");
  f.template operator()<cms_ours<update_policy::conservative>>(
      "cms_cu", "ours: Count-Min, conservative update by CAS (lock-free)");
  f.template operator()<cms_buffered_ours>(
      "cms_buffered", "ours: Count-Min behind a per-thread filter of hot keys, flushed in batches");
  f.template operator()<heavy_hitters_ours>(
      "heavy_hitters", "ours: one Misra-Gries summary per thread, merged at query; every key above N/m in top(k)");
  f.template operator()<hot_key_detector_ours>(
      "hot_key_detector", "ours: sampled observe into per-thread aged Count-Min sketches (summed on a check) + table of keys above a share φ");
}

}  // namespace hotshard::contenders
