// single_flight: concurrent requests for one key share a single backend load.
#include <hotshard/single_flight.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

struct count_waiters {  // Stats hook: callers asleep on a flight, so this demo's loader can wait for all 8
  static inline std::atomic<int> asleep{0};
  static void wait() noexcept { asleep.fetch_add(1, std::memory_order_seq_cst); }
  static void spin() noexcept { asleep.fetch_sub(1, std::memory_order_seq_cst); }  // woke from a beaten claim
  static void cas_failure() noexcept {}
};

int main() {
  hotshard::single_flight<int, std::string, std::hash<int>, count_waiters> flights;
  std::atomic<int> loads{0};
  auto load_user = [&loads] {  // the slow backend call; returns once the 7 other callers wait on it
    const int n = loads.fetch_add(1, std::memory_order_seq_cst) + 1;
    while (count_waiters::asleep.load(std::memory_order_seq_cst) + n < 8) std::this_thread::yield();
    return std::string("alice");
  };
  std::vector<std::string> got(8);
  {
    std::vector<std::jthread> herd;
    for (auto& g : got) herd.emplace_back([&] { g = flights.run(7, load_user).value; });
  }
  if (loads.load(std::memory_order_relaxed) != 1 || std::count(got.begin(), got.end(), "alice") != 8) {
    std::printf("single_flight: %d loads for 8 callers\n", loads.load(std::memory_order_relaxed));
    return 1;
  }
  std::printf("8 callers, 1 load, %llu shared results\n", static_cast<unsigned long long>(flights.stats().joins));
}
