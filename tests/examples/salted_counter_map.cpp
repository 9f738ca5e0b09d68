// salted_counter_map: per-key counts; a hot key is salted over several sub-counters, and gives them back when it cools.
#include <hotshard/salted_counter_map.hpp>

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

int main() {
  // Any hashable key; std::string keys are looked up by std::string_view without a copy.
  hotshard::salted_counter_map<std::string> views({.capacity = 1024, .hot_capacity = 4, .max_salt = 8});
  std::int64_t expected = 0;
  for (int window = 0; window < 20; ++window) {  // the hot product changes every window: 20 promotions, 4 blocks
    const std::string hot = "product:" + std::to_string(window);
    if (!views.promote(hot, 8)) return 1;  // e.g. the hot-key detector's verdict: spread it over 8 sub-counters
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t)
      workers.emplace_back([&views, &hot] {
        for (int i = 0; i < 1'000; ++i)
          if (!views.add(std::string_view(hot), 1) || !views.add("home", 1)) std::printf("table full\n");
      });
    for (auto& w : workers) w.join();
    if (!views.demote(hot)) return 1;  // it cooled: its count folds back, its block returns to the pool
    expected += 4'000;
  }
  (void)views.demote("home");  // contention may have salted it too (false if not)
  const auto s = views.stats();
  if (views.read("product:7") != 4'000 || views.read("home") != expected || s.keys_salted != 0 || s.blocks_free != 4) {
    std::printf("salted_counter_map: read(product:7) = %lld\n", static_cast<long long>(views.read("product:7")));
    return 1;
  }
  std::printf("%llu keys, %llu salted and given back, home: %lld views\n",
              static_cast<unsigned long long>(s.keys_present), static_cast<unsigned long long>(s.demotions_total),
              static_cast<long long>(views.read("home")));
}
