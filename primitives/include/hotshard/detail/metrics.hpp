// hotshard/detail/metrics.hpp — how a primitive's stats() snapshot names its
// numbers, so one exporter (hotshard/prometheus.hpp) writes every primitive's
// stats without a table per primitive.
//
// A stats snapshot type S is `exportable_stats` when it has
//
//   template <class F> void for_each_metric(F&& f) const;
//
// calling f(metric{...}) once per number, in a fixed order. `name` is a
// lower_snake_case suffix (the exporter prefixes it with the instance's name),
// `kind` says whether it only grows (a counter: total adds, loads, refusals)
// or goes up and down (a gauge: entries in use, the current epoch's size),
// `help` is one sentence. Names end in `_total` exactly when kind is counter
// (Prometheus's convention).
//
// The contract of every stats() that returns such a snapshot: callable from
// any thread at any time, concurrently with every operation (a metrics
// thread); it never blocks an operation and adds no shared write to one; each
// number is a value it had at some moment during the call (the numbers are
// not one atomic snapshot of each other unless the primitive's header says
// so).
#pragma once

#include <concepts>
#include <string_view>

namespace hotshard::detail {

enum class metric_kind { counter, gauge };

struct metric {
  std::string_view name;
  metric_kind kind;
  double value;
  std::string_view help;
};

template <class S>
concept exportable_stats = requires(const S& s) {
  s.for_each_metric([](const metric&) {});
};

}  // namespace hotshard::detail
