// hotshard/workloads/zipf.hpp — Zipf ranks in O(1) setup and O(1) expected
// time per sample, and the rank-to-key scramble.
//
// Algorithm: rejection-inversion, W. Hörmann and G. Derflinger, "Rejection-
// inversion to generate variates from monotone discrete distributions", ACM
// TOMACS 6(3):169-184, 1996, https://doi.org/10.1145/235025.235029.
// P(rank = k) = (k+1)^-s / H(n, s) for k in [0, n), with H the generalised
// harmonic number. The sampler inverts the integral of the continuous hat
// h(x) = x^-s, rounds to the nearest integer and accepts with a test that
// needs no normaliser, so setup does not depend on n, where YCSB's
// ZipfianGenerator first sums n terms of the zeta series (bench-workloads
// times both). Any s > 0 works, s = 1 included (the hat integral becomes a
// logarithm: H(x) uses expm1(t)/t, continuous at t = 0, and its inverse becomes
// exp), and any n up to 2^63. The loop runs 1.001 to 1.004 times per sample
// on average for s in {0.5, 0.99, 1.2}; the cheap squeeze test decides about
// 98% of the samples, ranks up to `table_size` read their acceptance bound from
// a table built at setup, and only the remaining ~1% evaluate H and h.
// The arithmetic is double precision: beyond rank 2^53 the sampled ranks are
// spaced by the double grid (the law of any range of ranks is still right).
//
// scramble(rank, n): a fixed bijection on [0, n) (a keyed xorshift-multiply
// permutation of the next power of two, cycle-walked into [0, n); Black &
// Rogaway, "Ciphers with arbitrary finite domains", CT-RSA 2002), so hot ranks
// land on keys spread over the whole key space and every key stays below n,
// which range routing and key_space_of rely on.
//
// Progress: construction and sampling are wait-free apart from the rejection
// loop, which ends with probability 1 (expected < 1.1 rounds); scramble is
// wait-free in expectation (< 2 rounds). A zipf_generator is immutable after
// construction, so threads may share one; each uses its own generator.
// Memory ordering: no shared mutable state, no atomics.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace hotshard::workloads {

class zipf_generator {
 public:
  static constexpr std::uint64_t max_n = std::uint64_t{1} << 63;
  static constexpr std::size_t table_size = 64;

  // n in [1, 2^63], s > 0 and finite; std::invalid_argument otherwise.
  zipf_generator(std::uint64_t n, double s);

  // A rank in [0, n); rank 0 is the most frequent.
  template <class Rng>
  [[nodiscard]] std::uint64_t operator()(Rng& rng) const noexcept {
    for (;;) {
      const double u = h_integral_n_ + rng.uniform01() * (h_integral_x1_ - h_integral_n_);
      const double x = h_integral_inverse(u);
      // k = round(x) clamped to [1, n]; x >= 0, so truncating x + 0.5 rounds (and
      // needs no floor() call, which is a library call without SSE4.1).
      const double x_half = x + 0.5;
      double k;
      if (x_half < 1.0) {
        k = 1.0;
      } else if (x_half >= n_double_) {
        k = n_double_;
      } else {
        k = static_cast<double>(static_cast<std::int64_t>(x_half));  // x_half < n <= 2^63
      }
      if (k - x <= squeeze_) return to_rank(k);
      if (k <= static_cast<double>(table_size)) {
        if (u >= accept_[static_cast<std::size_t>(k) - 1]) return to_rank(k);
      } else if (u >= h_integral(k + 0.5) - h(k)) {
        return to_rank(k);
      }
    }
  }

  [[nodiscard]] std::uint64_t n() const noexcept { return n_; }
  [[nodiscard]] double s() const noexcept { return s_; }

 private:
  [[nodiscard]] std::uint64_t to_rank(double k) const noexcept {
    // k is in [1, n] but n = 2^63 rounds up in double arithmetic: clamp in integers.
    const auto r = static_cast<std::uint64_t>(k);
    return (r > n_ ? n_ : r) - 1;
  }
  // (exp(t) - 1) / t, continuous at t = 0 (where s = 1).
  static double expm1_over(double t) noexcept {
    return std::abs(t) > 1e-8 ? std::expm1(t) / t : 1.0 + t * 0.5 * (1.0 + t / 3.0);
  }
  // H(x) = (x^(1-s) - 1) / (1-s), the integral of the hat (log x when s = 1).
  [[nodiscard]] double h_integral(double x) const noexcept {
    const double log_x = std::log(x);
    return expm1_over(one_minus_s_ * log_x) * log_x;
  }
  [[nodiscard]] double h(double x) const noexcept { return std::exp(-s_ * std::log(x)); }
  // H^-1(y) = (1 + (1-s) y)^(1/(1-s)), exp(y) when s = 1.
  [[nodiscard]] double h_integral_inverse(double y) const noexcept {
    if (one_minus_s_ == 0.0) return std::exp(y);
    double t = y * one_minus_s_;
    if (t < -1.0) t = -1.0;  // rounding only: keeps the logarithm defined
    // log(1 + t) is off by the rounding of 1 + t, an absolute 1.1e-16, which the
    // division by 1-s turns into a relative error of x below 1.1e-13 when
    // |1-s| >= 1e-3: no sample can show it. Nearer to s = 1 log1p is needed.
    // Which one is faster depends on t (glibc 2.36: log1p is quicker for
    // |t| < 1/2, log beyond), and a choice per call mispredicts whenever t's
    // range straddles the cut-off, so the constructor picks one per generator
    // from the range of t.
    return std::exp((use_log1p_ ? std::log1p(t) : std::log(1.0 + t)) * inverse_one_minus_s_);
  }

  std::uint64_t n_;
  double n_double_;
  double s_;
  double one_minus_s_;
  double inverse_one_minus_s_;
  bool use_log1p_;
  double h_integral_x1_;
  double h_integral_n_;
  double squeeze_;
  std::array<double, table_size> accept_{};  // H(k + 0.5) - h(k) for k = 1..table_size
};

// A fixed bijection on [0, n), n >= 1 (see the header comment).
[[nodiscard]] constexpr std::uint64_t scramble(std::uint64_t rank, std::uint64_t n) noexcept {
  if (n <= 1) return 0;
  const int bits = std::bit_width(n - 1);
  const std::uint64_t mask = bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
  const int shift = (bits + 1) / 2;
  std::uint64_t x = rank;
  do {
    // Each step is a bijection on `bits`-bit words: adding a constant, multiplying
    // by an odd constant (both mod 2^bits) and x ^= x >> shift.
    x = (x + 0x2545f4914f6cdd1dULL) & mask;
    x = (x * 0x9e3779b97f4a7c15ULL) & mask;
    x ^= x >> shift;
    x = (x * 0xbf58476d1ce4e5b9ULL) & mask;
    x ^= x >> shift;
    x = (x * 0x94d049bb133111ebULL) & mask;
    x ^= x >> shift;
  } while (x >= n);
  return x;
}

}  // namespace hotshard::workloads
