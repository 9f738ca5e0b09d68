// harness/contenders/write_buffers.hpp — the write buffers the queues family's
// `write-buffer` scenario compares, and their registry: ours with combining on
// (`combining`) and off (`plain`), and liburcu's wait-free queue under a plain
// buffer (`urcu_wfcq`, contenders/urcu_write_buffer.hpp). Each is checked
// against `write_buffer_contender` where it is registered.
// Progress guarantees and memory ordering: ours as hotshard/write_buffer.hpp
// states them, urcu_wfcq as contenders/urcu_write_buffer.hpp does.
#pragma once

#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/write_buffer.hpp>

#include "contenders/urcu_write_buffer.hpp"

#include <concepts>
#include <cstdint>
#include <utility>

namespace hotshard::contenders {

// Ours is hotshard::write_buffer<uint64_t, int64_t> (sum combine, counting_stats).
using write_buffer_type = write_buffer<std::uint64_t, std::int64_t, combine_sum, policy::count_contention>;

// A write-buffer contender is built from a per-key sink and write_buffer_type's
// config (whose capacity, on_full and rate it may ignore, as urcu_wfcq does);
// write(k, d) returns whether the write was accepted, flush() returns once every
// accepted write reached the sink, stats() fills hotshard::write_buffer_stats.
template <class B>
concept write_buffer_contender =
    std::constructible_from<B, write_buffer_type::sink_type, const write_buffer_type::config_type&> &&
    requires(B& b, const B& cb, const std::uint64_t& key, const std::int64_t& delta) {
      { b.write(key, delta) } -> std::same_as<bool>;
      b.flush();
      { cb.stats() } -> std::same_as<write_buffer_stats>;
    };

// Ours with combining on or off (`plain`): the two differ in combining alone.
// Also takes a batch sink (several backend writes per call, see write_buffer.hpp).
template <bool Combine>
class ours_write_buffer : public write_buffer_type {
 public:
  ours_write_buffer(sink_type sink, config_type cfg) : write_buffer_type(std::move(sink), combining(std::move(cfg))) {}
  ours_write_buffer(batch_sink_type sink, config_type cfg)
      : write_buffer_type(std::move(sink), combining(std::move(cfg))) {}

 private:
  static config_type combining(config_type cfg) {
    cfg.combine = Combine;
    return cfg;
  }
};

// Ours also takes a batch sink; the scenario gives it one in front of a remote store.
template <class B>
concept takes_batch_sink =
    std::constructible_from<B, write_buffer_type::batch_sink_type, write_buffer_type::config_type>;

template <class B, class F>
void offer_write_buffer(F& f, const char* name, const char* description) {
  static_assert(write_buffer_contender<B>, "a write-buffer contender must have the shape of write_buffer_contender");
  f.template operator()<B>(name, description);
}

// The write-buffer registry, in display order.
template <class F>
void for_each_write_buffer(F&& f) {
  offer_write_buffer<ours_write_buffer<false>>(
      f, "plain", "ours, combining off: one backend write per accepted write (baseline)");
  offer_write_buffer<ours_write_buffer<true>>(
      f, "combining", "ours: deltas of one key combined within each drained batch");
  offer_write_buffer<urcu_wfcq_buffer>(f, "urcu_wfcq", urcu_wfcq_buffer_description);
}

}  // namespace hotshard::contenders
