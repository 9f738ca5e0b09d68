// heavy_hitters: the top-K keys of a stream, with every key above N/m guaranteed to be kept.
#include <hotshard/heavy_hitters.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

int main() {
  // Any hashable key: std::string here (pointer keys such as const char* do not compile).
  hotshard::heavy_hitters<std::string> top_users({.capacity = 16});  // keeps every key above N/16
  auto traffic = [&top_users](int cold_base) {
    for (int i = 0; i < 3'000; ++i) {
      top_users.add("user-" + std::to_string(1 + i % 3));          // users 1, 2, 3: 1000 requests each per thread...
      top_users.add("guest-" + std::to_string(cold_base + i));  // ...among 3000 users seen once
    }
  };
  std::jthread a(traffic, 1'000), b(traffic, 100'000);
  a.join();
  b.join();
  const auto top = top_users.top(3);  // heaviest first; count ≥ true count
  int found = 0;
  for (const auto& h : top) {
    std::printf("%s: ~%llu requests\n", h.key.c_str(), static_cast<unsigned long long>(h.count));
    if (h.key.starts_with("user-") && h.count >= 2'000) ++found;
  }
  // Lookups take a std::string_view (no std::string built) or a key hashed once for several structures.
  const std::string user1 = "user-1";
  const auto by_view = top_users.estimate(std::string_view("user-1"));
  if (found != 3 || by_view < 2'000 || by_view != top_users.estimate(hotshard::hash_once(user1))) {
    std::printf("heavy_hitters: top(3) should be users 1, 2 and 3\n");
    return 1;
  }
  std::printf("%llu units in %zu summaries\n", static_cast<unsigned long long>(top_users.stats().units),
              top_users.stats().summaries);
}
