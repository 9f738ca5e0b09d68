// coalescing_cache: a read-through cache with a TTL; misses load once, hits cost no backend call.
#include <hotshard/coalescing_cache.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

int main() {
  std::int64_t now_ns = 0;  // an injected clock makes expiry deterministic
  hotshard::coalescing_cache<std::string, int> prices({
      .ttl = std::chrono::seconds(10),
      .beta = 0,  // no probabilistic early refresh
      .clock_ns = [&now_ns] { return now_ns; },
  });
  int backend_calls = 0;
  auto fetch_price = [&backend_calls] { return 100 + backend_calls++; };  // the slow backend
  const int first = prices.get("AAPL", fetch_price);   // miss: loads (concurrent misses share the load)
  const int cached = prices.get("AAPL", fetch_price);  // fresh hit: no backend call
  now_ns += std::chrono::nanoseconds(std::chrono::seconds(11)).count();
  const int reloaded = prices.get("AAPL", fetch_price);  // expired: loads again
  // With a deadline: a status (hit, loaded, shared, timed_out, failed, ...) instead of a wait or a throw.
  const auto quick = prices.get_for("AAPL", std::chrono::milliseconds(5), fetch_price);
  // Bulk (Caffeine's getAll): cached keys served, the rest loaded by one call.
  const std::vector<std::string> tickers{"AAPL", "MSFT"};
  const auto both = prices.get_all(tickers, [&backend_calls](std::span<const std::string> missing) {
    ++backend_calls;
    std::unordered_map<std::string, int> found;
    for (const auto& t : missing) found[t] = 300;
    return found;
  });
  if (first != 100 || cached != 100 || reloaded != 101 || quick.status != hotshard::load_status::hit ||
      both[1].value != 300 || prices.stats().backend_calls != 3) {
    std::printf("coalescing_cache: got %d %d %d with %d backend calls\n", first, cached, reloaded, backend_calls);
    return 1;
  }
  std::printf("6 lookups, %d backend calls, %llu hits\n", backend_calls,
              static_cast<unsigned long long>(prices.stats().hits));
}
