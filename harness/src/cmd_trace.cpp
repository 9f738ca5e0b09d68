// `trace gen`, `trace stats` and `trace import`.
//
// trace gen writes the records interleaved: record g = i*T + t is thread t's
// i-th operation. That is the global order the workloads number operations
// in, and replaying the file with T threads (thread t takes records t, t+T,
// ...) gives every thread exactly the stream it was generated from. Keys come
// from make_stream (streamed, so memory stays bounded whatever --ops is; the
// run's length is --ops, where viral: places its phases); each op is a get
// with probability --read-fraction, drawn from a generator separate from the
// keys', else a put — unless the workload sets its own op kinds (viral:).
#include "cli.hpp"

#include <hotshard/detail/hash.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>
#include <hotshard/workloads/trace.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>

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
      streams.push_back(workloads::make_stream(spec, seed, t, T, ops));
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
      w.write(streams[t]->next_operation(get ? workloads::op_kind::get : workloads::op_kind::put));
    }
    w.close();
    std::fprintf(stderr, "trace gen: %llu records (%s, %u interleaved thread streams) -> %s\n",
                 static_cast<unsigned long long>(w.records()), a.format.c_str(), T, a.out.c_str());
  } catch (const workloads::trace_error& e) {
    throw run_failure(std::string("trace gen: ") + e.what());
  }
  return 0;
}

namespace {

std::optional<workloads::trace_format> format_flag(const std::string& text) {
  if (text.empty() || text == "auto") return std::nullopt;
  if (const auto f = workloads::trace_format_from_name(text)) return f;
  throw usage_error("--format: '" + text + "' is not a trace format; accepted: auto, " +
                    workloads::trace_format_list());
}

double share(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
}

}  // namespace

int trace_stats(const std::string& file, const std::string& top, bool json) {
  return trace_stats(file, top, json, "", "10000");
}

int trace_stats(const std::string& file, const std::string& top, bool json, const std::string& format,
                const std::string& window) {
  workloads::trace_analysis_options options;
  options.top_n = static_cast<std::size_t>(parse_count("--top", top, 0));
  options.window_requests = parse_count("--window", window, 1);
  options.format = format_flag(format);
  workloads::trace_statistics st;
  workloads::trace_format detected{};
  workloads::trace_compression compression{};
  try {
    {
      const workloads::trace_reader probe(file, options.format, 1);
      detected = probe.format();
      compression = probe.compression();
    }
    options.format = detected;
    st = workloads::analyze_trace(file, options);
  } catch (const workloads::trace_error& e) {
    throw usage_error(std::string("trace stats: ") + e.what());
  }
  const std::uint64_t reads = st.per_op[0], writes = st.per_op[1] + st.per_op[2], deletes = st.per_op[3];
  const std::string format_name(workloads::trace_format_name(detected));
  const std::string compression_name(workloads::trace_compression_name(compression));
  if (json) {
    nlohmann::json j = {{"file", file},
                        {"format", format_name},
                        {"compression", compression_name},
                        {"has_operations", st.has_operations},
                        {"records", st.records},
                        {"requests", st.records},
                        {"distinct_keys", st.distinct_keys},
                        {"per_op", nlohmann::json::object()},
                        {"mix", {{"read", share(reads, st.records)},
                                 {"write", share(writes, st.records)},
                                 {"delete", share(deletes, st.records)}}},
                        {"top_1_percent_share", st.top_1_percent_share},
                        {"top_0_1_percent_share", st.top_0_1_percent_share},
                        {"top_10_share", st.top_10_share},
                        {"zipf_s_estimate", st.zipf_s_estimate},
                        {"zipf_fit", {{"s", st.zipf_s_estimate},
                                      {"method", "maximum likelihood, Zipf truncated to the fitted ranks"},
                                      {"first_rank", st.zipf_fit_ranks == 0 ? 0 : 1},
                                      {"last_rank", st.zipf_fit_ranks},
                                      {"min_count", workloads::min_fit_count}}},
                        {"window_requests", options.window_requests},
                        {"windows", nlohmann::json::array()},
                        {"rank_frequency", nlohmann::json::array()},
                        {"top", nlohmann::json::array()}};
    for (std::size_t k = 0; k < workloads::op_kind_count; ++k)
      j["per_op"][std::string(workloads::op_name(static_cast<workloads::op_kind>(k)))] = st.per_op[k];
    for (const auto& w : st.windows)
      j["windows"].push_back({{"first_request", w.first_request},
                              {"requests", w.requests},
                              {"hottest_key", w.hottest_key},
                              {"hottest_count", w.hottest_count},
                              {"hottest_share", share(w.hottest_count, w.requests)}});
    for (const auto& [rank, count] : st.rank_frequency) j["rank_frequency"].push_back({rank, count});
    for (const auto& [key, count] : st.top) j["top"].push_back({{"key", key}, {"count", count}});
    std::cout << j.dump(2) << '\n';
    return 0;
  }
  const auto pct = [](double f) { return 100.0 * f; };
  const auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf("file:             %s\nformat:           %s (compression: %s)\n", file.c_str(), format_name.c_str(),
              compression_name.c_str());
  std::printf("requests:         %llu\ndistinct keys:    %llu\n", u(st.records), u(st.distinct_keys));
  if (st.has_operations) {
    std::printf("mix:              read %.1f%%, write %.1f%%, delete %.1f%%  (", pct(share(reads, st.records)),
                pct(share(writes, st.records)), pct(share(deletes, st.records)));
    for (std::size_t k = 0; k < workloads::op_kind_count; ++k)
      std::printf("%s%s=%llu", k == 0 ? "" : " ",
                  std::string(workloads::op_name(static_cast<workloads::op_kind>(k))).c_str(), u(st.per_op[k]));
    std::printf(")\n");
  } else {
    std::printf("mix:              none recorded (%s has keys only; replayed as reads, or by read_fraction)\n",
                format_name.c_str());
  }
  const std::uint64_t d = st.distinct_keys;
  std::printf("top 1%% of keys:   %.1f%% of requests (%llu keys)\n", pct(st.top_1_percent_share), u((d + 99) / 100));
  std::printf("top 0.1%% of keys: %.1f%% of requests (%llu keys)\n", pct(st.top_0_1_percent_share),
              u((d + 999) / 1000));
  std::printf("top 10 keys:      %.1f%% of requests\n", pct(st.top_10_share));
  if (st.zipf_fit_ranks == 0) {
    std::printf("zipf s (MLE):     not fitted (fewer than 3 keys with at least %llu requests)\n",
                u(workloads::min_fit_count));
  } else {
    std::printf("zipf s (MLE):     %.3f, fitted on ranks 1..%llu (the keys with at least %llu requests)\n",
                st.zipf_s_estimate, u(st.zipf_fit_ranks), u(workloads::min_fit_count));
  }
  if (!st.windows.empty()) {
    std::printf("hottest key per window of %llu requests:\n  %-8s %-12s %-22s %8s\n", u(options.window_requests),
                "window", "requests", "hottest key", "share");
    std::size_t i = 0;
    for (const auto& w : st.windows)
      std::printf("  %-8zu %-12llu %-22llu %7.2f%%\n", i++, u(w.requests), u(w.hottest_key),
                  pct(share(w.hottest_count, w.requests)));
  }
  if (!st.top.empty()) {
    std::printf("top keys:\n  %-6s %-22s %12s %8s\n", "rank", "key", "count", "share");
    std::size_t rank = 1;
    for (const auto& [key, count] : st.top)
      std::printf("  %-6zu %-22llu %12llu %7.3f%%\n", rank++, u(key), u(count), pct(share(count, st.records)));
  }
  return 0;
}

// Streams IN record by record into OUT, so memory stays bounded whatever IN's size.
int trace_import(const std::string& in, const std::string& format, const std::string& out) {
  const auto given = format_flag(format);
  if (out.empty()) throw usage_error("trace import: --out FILE is required");
  check_writable("--out", out);
  std::optional<workloads::trace_reader> reader;
  try {
    reader.emplace(in, given);
  } catch (const workloads::trace_error& e) {
    throw usage_error(std::string("trace import: ") + e.what());
  }
  try {
    workloads::trace_writer w(out, workloads::trace_format::binary);
    std::vector<workloads::operation> chunk;
    for (;;) {
      try {
        if (!reader->next_chunk(chunk)) break;
      } catch (const workloads::trace_error& e) {  // bad input, not a failed write
        throw usage_error(std::string("trace import: ") + e.what());
      }
      for (const auto& op : chunk) w.write(op);
    }
    w.close();
    std::fprintf(stderr, "trace import: %llu records (%s, compression %s%s) -> %s\n",
                 static_cast<unsigned long long>(w.records()),
                 std::string(workloads::trace_format_name(reader->format())).c_str(),
                 std::string(workloads::trace_compression_name(reader->compression())).c_str(),
                 reader->has_operations() ? "" : "; key-only: every record a get", out.c_str());
  } catch (const workloads::trace_error& e) {
    throw run_failure(std::string("trace import: ") + e.what());
  }
  return 0;
}

}  // namespace hotshard::harness::cli
