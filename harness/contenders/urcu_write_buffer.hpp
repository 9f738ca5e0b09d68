// harness/contenders/urcu_write_buffer.hpp — the write-buffer peer of issue 14:
// liburcu's wait-free concurrent queue (cds_wfcq) under a plain buffer.
//
// write(k, d) allocates a node and cds_wfcq_enqueue()s it: wait-free (one
// exchange on the tail, one store), UNBOUNDED — it never refuses or blocks a
// writer, so the `capacity`, `on_full` and `rate` knobs do not apply. One
// drainer thread takes everything queued at once with cds_wfcq_splice_blocking
// (the splice-all drain liburcu documents for batch consumers), then calls the
// sink once per write, in order (no combining: the `plain` counterpart),
// retrying a write the sink refuses. When the queue is empty it sleeps 50 µs
// (cds_wfcq has no wake-up; a writer never waits for the drainer).
// flush() returns once every write made before it reached the sink.
// Stats: accepted = applied_writes = applied (counted by the drainer, so exact
// after flush()); sink_failures counts refusals; max_depth = the largest splice.
// (C++ sees cds_wfcq_head_ptr_t as a plain union: heads go through
// cds_wfcq_head_cast.) The library calls (liburcu-cds) are out of line: without _LGPL_SOURCE, as
// liburcu documents for code that is not LGPL.
#pragma once

#include <hotshard/write_buffer.hpp>

#include <urcu/wfcqueue.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <utility>

#ifndef HOTSHARD_PEER_VERSION_URCU
#define HOTSHARD_PEER_VERSION_URCU "unknown"
#endif

namespace hotshard::contenders {

class urcu_wfcq_buffer {
 public:
  using sink_type = std::function<bool(const std::uint64_t&, const std::int64_t&)>;

  template <class Config>
  urcu_wfcq_buffer(sink_type sink, const Config& /*capacity, on_full, rate: not applicable*/)
      : sink_(std::move(sink)) {
    cds_wfcq_init(&head_, &tail_);
    drainer_ = std::thread([this] { drain_loop(); });
  }
  urcu_wfcq_buffer(const urcu_wfcq_buffer&) = delete;
  urcu_wfcq_buffer& operator=(const urcu_wfcq_buffer&) = delete;
  ~urcu_wfcq_buffer() {
    stop_.store(true, std::memory_order_release);  // release: pairs with drain_loop()
    drainer_.join();
    (void)drain_once();  // writes that raced with the stop
    cds_wfcq_destroy(&head_, &tail_);
  }

  bool write(const std::uint64_t& key, const std::int64_t& delta) {
    auto* e = new entry{{}, key, delta};
    cds_wfcq_node_init(&e->node);
    (void)cds_wfcq_enqueue(cds_wfcq_head_cast(&head_), &tail_, &e->node);  // a full memory barrier inside: publishes *e
    return true;
  }

  void flush() {
    // acq_rel: the writes this thread made before flush() are ordered before the ticket the drainer reads.
    const std::uint64_t ticket = flush_requests_.fetch_add(1, std::memory_order_acq_rel) + 1;
    while (flush_done_.load(std::memory_order_acquire) < ticket)  // acquire: pairs with the drainer's release
      std::this_thread::sleep_for(std::chrono::microseconds(20));
  }

  [[nodiscard]] write_buffer_stats stats() const noexcept {
    write_buffer_stats s;
    // Relaxed: counters written by the drainer only; exact after flush() (its acquire).
    s.applied = s.applied_writes = s.accepted = applied_.load(std::memory_order_relaxed);
    s.sink_failures = sink_failures_.load(std::memory_order_relaxed);
    s.max_depth = max_depth_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  struct entry {
    cds_wfcq_node node;
    std::uint64_t key;
    std::int64_t delta;
  };

  // One splice-all and the sink calls for it; the number of writes applied.
  std::size_t drain_once() {
    cds_wfcq_head batch_head;
    cds_wfcq_tail batch_tail;
    cds_wfcq_init(&batch_head, &batch_tail);
    if (cds_wfcq_splice_blocking(&batch_head, &batch_tail, &head_, &tail_) == CDS_WFCQ_RET_SRC_EMPTY) {
      cds_wfcq_destroy(&batch_head, &batch_tail);
      return 0;
    }
    std::size_t n = 0;
    cds_wfcq_node *node = nullptr, *next = nullptr;
    __cds_wfcq_for_each_blocking_safe(cds_wfcq_head_cast(&batch_head), &batch_tail, node, next) {
      auto* e = caa_container_of(node, entry, node);
      while (!sink_(e->key, e->delta)) {
        sink_failures_.store(sink_failures_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        std::this_thread::yield();
      }
      delete e;
      ++n;
    }
    cds_wfcq_destroy(&batch_head, &batch_tail);
    applied_.store(applied_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // drainer-only writes
    if (n > max_depth_.load(std::memory_order_relaxed)) max_depth_.store(n, std::memory_order_relaxed);
    return n;
  }

  void drain_loop() {
    for (;;) {
      // acquire: pairs with flush()'s acq_rel; the writes before that ticket are enqueued.
      const std::uint64_t requested = flush_requests_.load(std::memory_order_acquire);
      if (drain_once() != 0) continue;
      flush_done_.store(requested, std::memory_order_release);  // release: pairs with flush()
      if (stop_.load(std::memory_order_acquire)) return;         // acquire: pairs with the destructor
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  cds_wfcq_head head_;
  cds_wfcq_tail tail_;
  sink_type sink_;
  std::atomic<std::uint64_t> applied_{0}, sink_failures_{0}, max_depth_{0};
  std::atomic<std::uint64_t> flush_requests_{0}, flush_done_{0};
  std::atomic<bool> stop_{false};
  std::thread drainer_;
};

inline constexpr const char* urcu_wfcq_buffer_description =
    "liburcu " HOTSHARD_PEER_VERSION_URCU " cds_wfcq (wait-free enqueue, node per write) + splice-all drain, plain "
    "(no combining): UNBOUNDED, never blocks a writer";

}  // namespace hotshard::contenders
