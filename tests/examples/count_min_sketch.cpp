// count_min_sketch: approximate per-key counts of a stream in fixed memory, never below the truth.
#include <hotshard/count_min_sketch.hpp>

#include <cstdio>
#include <string>
#include <thread>

int main() {
  // ε = 0.001, δ = 0.01: estimate ≤ true count + 0.001·N with probability ≥ 99%.
  hotshard::count_min_sketch<std::string> queries(
      {.sketch = {.epsilon = 0.001, .delta = 0.01}, .update = hotshard::update_policy::conservative});
  auto stream = [&queries](int first) {
    for (int i = 0; i < 1'000; ++i) {
      queries.add("weather");                        // a hot query...
      queries.add(std::to_string(first + i));        // ...among 2000 cold ones
    }
  };
  std::jthread a(stream, 0), b(stream, 1'000);
  a.join();
  b.join();
  const auto est = queries.estimate("weather");  // a literal or std::string_view: no std::string built
  const double slack = queries.epsilon() * 4'000;  // εN, N = 4000 adds
  if (est < 2'000 || est > 2'000 + slack) {
    std::printf("count_min_sketch: estimate %llu outside [2000, 2000 + %.1f]\n", static_cast<unsigned long long>(est),
                slack);
    return 1;
  }
  std::printf("\"weather\" ≈ %llu (true 2000), %zu KiB\n", static_cast<unsigned long long>(est),
              queries.memory_bytes() / 1024);
}
