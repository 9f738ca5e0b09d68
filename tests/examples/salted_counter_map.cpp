// salted_counter_map: per-key counts; a key known to be hot is salted over several sub-counters.
#include <hotshard/salted_counter_map.hpp>

#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

int main() {
  hotshard::salted_counter_map<std::uint64_t> views({.capacity = 1024, .max_salt = 8});
  if (!views.promote(42, 8)) return 1;  // e.g. the hot-key detector's verdict: spread key 42 over 8 sub-counters
  std::vector<std::thread> workers;
  for (std::uint64_t t = 0; t < 4; ++t)
    workers.emplace_back([&views, t] {
      for (int i = 0; i < 10'000; ++i)
        if (!views.add(42, 1) || !views.add(100 + t, 1)) std::printf("salted_counter_map: table full\n");
    });
  for (auto& w : workers) w.join();
  if (views.read(42) != 40'000 || views.read(100) != 10'000 || views.salt_of(42) != 8 || views.salt_of(100) != 1) {
    std::printf("salted_counter_map: read(42) = %lld, salt_of(42) = %u\n", static_cast<long long>(views.read(42)),
                views.salt_of(42));
    return 1;
  }
  std::printf("key 42: %lld views over %u sub-counters\n", static_cast<long long>(views.read(42)), views.salt_of(42));
}
