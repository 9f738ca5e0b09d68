// hotshard/harness/pairing.hpp — the order in which one suite step's runs go.
//
// Repetition k of every implementation runs before repetition k + 1 of any,
// and within a repetition the implementations at one thread count run back
// to back, in an order shuffled by the seed and the repetition. So the two
// runs of a "paired" ratio (rep k of ours ÷ rep k of a contender) are seconds
// apart, not minutes, and no implementation always goes first (after a
// compile, a thermal swing, or another tenant's burst).
//
// Thread safety: pure functions.
#pragma once

#include <hotshard/detail/hash.hpp>

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

namespace hotshard::harness {

struct run_slot {
  std::size_t impl = 0;     // index into the step's implementations
  std::size_t threads = 0;  // index into the step's thread counts
  unsigned repetition = 0;
};

[[nodiscard]] inline std::vector<run_slot> paired_order(std::size_t impls, std::size_t thread_counts,
                                                        unsigned repetitions, std::uint64_t seed) {
  std::vector<run_slot> out;
  out.reserve(impls * thread_counts * repetitions);
  std::vector<std::size_t> order(impls);
  for (unsigned rep = 0; rep < repetitions; ++rep)
    for (std::size_t t = 0; t < thread_counts; ++t) {
      std::iota(order.begin(), order.end(), std::size_t{0});
      // Fisher-Yates on a SplitMix64 stream of (seed, rep, t).
      std::uint64_t s = detail::mix64(seed ^ detail::mix64((std::uint64_t{rep} << 32) ^ t));
      for (std::size_t i = impls; i > 1; --i) {
        s += 0x9e3779b97f4a7c15ULL;
        std::swap(order[i - 1], order[detail::mix64(s) % i]);
      }
      for (const std::size_t i : order) out.push_back({i, t, rep});
    }
  return out;
}

}  // namespace hotshard::harness
