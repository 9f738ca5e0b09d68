// harness/contenders/hot_partition_stream.hpp — the operations a
// hot-partition run replays: the Black Friday stream (see hot_partition.hpp
// for its phases) and op_source, the pluggable form any source takes (a
// recorded trace wrapped as op(g) drives the client the same way).
//
// Thread safety: a stream is immutable after construction; at_index() may be
// called from any number of threads.
#pragma once

#include <hotshard/detail/hash.hpp>
#include <hotshard/workloads/operation.hpp>
#include <hotshard/workloads/rng.hpp>
#include <hotshard/workloads/zipf.hpp>

#include <cstdint>
#include <functional>
#include <vector>

namespace hotshard::harness::hot_partition {

struct stream_config {
  std::uint64_t n = 1'000'000;   // Zipf key space; the viral key is n
  double s = 0.99;
  double read_fraction = 0.8;
  double viral_start = 0.3;      // fractions of the run
  double viral_share = 0.5;      // of all operations once the viral key appeared
  double herd_start = 0.7;
  double herd_length = 0.03;
  unsigned herd_keys = 8;        // the viral key + the top herd_keys - 1 Zipf ranks
};

// The op at global index g of an N-op stream. Deterministic in (seed, g).
struct stream {
  stream(stream_config c, std::uint64_t seed) : cfg(c), seed_(seed), zipf_(c.n, c.s) {
    for (unsigned r = 0; r + 1 < cfg.herd_keys; ++r) herd_.push_back(key_of_rank(r));
    herd_.push_back(viral_key());
  }

  [[nodiscard]] std::uint64_t viral_key() const noexcept { return cfg.n; }
  [[nodiscard]] std::uint64_t key_of_rank(std::uint64_t r) const noexcept { return workloads::scramble(r, cfg.n); }
  [[nodiscard]] const std::vector<std::uint64_t>& herd() const noexcept { return herd_; }

  [[nodiscard]] std::uint64_t herd_begin(std::uint64_t N) const noexcept { return at(cfg.herd_start, N); }
  [[nodiscard]] std::uint64_t herd_end(std::uint64_t N) const noexcept {
    return at(cfg.herd_start + cfg.herd_length, N);
  }

  [[nodiscard]] workloads::operation at_index(std::uint64_t g, std::uint64_t N) const noexcept {
    workloads::xoshiro256ss rng(detail::mix64(seed_ ^ detail::mix64(g + 0x9e3779b97f4a7c15ULL)));
    if (g >= herd_begin(N) && g < herd_end(N)) return {herd_[g % herd_.size()], workloads::op_kind::get};
    const bool read = rng.uniform01() < cfg.read_fraction;
    const auto op = read ? workloads::op_kind::get : workloads::op_kind::put;
    if (g >= at(cfg.viral_start, N) && rng.uniform01() < cfg.viral_share) return {viral_key(), op};
    return {key_of_rank(zipf_(rng)), op};
  }

  stream_config cfg;

  static std::uint64_t at(double fraction, std::uint64_t N) noexcept {
    return static_cast<std::uint64_t>(fraction * static_cast<double>(N));
  }

 private:
  std::uint64_t seed_;
  workloads::zipf_generator zipf_;
  std::vector<std::uint64_t> herd_;
};

// Where a run's operations come from: the op at global index g of N, when
// the herd fires (cache entries of `herd` invalidated at once; never for a
// source without one) and its keys. A trace reader can be wrapped the same way.
struct op_source {
  std::function<workloads::operation(std::uint64_t g)> at;
  std::uint64_t herd_begin = ~std::uint64_t{0};
  std::vector<std::uint64_t> herd;
};

// The Black Friday stream of N operations as a source (`s` must outlive it).
[[nodiscard]] inline op_source black_friday(const stream& s, std::uint64_t N) {
  return {[&s, N](std::uint64_t g) { return s.at_index(g, N); }, s.herd_begin(N), s.herd()};
}

}  // namespace hotshard::harness::hot_partition
