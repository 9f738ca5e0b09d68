// coalescing_cache: a read-through cache with a TTL; misses load once, hits cost no backend call.
#include <hotshard/coalescing_cache.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

int main() {
  std::int64_t now_ns = 0;  // an injected clock makes expiry deterministic
  hotshard::coalescing_cache_options opt;
  opt.ttl = std::chrono::seconds(10);
  opt.beta = 0;  // no probabilistic early refresh
  opt.clock_ns = [&now_ns] { return now_ns; };
  hotshard::coalescing_cache<std::string, int> prices(opt);
  int backend_calls = 0;
  auto fetch_price = [&backend_calls] { return 100 + backend_calls++; };  // the slow backend
  const int first = prices.get("AAPL", fetch_price);   // miss: loads (concurrent misses share the load)
  const int cached = prices.get("AAPL", fetch_price);  // fresh hit: no backend call
  now_ns += std::chrono::nanoseconds(std::chrono::seconds(11)).count();
  const int reloaded = prices.get("AAPL", fetch_price);  // expired: loads again
  if (first != 100 || cached != 100 || reloaded != 101 || prices.stats().backend_calls != 2) {
    std::printf("coalescing_cache: got %d %d %d with %d backend calls\n", first, cached, reloaded, backend_calls);
    return 1;
  }
  std::printf("3 gets, %d backend calls, %llu hit\n", backend_calls,
              static_cast<unsigned long long>(prices.stats().hits));
}
