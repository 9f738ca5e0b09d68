// bench-queues — Google Benchmark binary of the queues family.
//
// Every queue of harness/contenders/queues.hpp (issue 14's peers included;
// moodycamel::ReaderWriterQueue in 1P1C only), P producers and C consumers
// (1P1C, 2P1C, 2P2C, 1P3C, 4P1C, 4P4C, 8P8C, 16P1C; real time, so the runs above 2 threads
// measure behaviour under preemption on a 2-core machine):
//   queue/<PxC>/<impl>           try_push / try_pop of single items, yield when full/empty
//   queue/<PxC>/bulk32/<impl>    try_push_bulk / try_pop_bulk of up to 32 items, where the
//                                contender has a bulk API (single items where it has none)
//   queue/<PxC>/blocking/<impl>  each contender's blocking push/pop (try + yield where it has none)
// Each iteration a producer pushes C items (×32 in bulk) and a consumer pops P
// (×32), so pushes and pops balance exactly and nobody waits for an item that
// never comes. items_per_second counts items moved (reported by producers).
// One queue per run, built by thread 0 before the loop's start barrier; each
// thread keeps a shared_ptr, so the last one out destroys it after its tokens.
#include "contenders/queues.hpp"

#include <benchmark/benchmark.h>
#include "contenders/peer_tsan_suppressions.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

namespace hc = hotshard::contenders;
using item = std::uint64_t;
constexpr std::size_t capacity = 1024;

enum class mode { single, bulk, blocking };

template <class Q>
std::shared_ptr<Q>& shared_queue() {
  static std::shared_ptr<Q> q;
  return q;
}

template <class Q>
void produce(typename Q::producer& p, std::size_t items, mode m, std::vector<item>& buf, item& seq) {
  if (m == mode::bulk) {
    while (items > 0) {
      const std::size_t n = std::min(items, buf.size());
      for (std::size_t i = 0; i < n; ++i) buf[i] = seq + i;
      std::size_t done = 0;
      while (done < n) {
        const std::size_t k = p.try_push_bulk(buf.data() + done, n - done);
        if (k == 0) std::this_thread::yield();
        done += k;
      }
      seq += n;
      items -= n;
    }
    return;
  }
  for (std::size_t i = 0; i < items; ++i) {
    item v = seq++;
    if (m == mode::blocking) {
      (void)p.push(std::move(v));
    } else {
      while (!p.try_push(std::move(v))) std::this_thread::yield();
    }
  }
}

template <class Q>
void consume(typename Q::consumer& c, std::size_t items, mode m, std::vector<item>& buf, item& sum) {
  while (items > 0) {
    std::size_t k = 0;
    if (m == mode::bulk) {
      k = c.try_pop_bulk(buf.data(), std::min(items, buf.size()));
    } else if (m == mode::blocking) {
      k = c.pop(buf[0]) ? 1 : 0;
    } else {
      k = c.try_pop(buf[0]) ? 1 : 0;
    }
    if (k == 0) {
      std::this_thread::yield();
      continue;
    }
    for (std::size_t i = 0; i < k; ++i) sum += buf[i];
    items -= k;
  }
}

template <class Q>
void queue_bench(benchmark::State& state, unsigned producers, unsigned consumers, mode m) {
  const unsigned t = static_cast<unsigned>(state.thread_index());
  if (t == 0) shared_queue<Q>() = std::make_shared<Q>(capacity, producers, consumers);
  const bool is_producer = t < producers;
  const std::size_t batch = m == mode::bulk ? 32 : 1;
  const std::size_t per_iteration = (is_producer ? consumers : producers) * batch;
  std::shared_ptr<Q> q;  // declared before the handles: destroyed after them
  std::optional<typename Q::producer> prod;
  std::optional<typename Q::consumer> cons;
  std::vector<item> buf(batch);
  item seq = 0, sum = 0;
  for (auto _ : state) {
    if (!q) {  // first iteration: after the start barrier, the queue exists
      q = shared_queue<Q>();
      if (is_producer) {
        prod.emplace(*q);
      } else {
        cons.emplace(*q);
      }
    }
    if (is_producer) {
      produce<Q>(*prod, per_iteration, m, buf, seq);
    } else {
      consume<Q>(*cons, per_iteration, m, buf, sum);
    }
  }
  benchmark::DoNotOptimize(sum);
  if (is_producer) state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * per_iteration));
  prod.reset();
  cons.reset();
  q.reset();
  if (t == 0) shared_queue<Q>().reset();  // after the stop barrier: every thread holds its own copy
}

struct shape {
  unsigned producers, consumers;
};
constexpr shape shapes[] = {{1, 1}, {2, 1}, {2, 2}, {1, 3}, {4, 1}, {4, 4}, {8, 8}, {16, 1}};

void register_all() {
  hc::for_each_queue<item>([]<class Q>(const char* name, const char*) {
    // libcds' flat-combining kernel keeps each thread's record in a
    // boost::thread_specific_ptr keyed by the kernel's address and frees the
    // records only in the destroying thread's view. Here the last thread out
    // destroys the queue and thread 0 builds the next one, often at the same
    // address, where it finds its stale record (libcds asserts). hotshard-bench
    // builds and destroys each queue on one thread after its workers exited,
    // the lifetime libcds supports, so cds_fcqueue is measured there only.
    if constexpr (std::is_same_v<Q, hc::cds_fc_queue<item>>) return;
    for (const shape s : shapes) {
      if constexpr (requires { Q::spsc; }) {
        if (s.producers != 1 || s.consumers != 1) continue;  // single producer, single consumer only
      }
      // ck_ring's producers spin on every earlier producer's commit, so with
      // more threads than cores a preempted producer stalls the rest for whole
      // time slices: 8P8C ran at 11 ms per iteration here (a smoke run of
      // minutes). It is measured where its threads fit on the cores.
      if constexpr (std::is_same_v<Q, hc::ck_ring_queue<item>>) {
        if (s.producers + s.consumers > std::max(2u, std::thread::hardware_concurrency())) continue;
      }
      const std::string pc = std::to_string(s.producers) + "P" + std::to_string(s.consumers) + "C";
      const std::vector<std::pair<std::string, mode>> modes = {
          {"", mode::single}, {"bulk32/", mode::bulk}, {"blocking/", mode::blocking}};
      for (const auto& [tag, m] : modes) {
        if (m == mode::bulk && !Q::has_bulk) continue;
        if (m == mode::blocking && !Q::has_blocking) continue;
        if (m != mode::single && s.producers == 2) continue;  // 2P1C: the single-item goal only
        benchmark::RegisterBenchmark(("queue/" + pc + "/" + tag + name).c_str(),
                                     [s, m](benchmark::State& st) { queue_bench<Q>(st, s.producers, s.consumers, m); })
            ->Threads(static_cast<int>(s.producers + s.consumers))
            ->UseRealTime();
      }
    }
  });
}

[[maybe_unused]] const bool registered = (register_all(), true);

}  // namespace
