// buffered_count_min_sketch: hot keys pre-aggregate in a per-thread filter; estimates include unflushed counts.
#include <hotshard/buffered_count_min_sketch.hpp>

#include <cstdint>
#include <cstdio>
#include <thread>

int main() {
  hotshard::buffered_count_min_sketch<std::uint64_t> clicks(
      {.count_min = {.sketch = {.epsilon = 0.001, .delta = 0.01}}});
  auto clicker = [&clicks](std::uint64_t cold_base) {
    for (std::uint64_t i = 0; i < 5'000; ++i) {
      clicks.add(7);              // the hot key stays in this thread's filter: no shared write
      clicks.add(cold_base + i);  // cold keys go to the shared sketch
    }
  };
  std::jthread a(clicker, 1'000), b(clicker, 100'000);
  a.join();
  b.join();
  // No flush needed: estimate() adds every thread's pending count to the shared sketch.
  const std::uint64_t est = clicks.estimate(7);
  if (est < 10'000 || est > 10'000 + clicks.epsilon() * 20'000) {
    std::printf("buffered_count_min_sketch: estimate(7) = %llu, expected about 10000\n",
                static_cast<unsigned long long>(est));
    return 1;
  }
  std::printf("key 7 ≈ %llu clicks (true 10000)\n", static_cast<unsigned long long>(est));
}
