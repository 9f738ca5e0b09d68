// TEMPORARY stand-in for FRAMEWORK.md's dispatch/thread_keys (scenario_support.hpp); deleted at the merge of main.
#pragma once
#include <hotshard/harness/scenario_support.hpp>
#include <hotshard/workloads/stream.hpp>
#include <optional>
namespace hotshard::harness {
template <class ForEach, class Run>
result_record dispatch(const run_request& r, ForEach&& for_each, Run&& run) {
  std::optional<result_record> out;
  for_each([&]<class Impl>(const char* name, const char*) {
    if (!out && r.impl == name) out = run.template operator()<Impl>(r);
  });
  if (!out) throw usage_error("--impl: '" + r.impl + "' is not an implementation of " + r.scenario);
  return std::move(*out);
}
inline std::vector<std::uint64_t> thread_keys(const run_request& r, const workloads::workload_spec& spec, unsigned t) {
  return workloads::generate_keys(spec, r.seed, t, r.threads, keys_per_thread(r.threads));
}
}  // namespace hotshard::harness
