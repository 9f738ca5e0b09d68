// heavy_hitters: the top-K keys of a stream, with every key above N/m guaranteed to be kept.
#include <hotshard/heavy_hitters.hpp>

#include <cstdint>
#include <cstdio>
#include <thread>

int main() {
  hotshard::heavy_hitters<std::uint64_t> top_users({.capacity = 16});  // keeps every key above N/16
  auto traffic = [&top_users](std::uint64_t cold_base) {
    for (std::uint64_t i = 0; i < 3'000; ++i) {
      top_users.add(1 + i % 3);      // users 1, 2, 3: 1000 requests each per thread...
      top_users.add(cold_base + i);  // ...among 3000 users seen once
    }
  };
  std::jthread a(traffic, 1'000), b(traffic, 100'000);
  a.join();
  b.join();
  const auto top = top_users.top(3);  // heaviest first; count ≥ true count
  std::uint64_t found = 0;
  for (const auto& h : top) {
    std::printf("user %llu: ~%llu requests\n", static_cast<unsigned long long>(h.key),
                static_cast<unsigned long long>(h.count));
    if (h.key >= 1 && h.key <= 3 && h.count >= 2'000) ++found;
  }
  if (found != 3) {
    std::printf("heavy_hitters: top(3) should be users 1, 2 and 3\n");
    return 1;
  }
}
