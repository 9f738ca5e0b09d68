// Counters in containers as users write them (issue 16): value-initialised
// std::array elements need a non-explicit default constructor. Compiled into
// test_striped_counter (the project's compiler, warnings as errors) and, when
// clang++ is installed, checked with -fsyntax-only -Werror by the ctest
// `counters_in_containers_clang` (tests/counters/CMakeLists.txt).
#include <hotshard/per_thread_counter.hpp>
#include <hotshard/striped_counter.hpp>

#include <array>
#include <cstdint>

namespace hotshard_counters_in_containers {

inline std::int64_t sum_of_an_array_of_counters() {
  std::array<hotshard::striped_counter<>, 6> a{};
  std::array<hotshard::per_thread_counter<>, 3> b{};
  for (std::size_t i = 0; i < a.size(); ++i) a[i].add(static_cast<std::int64_t>(i) + 1);
  for (auto& c : b) c.add(10);
  std::int64_t s = 0;
  for (const auto& c : a) s += c.read();
  for (const auto& c : b) s += c.read();
  return s;  // 21 + 30
}

struct endpoint_stats {  // a struct of counters, default member initialisers
  hotshard::striped_counter<> requests{};
  hotshard::striped_counter<> errors{};
};

}  // namespace hotshard_counters_in_containers
