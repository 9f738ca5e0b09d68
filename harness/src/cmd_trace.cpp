// `trace gen` and `trace stats`.
//
// trace gen writes the records interleaved: record g = i*T + t is thread t's
// i-th operation. That is the global order the workloads number operations
// in, and replaying the file with T threads (thread t takes records t, t+T,
// ...) gives every thread exactly the stream it was generated from. Keys come
// from make_stream (streamed, so memory stays bounded whatever --ops is); each
// op is a get with probability --read-fraction, drawn from a generator
// separate from the keys', else a put.
#include "cli.hpp"

#include <hotshard/detail/hash.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>
#include <hotshard/workloads/trace.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>

namespace hotshard::harness::cli {

int trace_gen(const trace_gen_args& a) {
  workloads::workload_spec spec;
  try {
    spec = workloads::parse_spec(a.spec);
  } catch (const workloads::spec_error& e) {
    throw usage_error(std::string("trace gen: SPEC: ") + e.what());
  }
  if (a.ops.empty()) throw usage_error("trace gen: --ops N is required (the number of records)");
  const std::uint64_t ops = parse_count("--ops", a.ops, 1);
  const std::uint64_t seed = parse_count("--seed", a.seed, 0);
  const auto threads_list = parse_threads("--threads", a.threads);
  if (threads_list.size() != 1) throw usage_error("--threads: give one thread count for trace gen");
  const unsigned T = threads_list.front();
  const double read_fraction = parse_non_negative("--read-fraction", a.read_fraction);
  if (read_fraction > 1) throw usage_error("--read-fraction: '" + a.read_fraction + "' is not in [0, 1]");
  workloads::trace_format format;
  if (a.format == "text")
    format = workloads::trace_format::text;
  else if (a.format == "binary")
    format = workloads::trace_format::binary;
  else
    throw usage_error("--format: '" + a.format + "' is not accepted; accepted: text, binary");
  if (a.out.empty()) throw usage_error("trace gen: --out FILE is required");
  check_writable("--out", a.out);

  std::vector<std::unique_ptr<workloads::key_stream>> streams;
  std::vector<std::uint64_t> op_state;
  try {
    for (unsigned t = 0; t < T; ++t) {
      streams.push_back(workloads::make_stream(spec, seed, t, T));
      op_state.push_back(detail::mix64(seed ^ detail::mix64(0x6f70ULL + t)));
    }
  } catch (const workloads::spec_error& e) {
    throw usage_error(std::string("trace gen: SPEC: ") + e.what());
  } catch (const workloads::trace_error& e) {
    throw usage_error(std::string("trace gen: ") + e.what());
  }
  const auto threshold = static_cast<std::uint64_t>(std::ldexp(read_fraction, 53));
  try {
    workloads::trace_writer w(a.out, format);
    for (std::uint64_t g = 0; g < ops; ++g) {
      const auto t = static_cast<unsigned>(g % T);
      std::uint64_t& s = op_state[t];
      s += 0x9e3779b97f4a7c15ULL;  // SplitMix64 step for the op kind
      const bool get = (detail::mix64(s) >> 11) < threshold;
      w.write({streams[t]->next(), get ? workloads::op_kind::get : workloads::op_kind::put});
    }
    w.close();
    std::fprintf(stderr, "trace gen: %llu records (%s, %u interleaved thread streams) -> %s\n",
                 static_cast<unsigned long long>(w.records()), a.format.c_str(), T, a.out.c_str());
  } catch (const workloads::trace_error& e) {
    throw run_failure(std::string("trace gen: ") + e.what());
  }
  return 0;
}

int trace_stats(const std::string& file, const std::string& top, bool json) {
  const auto n = static_cast<std::size_t>(parse_count("--top", top, 0));
  workloads::trace_statistics st;
  try {
    st = workloads::analyze_trace(file, n);
  } catch (const workloads::trace_error& e) {
    throw usage_error(std::string("trace stats: ") + e.what());
  }
  if (json) {
    nlohmann::json j = {{"file", file},
                        {"records", st.records},
                        {"distinct_keys", st.distinct_keys},
                        {"per_op", nlohmann::json::object()},
                        {"zipf_s_estimate", st.zipf_s_estimate},
                        {"top", nlohmann::json::array()}};
    for (std::size_t k = 0; k < workloads::op_kind_count; ++k)
      j["per_op"][std::string(workloads::op_name(static_cast<workloads::op_kind>(k)))] = st.per_op[k];
    for (const auto& [key, count] : st.top) j["top"].push_back({{"key", key}, {"count", count}});
    std::cout << j.dump(2) << '\n';
    return 0;
  }
  const double total = st.records ? static_cast<double>(st.records) : 1.0;
  std::printf("file:            %s\nrecords:         %llu\ndistinct keys:   %llu\n", file.c_str(),
              static_cast<unsigned long long>(st.records), static_cast<unsigned long long>(st.distinct_keys));
  std::printf("ops:            ");
  for (std::size_t k = 0; k < workloads::op_kind_count; ++k)
    std::printf(" %s=%llu", std::string(workloads::op_name(static_cast<workloads::op_kind>(k))).c_str(),
                static_cast<unsigned long long>(st.per_op[k]));
  std::printf("\nzipf s estimate: %.3f%s\n", st.zipf_s_estimate,
              st.zipf_s_estimate == 0 ? " (too few repeated keys to estimate)" : "");
  if (!st.top.empty()) {
    std::printf("top keys:\n  %-6s %-22s %12s %8s\n", "rank", "key", "count", "share");
    std::size_t rank = 1;
    for (const auto& [key, count] : st.top)
      std::printf("  %-6zu %-22llu %12llu %7.3f%%\n", rank++, static_cast<unsigned long long>(key),
                  static_cast<unsigned long long>(count), 100.0 * static_cast<double>(count) / total);
  }
  return 0;
}

}  // namespace hotshard::harness::cli
