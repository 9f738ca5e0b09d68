// hotshard/workloads/spec.hpp — the workload spec strings, parsed in one place.
//
// A spec is `kind:key=value,key=value` (DESIGN.md, "Workloads"):
//
//   uniform:n=N                    keys uniform over [0, N)
//   zipf:n=N[,s=S][,scramble=B]    Zipf over N ranks, exponent S (default 0.99);
//                                  scramble=1 maps rank to key by a bijection on [0, N)
//   hotspot:n=N[,hot=F][,ops=G][,scramble=B]
//                                  the keys [0, round(F*N)) receive a fraction G of
//                                  the operations, uniformly; the rest go uniformly to
//                                  the others (defaults F = 0.2, G = 0.8)
//   latest:n=N                     time-ordered keys: the run's g-th operation over all
//                                  threads (thread t's i-th is g = i*T + t) touches key
//                                  g mod N, so every thread writes at the newest end of
//                                  the key space and a range-partitioned store sees all
//                                  traffic in one range at a time
//   shift:n=N[,s=S][,every=OPS][,scramble=B]
//                                  Zipf (S default 0.99) whose hot set moves every OPS
//                                  operations counted over all threads (default 100000):
//                                  in epoch e = g / OPS, rank r is key (r + offset(e))
//                                  mod N, offset(0) = 0, later offsets pseudo-random
//   herd:keys=K[,waves=W]          every thread requests keys 0, 1, ..., K-1, 0, ...;
//                                  the harness runs W synchronized waves (defaults K = 1,
//                                  W = 10); see herd_of
//   viral:n=N[,s=S][,reads=F][,start=F][,share=F][,herd_start=F][,herd_length=F][,herd_keys=K]
//                                  Zipf (S default 0.99, a fraction `reads` gets, 0.8);
//                                  from start (a fraction of the run, 0.3) a viral key
//                                  takes a fraction `share` (0.5) of all ops; from
//                                  herd_start (0.7) for herd_length (0.03) every op gets
//                                  one of the herd_keys (8) hottest keys; see viral.hpp
//   trace:path=FILE[,format=NAME]
//                                  replay a trace file (trace.hpp); the path is the rest
//                                  of the spec after "path=", commas included, less a
//                                  trailing ",format=NAME" (or a leading "format=NAME,");
//                                  NAME is auto (default: detected) or a format name of
//                                  trace_format_list()
//
// N is an integer in [1, 2^63] (digits, or 1e6-style, or 2^20-style), S a finite
// number > 0, F and G numbers in [0, 1], OPS and K integers >= 1, B 0 or 1.
// Every error is a spec_error whose message names the kind, the parameter and
// what is accepted.
//
// Progress: pure functions, no shared state (thread-safe, blocking only on
// the allocator). Memory ordering: no atomics.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hotshard::workloads {

struct spec_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct workload_spec {
  std::string kind;
  // Every parameter of the kind, defaults filled in, values as written.
  std::map<std::string, std::string> params;
  std::string text;  // the spec as given

  // The value of a numeric parameter (validated at parse time);
  // spec_error if the kind has no such parameter or it is not a number.
  [[nodiscard]] double number(const std::string& key) const;
  // The value of an integer parameter (n, keys, waves, every, scramble), exact
  // for every 64-bit value; spec_error as for number().
  [[nodiscard]] std::uint64_t integer(const std::string& key) const;
  // The raw value; spec_error if absent.
  [[nodiscard]] const std::string& value(const std::string& key) const;
};

// Parses and validates a spec; throws spec_error naming the bad part.
[[nodiscard]] workload_spec parse_spec(std::string_view text);

// The accepted kinds and their syntax, one per line, for --help and `list`.
[[nodiscard]] std::string spec_help();

}  // namespace hotshard::workloads
