// hotshard/workloads/viral.hpp — the `viral:` workload: a steady Zipf stream
// that a viral key takes over, then a herd on the hottest keys (the Black
// Friday stream of the hot-partition scenario).
//
//   viral:n=N[,s=S][,reads=F][,start=F][,share=F][,herd_start=F][,herd_length=F][,herd_keys=K]
//
// A pure function of the seed and the global operation index g in [0, L),
// L the run's length in operations over all threads; the phases are
// fractions of L, so a run of any length shows all of them:
//   [0, start·L)         steady: Zipf(N, S) ranks scrambled over [0, N)
//                        (zipf.hpp scramble), a fraction `reads` of them gets,
//                        the rest puts;
//   [start·L, L)         the viral key (key N, new) takes a share `share` of
//                        all operations, gets and puts as above;
//   [herd_start·L, (herd_start + herd_length)·L)
//                        a herd: every op is a get of one of the herd_keys
//                        hottest keys (the top herd_keys - 1 Zipf ranks and the
//                        viral key), in turn.
// Defaults: S = 0.99, reads = 0.8, start = 0.3, share = 0.5, herd_start = 0.7,
// herd_length = 0.03, herd_keys = 8 (at most N + 1). Keys lie in [0, N + 1).
// Unlike the other synthetic streams the op kinds are the workload's own
// (reads=, the herd's gets): generate_operations ignores its read_fraction.
//
// Progress: at() is expected O(1) (the Zipf rejection loop) and shares
// nothing mutable: a schedule may be read by any number of threads.
// Memory ordering: no atomics.
#pragma once

#include <hotshard/workloads/operation.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/zipf.hpp>

#include <cstdint>
#include <vector>

namespace hotshard::workloads {

struct viral_config {
  std::uint64_t n = 1'000'000;  // Zipf key space; the viral key is n
  double s = 0.99;
  double reads = 0.8;           // share of gets outside the herd
  double start = 0.3;           // fractions of the run
  double share = 0.5;           // of all operations once the viral key appeared
  double herd_start = 0.7;
  double herd_length = 0.03;
  std::uint64_t herd_keys = 8;  // the viral key + the top herd_keys - 1 Zipf ranks
};

// The parameters of a viral: spec. spec_error if the spec is not viral: or
// herd_keys exceeds n + 1 (there are only n + 1 keys).
[[nodiscard]] viral_config viral_config_of(const workload_spec& spec);

// The op at each global index g of a `length`-op run.
class viral_schedule {
 public:
  viral_schedule(const viral_config& config, std::uint64_t seed, std::uint64_t length);

  [[nodiscard]] operation at(std::uint64_t g) const noexcept;

  [[nodiscard]] std::uint64_t viral_key() const noexcept { return config_.n; }
  [[nodiscard]] std::uint64_t key_of_rank(std::uint64_t rank) const noexcept { return scramble(rank, config_.n); }
  // The herd's keys: the top herd_keys - 1 ranks' keys, then the viral key.
  [[nodiscard]] const std::vector<std::uint64_t>& herd() const noexcept { return herd_; }
  // Global op indices where the viral key appears and the herd begins and ends.
  [[nodiscard]] std::uint64_t viral_begin() const noexcept { return at_fraction(config_.start); }
  [[nodiscard]] std::uint64_t herd_begin() const noexcept { return at_fraction(config_.herd_start); }
  [[nodiscard]] std::uint64_t herd_end() const noexcept {
    return at_fraction(config_.herd_start + config_.herd_length);
  }
  [[nodiscard]] std::uint64_t length() const noexcept { return length_; }
  [[nodiscard]] const viral_config& config() const noexcept { return config_; }

 private:
  [[nodiscard]] std::uint64_t at_fraction(double f) const noexcept {
    return static_cast<std::uint64_t>(f * static_cast<double>(length_));
  }

  viral_config config_;
  std::uint64_t seed_;
  std::uint64_t length_;
  zipf_generator zipf_;
  std::vector<std::uint64_t> herd_;
};

}  // namespace hotshard::workloads
