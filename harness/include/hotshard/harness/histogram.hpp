// hotshard/harness/histogram.hpp — a mergeable log-linear latency histogram.
//
// HDR-style (Gil Tene's HdrHistogram, http://hdrhistogram.org): values are
// bucketed by their power of two ("magnitude") and, inside it, into
// 2^sub_bucket_bits linear sub-buckets, so every recorded value is known to a
// relative error of at most 2^-sub_bucket_bits (1/64 ≈ 1.6% here) from 1 ns to
// 2^40 ns (≈ 18 minutes); larger values land in the top bucket and `max()`
// stays exact. One histogram per thread, merged after the run: recording is a
// plain increment with no shared writes.
//
// Thread safety: none; each instance belongs to one thread until merged.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace hotshard::harness {

class latency_histogram {
 public:
  static constexpr unsigned sub_bucket_bits = 6;
  static constexpr unsigned magnitudes = 41;  // values up to 2^40 ns
  static constexpr double relative_error = 1.0 / (1u << sub_bucket_bits);

  void record(std::uint64_t ns) noexcept {
    ++counts_[index_of(ns)];
    ++count_;
    if (ns > max_) max_ = ns;
    if (ns < min_) min_ = ns;
  }

  void merge(const latency_histogram& other) noexcept {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    if (other.max_ > max_) max_ = other.max_;
    if (other.min_ < min_) min_ = other.min_;
  }

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ ? min_ : 0; }

  // How many recorded values fall in v's bucket or above: exactly the count
  // of values >= v when v is a bucket's lower edge (any v below 128).
  [[nodiscard]] std::uint64_t count_at_least(std::uint64_t v) const noexcept {
    std::uint64_t n = 0;
    for (std::size_t i = index_of(v); i < counts_.size(); ++i) n += counts_[i];
    return n;
  }

  // The value at quantile q in [0, 1]: the upper edge of the bucket that holds
  // the q-th recorded value, clamped to the exact max. 0 when empty.
  [[nodiscard]] std::uint64_t percentile(double q) const noexcept {
    if (count_ == 0) return 0;
    if (q <= 0) return min();
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_) + 0.5);
    if (rank == 0) rank = 1;
    if (rank >= count_) return max_;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t hi = upper_edge(i);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }

 private:
  static constexpr std::uint64_t sub_buckets = 1u << sub_bucket_bits;

  // Values below 2*sub_buckets are stored exactly; above, magnitude m keeps
  // the top sub_bucket_bits bits below the leading one.
  static constexpr std::size_t index_of(std::uint64_t v) noexcept {
    if (v < 2 * sub_buckets) return static_cast<std::size_t>(v);
    unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
    if (msb >= magnitudes) return bucket_count - 1;
    const unsigned shift = msb - sub_bucket_bits;
    const std::uint64_t sub = (v >> shift) - sub_buckets;  // in [0, sub_buckets)
    return static_cast<std::size_t>(2 * sub_buckets + (msb - sub_bucket_bits - 1) * sub_buckets + sub);
  }

  static constexpr std::uint64_t upper_edge(std::size_t i) noexcept {
    if (i < 2 * sub_buckets) return i;
    const std::size_t j = i - 2 * sub_buckets;
    const unsigned shift = static_cast<unsigned>(j / sub_buckets) + 1;
    const std::uint64_t sub = j % sub_buckets + sub_buckets;
    return ((sub + 1) << shift) - 1;
  }

  static constexpr std::size_t bucket_count =
      2 * sub_buckets + (magnitudes - sub_bucket_bits - 1) * sub_buckets;

  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
};

}  // namespace hotshard::harness
