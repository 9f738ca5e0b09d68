// harness/contenders/single_flight.hpp — every request-coalescing table and
// read-through cache the single-flight family compares, and the family's
// registries.
//
// Tables satisfy concepts::single_flight_table over <uint64_t, uint64_t> and
// are constructed from a capacity hint (how many flights may run at once; only
// ours has a fixed capacity). Caches satisfy concepts::read_through_cache and
// are constructed from coalescing_cache_options; refresh_pool is the
// executor the cache scenario hands them for refresh=async. The registry
// functions call `f.template operator()<Adapter>(name, description)` per
// contender, in display order; the scenarios and bench-single-flight both
// iterate them.
#pragma once

#include <hotshard/coalescing_cache.hpp>
#include <hotshard/concepts/single_flight.hpp>
#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/single_flight.hpp>

#include <absl/container/flat_hash_map.h>
#include <absl/synchronization/mutex.h>
#include <tbb/concurrent_hash_map.h>
#include <tbb/version.h>

#include <algorithm>
#include <bit>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hotshard::contenders {

// A peer's outcome as the family's load_result (a failure is a status, as in ours).
template <class F>
load_result<std::uint64_t> as_result(bool shared, F&& f) {
  try {
    return load_result<std::uint64_t>::of_value(shared ? load_status::shared : load_status::loaded, f());
  } catch (...) {
    return load_result<std::uint64_t>::of_error(std::current_exception(), shared ? load_origin::shared : load_origin::own);
  }
}

// One call in flight, shared by its leader and waiters (Go's `call`): a
// heap-allocated state with a mutex and condition variable per call.
struct shared_call {
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::optional<std::uint64_t> value;
  std::exception_ptr error;

  template <class Loader>
  void complete(Loader& loader) {
    std::optional<std::uint64_t> v;
    std::exception_ptr e;
    try {
      v.emplace(loader());
    } catch (...) {
      e = std::current_exception();
    }
    {
      std::scoped_lock lock(m);
      value = v;
      error = e;
      done = true;
    }
    cv.notify_all();
  }
  std::uint64_t wait() {
    std::unique_lock lock(m);
    detail::counting_stats::wait();
    cv.wait(lock, [&] { return done; });
    if (error) std::rethrow_exception(error);
    return *value;
  }
  std::uint64_t result() {
    if (error) std::rethrow_exception(error);
    return *value;
  }
};

// golang.org/x/sync/singleflight: one mutex over a map of calls. Like Go
// after golang/go#31420, the leader removes the entry only if it is still its own.
class mutex_map_flight {
 public:
  using key_type = std::uint64_t;
  using value_type = std::uint64_t;
  explicit mutex_map_flight(std::size_t capacity) { map_.reserve(capacity); }

  template <class Loader>
  load_result<std::uint64_t> run(std::uint64_t key, Loader&& loader) {
    std::unique_lock lock(m_);
    if (auto it = map_.find(key); it != map_.end()) {
      auto call = it->second;
      lock.unlock();
      return as_result(true, [&] { return call->wait(); });
    }
    auto call = std::make_shared<shared_call>();
    map_.emplace(key, call);
    lock.unlock();
    call->complete(loader);
    lock.lock();
    if (auto it = map_.find(key); it != map_.end() && it->second == call) map_.erase(it);
    lock.unlock();
    return as_result(false, [&] { return call->result(); });
  }
  bool forget(std::uint64_t key) {
    std::scoped_lock lock(m_);
    return map_.erase(key) > 0;
  }

 private:
  std::mutex m_;
  std::unordered_map<std::uint64_t, std::shared_ptr<shared_call>> map_;
};

// tbb::concurrent_hash_map: the element's write accessor (a per-element lock)
// decides the leader; waiters copy the call out and wait on it unlocked.
class tbb_chm_flight {
 public:
  using key_type = std::uint64_t;
  using value_type = std::uint64_t;
  explicit tbb_chm_flight(std::size_t capacity) : map_(capacity) {}

  template <class Loader>
  load_result<std::uint64_t> run(std::uint64_t key, Loader&& loader) {
    std::shared_ptr<shared_call> call;
    bool leader = false;
    {
      map_type::accessor a;
      if (map_.insert(a, key)) {
        a->second = std::make_shared<shared_call>();
        leader = true;
      }
      call = a->second;
    }
    if (!leader) return as_result(true, [&] { return call->wait(); });
    call->complete(loader);
    {
      map_type::accessor a;
      if (map_.find(a, key) && a->second == call) map_.erase(a);
    }
    return as_result(false, [&] { return call->result(); });
  }
  bool forget(std::uint64_t key) { return map_.erase(key); }

 private:
  using map_type = tbb::concurrent_hash_map<std::uint64_t, std::shared_ptr<shared_call>>;
  map_type map_;
};

#ifndef HOTSHARD_PEER_VERSION_ABSL
#define HOTSHARD_PEER_VERSION_ABSL "unknown"
#endif

// Go's singleflight with abseil's parts (issue 14): one absl::Mutex over an
// absl::flat_hash_map of calls; a call's waiters sleep in absl::Mutex::Await
// on its `done` flag (absl re-checks the condition on each unlock and wakes
// only the waiters whose condition holds). Blocking. The leader removes the
// entry only if it is still its own, as Go after golang/go#31420.
class absl_map_flight {
 public:
  using key_type = std::uint64_t;
  using value_type = std::uint64_t;
  explicit absl_map_flight(std::size_t capacity) { map_.reserve(capacity); }

  template <class Loader>
  load_result<std::uint64_t> run(std::uint64_t key, Loader&& loader) {
    std::shared_ptr<call> c;
    bool leader = false;
    {
      absl::MutexLock lock(&m_);
      auto [it, inserted] = map_.try_emplace(key);
      if (inserted) {
        it->second = std::make_shared<call>();
        leader = true;
      }
      c = it->second;
    }
    if (!leader) {
      absl::MutexLock lock(&c->m);
      detail::counting_stats::wait();
      c->m.Await(absl::Condition(&c->done));
      return as_result(true, [&] {
        if (c->error) std::rethrow_exception(c->error);
        return *c->value;
      });
    }
    std::optional<std::uint64_t> v;
    std::exception_ptr e;
    try {
      v.emplace(loader());
    } catch (...) {
      e = std::current_exception();
    }
    {
      absl::MutexLock lock(&c->m);
      c->value = v;
      c->error = e;
      c->done = true;
    }
    {
      absl::MutexLock lock(&m_);
      if (auto it = map_.find(key); it != map_.end() && it->second == c) map_.erase(it);
    }
    return as_result(false, [&] {
      if (e) std::rethrow_exception(e);
      return *v;
    });
  }
  bool forget(std::uint64_t key) {
    absl::MutexLock lock(&m_);
    return map_.erase(key) > 0;
  }

 private:
  struct call {
    absl::Mutex m;
    bool done = false;
    std::optional<std::uint64_t> value;
    std::exception_ptr error;
  };
  absl::Mutex m_;
  absl::flat_hash_map<std::uint64_t, std::shared_ptr<call>> map_;
};

// No coalescing: every caller loads (the herd's worst case).
class no_flight {
 public:
  using key_type = std::uint64_t;
  using value_type = std::uint64_t;
  explicit no_flight(std::size_t /*capacity*/) {}
  template <class Loader>
  load_result<std::uint64_t> run(std::uint64_t /*key*/, Loader&& loader) {
    return as_result(false, [&] { return std::uint64_t(loader()); });
  }
  bool forget(std::uint64_t /*key*/) { return false; }
};

// Ours. Capacity: four slots per possible concurrent flight, at least 1024.
class single_flight_contender
    : public single_flight<std::uint64_t, std::uint64_t, policy::hash_with<std::hash<std::uint64_t>>, policy::count_contention> {
 public:
  explicit single_flight_contender(std::size_t capacity)
      : single_flight({.capacity = std::bit_ceil(std::max<std::size_t>(4 * capacity, 1024)), .window = 8}) {}
};

static_assert(concepts::single_flight_table<absl_map_flight>);
static_assert(concepts::single_flight_table<mutex_map_flight> && concepts::single_flight_table<tbb_chm_flight> &&
              concepts::single_flight_table<no_flight> && concepts::single_flight_table<single_flight_contender>);

template <class F>
void for_each_flight_table(F&& f) {
  f.template operator()<single_flight_contender>(
      "single_flight", "ours: fixed open-addressing table, wait-free join/leave, futex wait for the result");
  f.template operator()<mutex_map_flight>("mutex_map",
                                          "Go singleflight: std::mutex + unordered_map + shared call state per load");
  f.template operator()<absl_map_flight>(
      "absl_map", "abseil " HOTSHARD_PEER_VERSION_ABSL ": Go singleflight with absl::Mutex + absl::flat_hash_map, "
      "waiters in Mutex::Await: blocking");
  f.template operator()<tbb_chm_flight>("tbb_chm", "oneTBB " TBB_VERSION_STRING " tbb::concurrent_hash_map accessor decides the leader: blocking");
  f.template operator()<no_flight>("none", "no coalescing: every caller runs the loader (baseline)");
}

// --- read-through caches ---------------------------------------------------------

class coalescing_cache_contender : public coalescing_cache<std::uint64_t, std::uint64_t> {
 public:
  explicit coalescing_cache_contender(coalescing_cache_options o) : coalescing_cache(std::move(o)) {}
};

// The same cache with coalescing, grace and early refresh turned off: a plain
// TTL + LRU cache where every concurrent miss calls the backend.
class ttl_cache_contender : public coalescing_cache<std::uint64_t, std::uint64_t> {
 public:
  explicit ttl_cache_contender(coalescing_cache_options o) : coalescing_cache(plain(std::move(o))) {}

 private:
  static coalescing_cache_options plain(coalescing_cache_options o) {
    o.coalesce = false;
    o.grace = std::chrono::nanoseconds{0};
    o.beta = 0;
    return o;
  }
};

static_assert(concepts::read_through_cache<coalescing_cache_contender> &&
              concepts::read_through_cache<ttl_cache_contender>);

// The executor the cache scenario gives every cache for refresh=async
// (coalescing_cache_options::executor), the JVM driver's Caffeine executor
// too (Executors.newCachedThreadPool): a task goes to a waiting thread, and
// when more tasks are queued than threads wait, a new thread starts (at most
// max_threads; above that, tasks queue). So a refresh starts as soon as it is
// asked for, however many are in flight: a refresh never waits behind
// another's load. Threads are kept until stop(), not retired when idle.
// submit() takes a mutex (and may start a thread while holding it: a
// std::system_error from that reaches the caller, the task left queued),
// which also makes the submission happen-before the task runs. stop() runs what was submitted,
// then joins; it must be called before the cache is destroyed (the tasks
// refer to it), and is idempotent.
class refresh_pool {
 public:
  static constexpr std::size_t default_max_threads = 512;
  explicit refresh_pool(std::size_t max_threads = default_max_threads)
      : max_threads_(std::max<std::size_t>(1, max_threads)) {}
  ~refresh_pool() { stop(); }
  refresh_pool(const refresh_pool&) = delete;
  refresh_pool& operator=(const refresh_pool&) = delete;

  void submit(std::function<void()> task) {
    std::unique_lock lock(mu_);
    tasks_.push_back(std::move(task));
    ++submitted_;
    // A waiting thread counts in idle_ until it has taken a task, so
    // tasks_.size() > idle_ means some queued task has no thread to run it.
    if (tasks_.size() > idle_ && workers_.size() < max_threads_) {
      workers_.emplace_back([this] { loop(); });
      return;
    }
    lock.unlock();
    wake_.notify_one();
  }
  void stop() {
    for (;;) {  // again while a task submitted during the drain started a thread
      std::vector<std::thread> workers;
      {
        std::lock_guard lock(mu_);
        stopping_ = true;
        workers.swap(workers_);
      }
      if (workers.empty()) return;
      wake_.notify_all();
      for (auto& w : workers) w.join();
    }
  }
  [[nodiscard]] std::uint64_t submitted() const {
    std::lock_guard lock(mu_);
    return submitted_;
  }
  [[nodiscard]] std::uint64_t queued() const {  // submitted, not started yet
    std::lock_guard lock(mu_);
    return tasks_.size();
  }
  [[nodiscard]] std::uint64_t failed() const {  // tasks that threw (the cache's own tasks do not)
    std::lock_guard lock(mu_);
    return failed_;
  }
  [[nodiscard]] std::uint64_t threads_started() const {
    std::lock_guard lock(mu_);
    return started_;
  }
  [[nodiscard]] std::size_t threads_waiting() const {  // started, not stopped, and waiting for a task
    std::lock_guard lock(mu_);
    return idle_;
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    ++started_;
    for (;;) {
      while (!tasks_.empty()) {
        std::function<void()> task = std::move(tasks_.front());
        tasks_.pop_front();
        lock.unlock();
        bool threw = false;
        try {
          task();
        } catch (...) {
          threw = true;
        }
        lock.lock();
        if (threw) ++failed_;
      }
      if (stopping_) return;  // everything submitted has run (or is running on another thread)
      ++idle_;
      wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      --idle_;
    }
  }

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> workers_;
  std::size_t max_threads_;
  std::size_t idle_ = 0;  // threads waiting on wake_
  bool stopping_ = false;
  std::uint64_t submitted_ = 0, failed_ = 0, started_ = 0;
};

template <class F>
void for_each_cache(F&& f) {
  f.template operator()<coalescing_cache_contender>(
      "coalescing_cache", "ours: TTL + single-flight misses + stale-while-revalidate + XFetch early refresh");
  f.template operator()<ttl_cache_contender>("ttl_cache", "TTL + LRU, no coalescing, no grace, no early refresh");
}

}  // namespace hotshard::contenders
