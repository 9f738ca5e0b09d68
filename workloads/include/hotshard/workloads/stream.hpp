// hotshard/workloads/stream.hpp — per-thread key streams built from a spec.
//
// make_stream(spec, seed, t, T) returns thread t's stream of a T-thread run;
// it is a pure function of its arguments (and of the trace file's content), so
// a run repeats exactly with the same seed. Thread streams draw from
// independent generators seeded by stream_seed(seed, t) (rng.hpp); streams
// that follow a global order (latest, shift, herd, trace, viral) number thread t's
// i-th operation g = i*T + t, as if the T threads took turns.
// Keys of every synthetic spec lie in [0, key_space_of(spec)).
//
// Progress: next() is wait-free for uniform, latest, herd; expected O(1) for
// zipf, hotspot, shift, viral (a rejection loop); a trace stream blocks on file I/O
// when it reads its next chunk. A stream is used by one thread at a time;
// distinct streams share nothing.
// Memory ordering: no shared mutable state, no atomics.
#pragma once

#include <hotshard/workloads/operation.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/trace.hpp>

#include <cstdint>
#include <memory>
#include <vector>

namespace hotshard::workloads {

class key_stream {
 public:
  virtual ~key_stream() = default;
  virtual std::uint64_t next() = 0;
  // The next key with its op kind: the workload's own where its spec sets the
  // op mix (viral:), else `drawn` (the caller's read fraction). Advances the
  // stream as next() does.
  virtual operation next_operation(op_kind drawn) { return {next(), drawn}; }
};

// run_length: the run's operations over all threads, where a workload places
// its phases (viral:); 0 = unknown, which only viral: refuses.
// Throws spec_error for a bad spec or thread_index >= thread_count (or
// thread_count == 0); trace_error (trace.hpp) for an unreadable or corrupt trace.
[[nodiscard]] std::unique_ptr<key_stream> make_stream(const workload_spec& spec, std::uint64_t seed,
                                                      unsigned thread_index, unsigned thread_count,
                                                      std::uint64_t run_length = 0);

// `count` keys of make_stream(...), generated before a measured loop; the run's
// length is count x thread_count.
[[nodiscard]] std::vector<std::uint64_t> generate_keys(const workload_spec& spec, std::uint64_t seed,
                                                       unsigned thread_index, unsigned thread_count,
                                                       std::size_t count);

// Keys and op kinds. Synthetic specs: the keys of generate_keys, each a get with
// probability read_fraction (from a generator separate from the keys'), else a
// put. A trace spec replays the file's records: thread t takes records t, t+T,
// ..., wrapping around at the end of the file; a trace whose format has ops
// (text, binary, twitter) keeps them and ignores read_fraction, a key-only one
// (cache2k, caffeine, arc, libcachesim) gets its op kinds from read_fraction
// as a synthetic spec does. viral: keeps its own op kinds (viral.hpp) and
// ignores read_fraction. spec_error if read_fraction is outside [0, 1] (unless
// a trace with ops).
[[nodiscard]] std::vector<operation> generate_operations(const workload_spec& spec, std::uint64_t seed,
                                                         unsigned thread_index, unsigned thread_count,
                                                         std::size_t count, double read_fraction);

// What a trace spec replays, found by one pass over the file: its record
// count, format, compression, and whether its records carry ops. spec_error if
// the spec is not trace:, trace_error as trace_reader (or for an empty trace).
struct trace_info {
  std::uint64_t records;
  trace_format format;
  trace_compression compression;
  bool has_operations;
};
[[nodiscard]] trace_info trace_info_of(const workload_spec& spec);

struct herd_plan {
  std::uint64_t keys;   // every thread requests each of keys 0..keys-1 ...
  std::uint64_t waves;  // ... in each of `waves` synchronized waves
};
// spec_error if the spec is not herd:.
[[nodiscard]] herd_plan herd_of(const workload_spec& spec);

// Largest key + 1 that the spec can produce: n for uniform, zipf, hotspot,
// latest and shift, n + 1 for viral (its viral key is n), keys for herd,
// 0 (unknown) for a trace.
[[nodiscard]] std::uint64_t key_space_of(const workload_spec& spec);

}  // namespace hotshard::workloads
