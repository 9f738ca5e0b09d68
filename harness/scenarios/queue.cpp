// harness/scenarios/queue.cpp — the queues family's `queue` scenario.
//
// --threads T producers and --set consumers=C consumers (default 1) move items
// through one queue of --set capacity (default 1024). Every item is
// (producer id << 40 | sequence), so each consumer records, per producer, a
// bitmap of the sequences it received; after the run the bitmaps are merged and
// `lost` (pushed, never popped) and `duplicated` (popped more than once) are
// exact — nonzero is a run_failure. With one consumer `out_of_order` counts
// per-producer order breaks. Threads: `producers`, `consumers` and
// `threads_total` (the record's `threads` is the producer count, the swept
// axis). --set bulk=N moves N items per call through each contender's bulk API
// (single items where it has none); `push_path` / `pop_path` name the path
// each side really took ("bulk", "single", or "single_loop" where bulk was asked
// of a contender that has no bulk API), so a bulk figure is never set against
// a single-item one unknowingly. --set blocking=1 uses each contender's
// blocking push/pop instead of try + yield.
//
// Depth: every producer publishes how many items it pushed and every consumer
// how many it popped, each in its own padded slot (relaxed stores, no shared
// write); every 256 pops a consumer reads all pushed counts, then all popped
// counts, and `max_depth` is the largest difference seen — the same harness
// measure for every contender. It can exceed the true depth only by pops other
// consumers had not yet published (≤ (consumers − 1) × items per pop), so
// `exceeded_capacity` = max_depth > capacity + that slack is never a false
// alarm: it marks a contender whose capacity is a minimum (moodycamel's).
// `max_size_approx` is the contender's own size_approx() at the same instants
// (null where it has none). `consumer_cas_failures_per_item`,
// `consumer_spins_per_item` and `consumer_waits_per_item`: the consumers'
// counting_stats over their loops per item popped (the runner's *_per_op
// count the producers only; 0 for contenders without a Stats policy).
//
// Rates: throughput (ops_per_sec) = items pushed per second of the measured
// window (warm-up excluded) = `producer_items_per_sec`;
// `consumer_items_per_sec` = items the consumers popped over their active span
// (first pop to exit, warm-up included).
#include "contenders/queues.hpp"

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/harness/runner.hpp>
#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/scenario_support.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hotshard::harness {
namespace {

namespace hc = hotshard::contenders;
using item = std::uint64_t;
constexpr unsigned seq_bits = 40;
constexpr item seq_mask = (item{1} << seq_bits) - 1;

// What one consumer saw: a bitmap of sequences per producer. Padded: each
// consumer writes its own (no false sharing between consumers).
struct alignas(detail::prefetch_pair_bytes) receipt {
  std::vector<std::vector<std::uint64_t>> bits;  // [producer][seq / 64]
  std::vector<item> next;                        // per producer: expected next sequence (order check)
  std::uint64_t duplicated = 0, foreign = 0, out_of_order = 0, max_depth = 0, max_size = 0, items = 0;
  std::chrono::steady_clock::time_point first_pop{}, exit{};
  detail::contention_counts contention;  // this consumer's counting_stats over its loop

  explicit receipt(unsigned producers) : bits(producers), next(producers, 0) {}
  void note(item v) {
    ++items;
    const item p = v >> seq_bits, s = v & seq_mask;
    if (p >= bits.size()) {
      ++foreign;
      return;
    }
    auto& b = bits[p];
    const std::size_t w = static_cast<std::size_t>(s >> 6);
    if (w >= b.size()) b.resize(std::max(w + 1, 2 * b.size()), 0);
    const std::uint64_t m = std::uint64_t{1} << (s & 63);
    if (b[w] & m) ++duplicated;
    b[w] |= m;
    if (s != next[p]) ++out_of_order;
    next[p] = s + 1;
  }
};

// A count one thread publishes and others read now and then: its own cache lines.
struct alignas(detail::prefetch_pair_bytes) published_count {
  std::atomic<std::uint64_t> n{0};
};

// The path a side really takes: "single", "bulk", or "single_loop" (bulk asked
// of a contender without a bulk API: its adapter loops over single items).
template <class Q>
const char* path_of(std::uint64_t bulk) {
  if (bulk == 0) return "single";
  return Q::has_bulk ? "bulk" : "single_loop";
}

template <class Q>
result_record run_queue(const run_request& r) {
  const unsigned producers = r.threads;
  const auto consumers = static_cast<unsigned>(r.integer("consumers"));
  const std::uint64_t capacity = r.integer("capacity");
  const std::uint64_t bulk = r.integer("bulk");
  const bool blocking = r.flag("blocking");
  if (producers >= (1u << (64 - seq_bits))) throw usage_error("--threads: at most 2^24 producers (an item's id bits)");
  const std::size_t batch = bulk == 0 ? 1 : bulk;

  Q q(capacity, producers, consumers);
  std::vector<receipt> seen(consumers + 1, receipt(producers));  // the last one: the main thread's final drain
  // Relaxed everywhere: depth is an estimate (see the header), the items' order
  // comes from the queue, and the final counts are read after join.
  std::vector<published_count> pushed_by(producers), popped_by(consumers);
  const auto depth_now = [&] {
    std::uint64_t in = 0, out = 0;
    for (const auto& c : pushed_by) in += c.n.load(std::memory_order_relaxed);  // pushes first: see the header
    for (const auto& c : popped_by) out += c.n.load(std::memory_order_relaxed);
    return in > out ? in - out : 0;
  };
  std::atomic<bool> producers_done{false};
  std::atomic<unsigned> consumers_alive{consumers};
  std::vector<std::thread> pool;
  for (unsigned c = 0; c < consumers; ++c)
    pool.emplace_back([&, c] {
      receipt& mine = seen[c];
      const detail::contention_counts before = detail::counting_stats::local();
      typename Q::consumer h(q);
      std::vector<item> buf(batch);
      for (std::uint64_t n = 0;; ++n) {
        std::size_t k = 0;
        if (blocking) {
          k = bulk == 0 ? (h.pop(buf[0]) ? 1 : 0) : h.try_pop_bulk(buf.data(), batch);
          if (k == 0 && bulk != 0 && !producers_done.load(std::memory_order_acquire)) {
            k = h.pop(buf[0]) ? 1 : 0;  // no blocking bulk pop in the adapters: wait for one
          }
          if (k == 0 && producers_done.load(std::memory_order_acquire)) break;
        } else {
          k = bulk == 0 ? (h.try_pop(buf[0]) ? 1 : 0) : h.try_pop_bulk(buf.data(), batch);
          if (k == 0) {
            if (producers_done.load(std::memory_order_acquire)) break;  // acquire: pairs with the release below
            std::this_thread::yield();
            continue;
          }
        }
        if (k != 0 && mine.items == 0) mine.first_pop = std::chrono::steady_clock::now();
        for (std::size_t i = 0; i < k; ++i) mine.note(buf[i]);
        popped_by[c].n.store(mine.items, std::memory_order_relaxed);
        if ((n & 255) == 0) {
          mine.max_depth = std::max(mine.max_depth, depth_now());
          if constexpr (Q::has_size) mine.max_size = std::max<std::uint64_t>(mine.max_size, q.size_approx());
        }
      }
      mine.exit = std::chrono::steady_clock::now();
      const detail::contention_counts& after = detail::counting_stats::local();
      mine.contention.cas_failures = after.cas_failures - before.cas_failures;
      mine.contention.spins = after.spins - before.spins;
      mine.contention.waits = after.waits - before.waits;
      consumers_alive.fetch_sub(1, std::memory_order_release);
    });

  // Some contenders only wake the threads already waiting: close until all are out.
  const auto stop_consumers = [&] {
    producers_done.store(true, std::memory_order_release);  // release: every push happened before
    while (consumers_alive.load(std::memory_order_acquire) != 0) {
      q.close();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (auto& th : pool) th.join();
  };
  measurement m;
  try {
    m = run_workers(runner_config::from(r), [&](unsigned t) {
      return [&, t, h = typename Q::producer(q), buf = std::vector<item>(batch),
              mine = &pushed_by[t].n](std::uint64_t i) mutable {
        const item base = item{t} << seq_bits | (i * batch);
        if (bulk == 0) {
          item v = base;
          if (blocking) {
            (void)h.push(std::move(v));
          } else {
            while (!h.try_push(std::move(v))) std::this_thread::yield();
          }
        } else {
          for (std::size_t j = 0; j < batch; ++j) buf[j] = base + j;
          for (std::size_t done = 0; done < batch;) {
            const std::size_t k = h.try_push_bulk(buf.data() + done, batch - done);
            if (k == 0) std::this_thread::yield();
            done += k;
          }
        }
        mine->store((i + 1) * batch, std::memory_order_relaxed);  // op i was this thread's (i+1)-th
      };
    });
  } catch (...) {
    stop_consumers();
    throw;
  }
  stop_consumers();
  {
    typename Q::consumer h(q);
    item v = 0;
    while (h.try_pop(v)) seen[consumers].note(v);
  }

  // Merge: per producer, every sequence below what it pushed must be seen exactly once.
  std::uint64_t lost = 0, duplicated = 0, foreign = 0, out_of_order = 0, max_depth = 0, max_size = 0, popped = 0;
  std::uint64_t consumer_popped = 0;
  detail::contention_counts consumer_contention;
  std::chrono::steady_clock::time_point first{}, last{};
  for (std::size_t c = 0; c < seen.size(); ++c) {
    const auto& s = seen[c];
    duplicated += s.duplicated;
    foreign += s.foreign;
    out_of_order += s.out_of_order;
    max_depth = std::max(max_depth, s.max_depth);
    max_size = std::max(max_size, s.max_size);
    popped += s.items;
    if (c == consumers || s.items == 0) continue;  // the final drain is not a consumer
    consumer_popped += s.items;
    consumer_contention += s.contention;
    if (first == std::chrono::steady_clock::time_point{} || s.first_pop < first) first = s.first_pop;
    last = std::max(last, s.exit);
  }
  const double consumer_span = std::chrono::duration<double>(last - first).count();
  const std::uint64_t depth_slack = static_cast<std::uint64_t>(consumers - 1) * batch;
  std::uint64_t pushed = 0;
  for (unsigned p = 0; p < producers; ++p) {
    const std::uint64_t n = m.ops_per_thread[p] * batch;
    pushed += n;
    const std::size_t words = static_cast<std::size_t>((n + 63) / 64);
    std::size_t longest = 0;
    for (const auto& s : seen) longest = std::max(longest, s.bits[p].size());
    for (std::size_t w = 0; w < std::max(words, longest); ++w) {
      std::uint64_t any = 0, total = 0;
      for (const auto& s : seen) {
        const std::uint64_t b = w < s.bits[p].size() ? s.bits[p][w] : 0;
        total += static_cast<std::uint64_t>(std::popcount(b));
        any |= b;
      }
      duplicated += total - static_cast<std::uint64_t>(std::popcount(any));
      std::uint64_t expected = ~std::uint64_t{0};
      if (w >= words) {
        expected = 0;
      } else if (w == words - 1 && n % 64 != 0) {
        expected = (std::uint64_t{1} << (n % 64)) - 1;
      }
      lost += static_cast<std::uint64_t>(std::popcount(expected & ~any));
      foreign += static_cast<std::uint64_t>(std::popcount(any & ~expected));  // sequences never pushed
    }
  }

  nlohmann::json metrics = {{"items", pushed},
                            {"popped", popped},
                            {"lost", lost},
                            {"duplicated", duplicated},
                            {"capacity", q.capacity()},
                            {"producers", producers},
                            {"consumers", consumers},
                            {"threads_total", producers + consumers},
                            {"bulk", bulk},
                            {"blocking", blocking},
                            {"bulk_api", Q::has_bulk},
                            {"push_path", path_of<Q>(bulk)},
                            {"pop_path", path_of<Q>(bulk)},
                            {"max_depth", max_depth},
                            {"exceeded_capacity", max_depth > q.capacity() + depth_slack},
                            {"consumer_items_per_sec",
                             consumer_span > 0 ? static_cast<double>(consumer_popped) / consumer_span : 0.0}};
  // The consumers' own counting_stats (the runner's *_per_op count the producers only); 0 for
  // contenders that do not count (only ours takes a Stats policy).
  const double per_item = consumer_popped != 0 ? 1.0 / static_cast<double>(consumer_popped) : 0.0;
  metrics["consumer_cas_failures_per_item"] = static_cast<double>(consumer_contention.cas_failures) * per_item;
  metrics["consumer_spins_per_item"] = static_cast<double>(consumer_contention.spins) * per_item;
  metrics["consumer_waits_per_item"] = static_cast<double>(consumer_contention.waits) * per_item;
  metrics["max_size_approx"] = Q::has_size ? nlohmann::json(max_size) : nlohmann::json(nullptr);
  if (consumers == 1) metrics["out_of_order"] = out_of_order;
  if (foreign != 0) metrics["foreign"] = foreign;
  auto rec = make_record(r, m, std::move(metrics));
  rec.ops = m.ops * batch;  // items, so bulk and single runs compare
  rec.ops_per_sec = m.seconds > 0 ? static_cast<double>(rec.ops) / m.seconds : 0;
  rec.metrics["producer_items_per_sec"] = rec.ops_per_sec;
  if (lost != 0 || duplicated != 0 || foreign != 0)
    throw run_failure("queue/" + r.impl + ": lost " + std::to_string(lost) + ", duplicated " +
                      std::to_string(duplicated) + ", never-pushed " + std::to_string(foreign) + " items");
  return rec;
}

// The queue registry over the scenario's item type, as dispatch and impls_of take it.
constexpr auto queue_registry = [](auto&& f) { hc::for_each_queue<item>(f); };

scenario make_queue_scenario() {
  scenario s;
  s.name = "queue";
  s.family = "queues";
  s.description =
      "--threads T producers and --set consumers=C consumers move (producer, sequence) items through one bounded "
      "queue; consumers check every item, so lost and duplicated are exact (nonzero fails the run). Throughput = "
      "items pushed/s (producer side; consumer_items_per_sec beside it). Metrics name producers, consumers, "
      "threads_total, push_path/pop_path, max_depth and exceeded_capacity. The workload is not used.";
  s.default_workload = "uniform:n=1";
  s.impls = impls_of(queue_registry, {"bounded_queue"});
  s.knobs = {integer_knob("consumers", 1, 1, 1024, "consumer threads"),
             integer_knob("capacity", 1024, 2, std::uint64_t{1} << 30,
                          "queue capacity (ours: rounded up to a power of two)"),
             integer_knob("bulk", 0, 0, 4096, "items per push/pop call through the bulk API; 0 = single items"),
             flag_knob("blocking", false, "each contender's blocking push/pop instead of try + yield")};
  s.metrics = {
      key_metric("items", "items", "items pushed in the measured window (the record's ops)"),
      zero_metric("lost", "items", "items pushed and never popped"),
      zero_metric("duplicated", "items", "items popped more than once"),
      key_metric("max_depth", "items", "largest pushed − popped seen by the consumers (the harness's own measure)"),
      key_metric("capacity", "items", "the contender's capacity (as it reports it)"),
      zero_metric("foreign", "items", "items popped that no producer pushed (present only when nonzero)"),
      metric("popped", "items", "items popped, by the consumers and the final drain"),
      metric("out_of_order", "count", "one consumer only: pops that broke a producer's order"),
      metric("producers", "count", "producer threads (the record's threads)"),
      metric("consumers", "count", "consumer threads"),
      metric("threads_total", "count", "producers + consumers"),
      metric("bulk", "items", "items per call asked (0 = single items)"),
      metric("blocking", "", "true: blocking push/pop, false: try + yield"),
      metric("bulk_api", "", "the contender has a bulk API"),
      metric("push_path", "", "the path pushes took: single, bulk or single_loop (bulk asked, none offered)"),
      metric("pop_path", "", "the path pops took: single, bulk or single_loop"),
      metric("exceeded_capacity", "", "max_depth above capacity + the consumers' publication slack"),
      metric("max_size_approx", "items", "largest size_approx() of the contender (null where it has none)"),
      metric("producer_items_per_sec", "items/s", "items pushed per second of the measured window"),
      metric("consumer_items_per_sec", "items/s", "items popped per second of the consumers' active span"),
      metric("consumer_cas_failures_per_item", "ratio", "the consumers' CAS failures per item popped (ours only)"),
      metric("consumer_spins_per_item", "ratio", "the consumers' spins per item popped (ours only)"),
      metric("consumer_waits_per_item", "ratio", "the consumers' waits per item popped (ours only)")};
  s.run = [](const run_request& r) {
    return dispatch(r, queue_registry, []<class Q>(const run_request& req) { return run_queue<Q>(req); });
  };
  s.suite = [](bool full) {
    // The shapes of issue 14 as (consumers, producer counts): 1P1C, 4P1C,
    // 16P1C, 2P2C, 1P3C, 8P8C; single items, and in --full also bulk 32.
    // (ck_ring's producers spin on an earlier, possibly preempted producer:
    // oversubscribed bulk runs of it have taken minutes here.)
    const std::vector<std::pair<const char*, std::vector<unsigned>>> shapes = {
        {"1", {1, 4, 16}}, {"2", {2}}, {"3", {1}}, {"8", {8}}};
    std::vector<run_options> steps;
    for (const char* bulk : {"0", "32"}) {
      if (!full && std::string(bulk) != "0") continue;
      for (const auto& [consumers, producers] : shapes) {
        run_options o;
        o.threads = producers;
        o.duration_seconds = full ? 1.0 : 0.2;
        o.knobs["consumers"] = consumers;
        if (std::string(bulk) != "0") o.knobs["bulk"] = bulk;
        steps.push_back(o);
      }
    }
    return steps;
  };
  return s;
}

}  // namespace

HOTSHARD_REGISTER_SCENARIO(make_queue_scenario());

}  // namespace hotshard::harness
