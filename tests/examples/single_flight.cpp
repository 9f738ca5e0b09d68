// single_flight: concurrent requests for one key share a single backend load.
#include <hotshard/single_flight.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

struct count_waiters {  // contention hook (policy::contention_hook): callers asleep on a flight, so this demo's loader can wait for all 8
  static inline std::atomic<int> asleep{0};
  static void wait() noexcept { asleep.fetch_add(1, std::memory_order_seq_cst); }
  static void spin() noexcept { asleep.fetch_sub(1, std::memory_order_seq_cst); }  // woke from a beaten claim
  static void cas_failure() noexcept {}
};

int main() {
  hotshard::single_flight<std::string, std::string, hotshard::policy::contention_hook<count_waiters>> flights(
      {.capacity = 1024});
  std::atomic<int> loads{0};
  auto load_user = [&loads] {  // the slow backend call; returns once the 7 other callers wait on it
    const int n = loads.fetch_add(1, std::memory_order_seq_cst) + 1;
    while (count_waiters::asleep.load(std::memory_order_seq_cst) + n < 8) std::this_thread::yield();
    return std::string("alice");
  };
  std::vector<std::string> got(8);
  {
    std::vector<std::jthread> herd;  // .get(): the value, or the load's exception rethrown
    for (auto& g : got) herd.emplace_back([&] { g = flights.run("user:7", load_user).get(); });
  }
  // Without .get() a failure is a status: the exception, and whose load threw.
  const auto down = flights.run(std::string_view("user:8"), []() -> std::string { throw std::runtime_error("db down"); });
  // Bulk: keys in flight are joined, the others loaded by ONE call of the bulk loader.
  const std::vector<std::string> ids{"user:1", "user:2"};
  const auto rows = flights.run_all(ids, [](std::span<const std::string> keys) {
    std::map<std::string, std::string> found;
    for (const auto& k : keys) found[k] = "row of " + k;
    return found;
  });
  if (loads.load(std::memory_order_relaxed) != 1 || std::count(got.begin(), got.end(), "alice") != 8 ||
      !down.failed() || down.origin != hotshard::load_origin::own || rows[1].value != "row of user:2") {
    std::printf("single_flight: %d loads for 8 callers\n", loads.load(std::memory_order_relaxed));
    return 1;
  }
  std::printf("8 callers, 1 load, %llu shared results\n", static_cast<unsigned long long>(flights.stats().joins));
}
