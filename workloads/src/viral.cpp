// The viral: workload (viral.hpp). at(g) seeds a generator from (seed, g)
// alone, so the op at g is the same whichever thread draws it and however
// many threads share the run.
#include <hotshard/workloads/rng.hpp>
#include <hotshard/workloads/viral.hpp>

#include <hotshard/detail/hash.hpp>

#include <string>

namespace hotshard::workloads {

viral_config viral_config_of(const workload_spec& spec) {
  if (spec.kind != "viral") throw spec_error("expected a viral:n=N,... workload (got \"" + spec.text + "\")");
  viral_config c;
  c.n = spec.integer("n");
  c.s = spec.number("s");
  c.reads = spec.number("reads");
  c.start = spec.number("start");
  c.share = spec.number("share");
  c.herd_start = spec.number("herd_start");
  c.herd_length = spec.number("herd_length");
  c.herd_keys = spec.integer("herd_keys");
  if (c.herd_keys > c.n + 1) {
    throw spec_error("viral: parameter 'herd_keys' must be at most n + 1 = " + std::to_string(c.n + 1) + " (got " +
                     std::to_string(c.herd_keys) + ")");
  }
  return c;
}

viral_schedule::viral_schedule(const viral_config& config, std::uint64_t seed, std::uint64_t length)
    : config_(config), seed_(seed), length_(length), zipf_(config.n, config.s) {
  for (std::uint64_t r = 0; r + 1 < config_.herd_keys; ++r) herd_.push_back(key_of_rank(r));
  herd_.push_back(viral_key());
}

operation viral_schedule::at(std::uint64_t g) const noexcept {
  xoshiro256ss rng(detail::mix64(seed_ ^ detail::mix64(g + 0x9e3779b97f4a7c15ULL)));
  if (g >= herd_begin() && g < herd_end()) return {herd_[g % herd_.size()], op_kind::get};
  const op_kind op = rng.uniform01() < config_.reads ? op_kind::get : op_kind::put;
  if (g >= viral_begin() && rng.uniform01() < config_.share) return {viral_key(), op};
  return {key_of_rank(zipf_(rng)), op};
}

}  // namespace hotshard::workloads
