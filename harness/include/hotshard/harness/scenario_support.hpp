// hotshard/harness/scenario_support.hpp — small pieces every family's scenario
// file needs, written once: the parsed workload of a request, how many keys a
// worker pre-generates, and the implementation list of a contender registry.
#pragma once

#include <hotshard/harness/scenario.hpp>
#include <hotshard/workloads/spec.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <string>
#include <vector>

namespace hotshard::harness {

// The request's workload spec; a bad one is a usage error naming --workload.
// (The CLI validates specs before running, so this fires only for specs built
// by code, e.g. a suite plan.)
inline workloads::workload_spec workload_of(const run_request& r) {
  try {
    return workloads::parse_spec(r.workload);
  } catch (const workloads::spec_error& e) {
    throw usage_error(std::string("--workload: ") + e.what());
  }
}

// Keys each worker pre-generates before the clock starts (replayed cyclically
// by op(i)): a power of two, about 4 Mi keys over all threads, so generation
// stays out of the measured loop and the key arrays stay bounded in memory.
inline std::size_t keys_per_thread(unsigned threads) {
  const std::size_t share = (std::size_t{1} << 22) / std::max(1u, threads);
  return std::bit_floor(std::clamp<std::size_t>(share, std::size_t{1} << 12, std::size_t{1} << 20));
}

// The {name, description} list of a family registry, whose for_each calls
// f.template operator()<Impl>(name, description) once per implementation.
template <class ForEach>
std::vector<implementation_info> impls_of(ForEach&& for_each) {
  std::vector<implementation_info> out;
  for_each([&]<class>(const char* name, const char* description) { out.push_back({name, description}); });
  return out;
}

}  // namespace hotshard::harness
