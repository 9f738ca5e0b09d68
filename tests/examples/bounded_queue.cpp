// bounded_queue: producers hand jobs to a consumer over a fixed-size ring; close() ends the stream.
#include <hotshard/bounded_queue.hpp>

#include <cstdint>
#include <cstdio>
#include <thread>

int main() {
  hotshard::bounded_queue<std::uint64_t> jobs(64);  // push() sleeps while 64 jobs are queued
  std::jthread producers([&jobs] {
    auto produce = [&jobs](std::uint64_t first) {
      for (std::uint64_t i = first; i < first + 10'000; ++i) jobs.push(i);
    };
    std::jthread a(produce, 1), b(produce, 10'001);
    a.join();
    b.join();
    jobs.close();  // later pushes fail; pop() drains what is left, then returns nullopt
  });
  std::uint64_t count = 0, sum = 0;
  while (const auto job = jobs.pop()) ++count, sum += *job;
  if (count != 20'000 || sum != 20'000ULL * 20'001 / 2) {  // every job exactly once: 1 + 2 + ... + 20000
    std::printf("bounded_queue: %llu jobs, sum %llu\n", static_cast<unsigned long long>(count),
                static_cast<unsigned long long>(sum));
    return 1;
  }
  std::printf("20000 jobs handed over exactly once\n");
}
