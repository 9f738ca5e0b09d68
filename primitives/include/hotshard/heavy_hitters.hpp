// hotshard/heavy_hitters.hpp — top-K heavy hitters: a conservative-update
// Count-Min sketch plus a lock-free candidate table of the keys above N/m.
//
// Algorithm: the "sketch + heap" scheme of Charikar, Chen & Farach-Colton
// ("Finding frequent items in data streams", ICALP 2002,
// doi:10.1007/3-540-45465-9_59) and Cormode & Muthukrishnan (2005,
// doi:10.1016/j.jalgor.2003.12.001, §5.1), with the heap replaced by a
// fixed-size lock-free open-addressing table (detail/sketch_support.hpp) so
// that no add takes a lock. Each add updates the sketch (conservative update,
// count_min_sketch.hpp); N (additions so far) is read from a striped ticker
// that lags the truth, which only lowers the bars. A key whose estimate is ≥
// N/slots (slots = 4m rounded up to a power of two) is a candidate: it is put
// in the table if its probe window has a free slot or a resident whose current
// estimate fell below N/slots. If not, and its estimate is ≥ N/m, it may
// displace a resident whose current estimate is below N/m. The lower bar keeps
// more than the guaranteed keys, so top(k) ranks well on flatter streams too.
//
// Guarantee: every key whose count exceeds N/m (N = the sum of all counts
// added, m = `capacity`) is in the table once the adds are done, so top(k)
// reports it when k ≥ the number of such keys. Why: at the key's last add its
// estimate was ≥ its final count > N/m ≥ the bar at that time, so it was put
// in (or found); a resident is evicted only when its *current* estimate is
// below the bar of the key that displaces it (N/slots or N/m ≤ the bar at the
// end), and a key's estimate never drops below its count. The one way to
// miss: its 16-slot probe window held only keys that were themselves above
// N/m; `overflows()` counts those events. They are rare: with
// probability ≥ 1 − δ per key, a key above the bar has count ≥ N/m − εN, so
// at most m/(1 − εm) keys are above it (1.25m at the defaults), in a table of
// 4m slots.
// top(k) returns counts that are sketch estimates: count ≥ true count, and
// count − error ≤ true count with probability ≥ 1 − δ, error = ⌈εN⌉.
//
// Keys must be trivially copyable and at most 8 bytes (the table stores the
// key itself in one atomic word, so top() can name it).
//
// Progress guarantees:
//  * add(): lock-free (the conservative update may retry); the table part is
//    wait-free (≤ 16 probes, each CAS tried once, with an estimate per
//    eviction candidate).
//  * estimate(): wait-free. top(k): wait-free per slot (a scan of the table
//    and an estimate per candidate), O(slots + c log c) time, allocates.
//
// What a concurrent reader may see: top() scans slots one by one while adds
// continue: a key inserted or evicted during the scan may or may not appear;
// counts are estimates taken during the scan. Once adds are done and happen-
// before top() (join), the guarantee above holds for the full stream.
//
// Memory ordering: sketch counters and the ticker are relaxed (counts order
// nothing); table words are claimed with an acq_rel CAS and read with acquire
// (detail/sketch_support.hpp) — the key is the whole word, so a reader that
// sees it sees all of it.
//
// Memory: the sketch (8 × width × depth) + 16 × 4m rounded up to a power of two
// + ~1.2 KiB (ticker stripes).
#pragma once

#include <hotshard/concepts/frequency_sketch.hpp>
#include <hotshard/count_min_sketch.hpp>
#include <hotshard/detail/sketch_support.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace hotshard {

struct heavy_hitters_options {
  std::size_t capacity = 1024;   // m: every key above N/m is kept
  double epsilon = 0.0002;       // sketch error (see count_min_sketch.hpp)
  double delta = 0.01;
  std::uint64_t seed = 0x243f6a8885a308d3ULL;
};

template <class Key, class Hash = std::hash<Key>, class Stats = detail::no_stats>
class heavy_hitters {
  static_assert(detail::word_key<Key>, "heavy_hitters: Key must be trivially copyable and at most 8 bytes");

 public:
  using key_type = Key;
  using entry = heavy_hitter<Key>;

  explicit heavy_hitters(heavy_hitters_options opt = {})
      : opt_(opt),
        sketch_(opt.epsilon, opt.delta, count_min_options{update_policy::conservative, opt.seed, 0}),
        table_(4 * std::max<std::size_t>(opt.capacity, 1)) {}

  void add(const Key& key, std::uint64_t count = 1) noexcept {
    if (count == 0) return;
    const std::uint64_t h = sketch_type::hash_of(key);
    const std::uint64_t est = sketch_.add_hashed(h, count);
    ticker_.tick(count);
    const std::uint64_t published = ticker_.published();
    const std::uint64_t admit = published / table_.capacity();  // the lower bar: candidates
    if (est < admit || est == 0) return;
    const std::uint64_t word = detail::key_to_word(key);
    const auto below = [&](std::uint64_t limit) {
      return [&, limit](std::uint64_t resident, std::uint64_t) noexcept {
        return sketch_.estimate_hashed(sketch_type::hash_of(detail::word_to_key<Key>(resident))) < limit;
      };
    };
    if (table_.touch(word, h, below(admit)) != nullptr) return;
    // The window is full of candidates: a key above N/m may displace one below N/m.
    const std::uint64_t bar = published / opt_.capacity;
    if (est < bar) return;
    if (table_.touch(word, h, below(bar)) == nullptr) overflows_.fetch_add(1, std::memory_order_relaxed);  // counts only
  }

  [[nodiscard]] std::uint64_t estimate(const Key& key) const noexcept { return sketch_.estimate(key); }

  // Up to k candidates, heaviest first.
  [[nodiscard]] std::vector<entry> top(std::size_t k) const {
    std::vector<entry> out;
    std::vector<std::uint64_t> seen;
    table_.for_each([&](std::uint64_t w, std::uint64_t) { seen.push_back(w); });
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    const auto error = static_cast<std::uint64_t>(std::ceil(sketch_.epsilon() * static_cast<double>(total())));
    out.reserve(seen.size());
    for (const std::uint64_t w : seen) {
      const Key key = detail::word_to_key<Key>(w);
      out.push_back({key, sketch_.estimate(key), error});
    }
    const std::size_t n = std::min(k, out.size());
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(),
                      [](const entry& a, const entry& b) { return a.count > b.count; });
    out.resize(n);
    return out;
  }

  // N: every count added (exact once the adders are joined).
  [[nodiscard]] std::uint64_t total() const noexcept { return ticker_.count(); }
  [[nodiscard]] std::size_t capacity() const noexcept { return opt_.capacity; }
  [[nodiscard]] std::uint64_t overflows() const noexcept { return overflows_.load(std::memory_order_relaxed); }
  [[nodiscard]] double epsilon() const noexcept { return sketch_.epsilon(); }
  [[nodiscard]] double delta() const noexcept { return sketch_.delta(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return sizeof(*this) - sizeof(sketch_) - sizeof(table_) + sketch_.memory_bytes() + table_.memory_bytes();
  }

 private:
  using sketch_type = count_min_sketch<Key, Hash, Stats>;

  heavy_hitters_options opt_;
  sketch_type sketch_;
  detail::candidate_table table_;
  detail::sketch_ticker ticker_;
  std::atomic<std::uint64_t> overflows_{0};
};

}  // namespace hotshard
