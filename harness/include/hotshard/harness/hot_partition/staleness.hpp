// hotshard/harness/hot_partition/staleness.hpp — how stale the values a
// hot-partition client read were, computed after the run from per-thread logs.
//
// Every write to a key adds 1, so a value is the number of writes applied to
// that key. Each client thread logs, in its own log (no shared write on the
// request path), every accepted write (key, simulated time it was acknowledged
// to the client) and every successful read (key, simulated time it began, the
// value it returned). After the run, per key, the acknowledgement times are
// sorted; a read that began at t and returned v is
//  - current when v ≥ c, c = the writes acknowledged before t;
//  - stale otherwise, by t − ack[v]: how long the value has been out of date,
//    since the oldest acknowledged write it does not reflect (ack sorted; the
//    v writes it reflects are taken to be the first v — a FIFO buffer and
//    direct writes apply in acknowledgement order).
// With several threads a direct write acknowledged just before another
// thread's read began may not yet be visible to it; this costs at most the
// few operations in flight, and the single-threaded tests are exact.
//
// Thread safety: a log belongs to one thread while the run goes; summarize()
// is called after every thread stopped.
// Progress: blocking (appends allocate). Memory ordering: no atomics; the
// logs are handed over by the join that ends the run.
#pragma once

#include <hotshard/harness/histogram.hpp>

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace hotshard::harness::hot_partition {

struct staleness_log {
  struct write_event {
    std::uint64_t key;
    std::int64_t ack_ns;
  };
  struct read_event {
    std::uint64_t key;
    std::int64_t start_ns;
    std::int64_t value;
  };
  std::vector<write_event> writes;
  std::vector<read_event> reads;
};

struct staleness_summary {
  std::uint64_t reads = 0;  // successful reads (errors have no value)
  std::uint64_t stale = 0;  // of which returned an out-of-date value
  latency_histogram age;    // simulated ns out of date, one entry per read (0 = current)

  [[nodiscard]] double stale_fraction() const noexcept {
    return reads ? static_cast<double>(stale) / static_cast<double>(reads) : 0.0;
  }
};

template <class Logs>  // a range of staleness_log (or pointers to them)
staleness_summary summarize_staleness(const Logs& logs) {
  const auto deref = [](const auto& l) -> const staleness_log& {
    if constexpr (requires { *l; }) {
      return *l;
    } else {
      return l;
    }
  };
  std::unordered_map<std::uint64_t, std::vector<std::int64_t>> acks;
  for (const auto& l : logs)
    for (const auto& w : deref(l).writes) acks[w.key].push_back(w.ack_ns);
  for (auto& [k, v] : acks) std::sort(v.begin(), v.end());
  staleness_summary s;
  for (const auto& l : logs)
    for (const auto& r : deref(l).reads) {
      ++s.reads;
      const auto it = acks.find(r.key);
      std::uint64_t age = 0;
      if (it != acks.end()) {
        const auto& a = it->second;
        const auto before = static_cast<std::int64_t>(std::lower_bound(a.begin(), a.end(), r.start_ns) - a.begin());
        if (r.value >= 0 && r.value < before) {
          ++s.stale;
          age = static_cast<std::uint64_t>(std::max<std::int64_t>(1, r.start_ns - a[static_cast<std::size_t>(r.value)]));
        }
      }
      s.age.record(age);
    }
  return s;
}

}  // namespace hotshard::harness::hot_partition
