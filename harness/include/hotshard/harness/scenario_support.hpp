// hotshard/harness/scenario_support.hpp — small pieces every family's scenario
// file needs, written once: the parsed workload of a request, the keys a
// worker pre-generates, the implementation list of a contender registry and
// the dispatch from an implementation name to its type.
#pragma once

#include <hotshard/harness/scenario.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>
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

// Thread t's keys for a request: keys_per_thread(r.threads) keys of `spec`,
// seeded by the request, generated before the clock starts.
inline std::vector<std::uint64_t> thread_keys(const run_request& r, const workloads::workload_spec& spec,
                                              unsigned t) {
  return workloads::generate_keys(spec, r.seed, t, r.threads, keys_per_thread(r.threads));
}

// The implementation list of a family registry, whose for_each calls
// f.template operator()<Impl>(name, description) once per implementation;
// `ours` names hotshard's own among them (a name not in the registry is a
// logic_error: the list and the registry disagree).
template <class ForEach>
std::vector<implementation_info> impls_of(ForEach&& for_each, std::initializer_list<std::string_view> ours = {}) {
  std::vector<implementation_info> out;
  for_each([&]<class>(const char* name, const char* description) {
    out.push_back({name, description, std::find(ours.begin(), ours.end(), std::string_view(name)) != ours.end()});
  });
  for (const auto o : ours)
    if (std::none_of(out.begin(), out.end(), [&](const implementation_info& i) { return i.name == o; }))
      throw std::logic_error("impls_of: '" + std::string(o) + "' is marked ours but is not in the registry");
  return out;
}

// The one dispatch from a request's implementation name to its type in a
// family registry: returns run.template operator()<Impl>(r) for the entry
// named r.impl; usage_error naming --impl when there is none.
template <class ForEach, class Run>
result_record dispatch(const run_request& r, ForEach&& for_each, Run&& run) {
  result_record out;
  bool found = false;
  for_each([&]<class Impl>(const char* name, const char*) {
    if (!found && r.impl == name) {
      found = true;
      out = run.template operator()<Impl>(r);
    }
  });
  if (!found) throw usage_error("--impl: '" + r.impl + "' is not an implementation of " + r.scenario);
  return out;
}

}  // namespace hotshard::harness
