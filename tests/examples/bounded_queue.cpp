// bounded_queue: producers hand jobs to a stoppable worker over a fixed-size ring.
#include <hotshard/bounded_queue.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>

int main() {
  using hotshard::queue_status;
  using namespace std::chrono_literals;
  hotshard::bounded_queue<std::uint64_t> jobs({.capacity = 64});  // push() sleeps while 64 jobs are queued
  std::atomic<std::uint64_t> count{0}, sum{0};
  {
    // pop(job, stop_token) sleeps while the queue is empty; request_stop() wakes it (status `stopped`).
    std::jthread worker([&](std::stop_token stop) {
      std::uint64_t job = 0;
      while (jobs.pop(job, stop) == queue_status::ok) count += 1, sum += job;
    });
    auto produce = [&jobs](std::uint64_t first) {
      for (std::uint64_t i = first; i < first + 10'000; ++i)
        if (jobs.push_for(std::uint64_t{i}, 10s) != queue_status::ok) return;  // load shedding: a deadline
    };
    std::jthread a(produce, 1), b(produce, 10'001);
    a.join();
    b.join();
    while (count.load() < 20'000) std::this_thread::yield();
  }  // ~jthread requests stop: the sleeping worker wakes and returns
  std::uint64_t none = 0;
  const bool idle = jobs.pop_for(none, 1ms) == queue_status::timed_out;  // nothing left: times out
  if (count != 20'000 || sum != 20'000ULL * 20'001 / 2 || !idle) {  // every job exactly once: 1 + ... + 20000
    std::printf("bounded_queue: %llu jobs, sum %llu\n", static_cast<unsigned long long>(count.load()),
                static_cast<unsigned long long>(sum.load()));
    return 1;
  }
  jobs.close();  // later pushes fail; pop() drains what is left, then returns closed
  std::printf("20000 jobs handed over exactly once\n");
}
