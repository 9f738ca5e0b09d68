// prometheus: every primitive's stats() exported in one place, as the body of a /metrics endpoint.
#include <hotshard/bounded_queue.hpp>
#include <hotshard/coalescing_cache.hpp>
#include <hotshard/count_min_sketch.hpp>
#include <hotshard/heavy_hitters.hpp>
#include <hotshard/hot_key_detector.hpp>
#include <hotshard/per_thread_counter.hpp>
#include <hotshard/prometheus.hpp>
#include <hotshard/salted_counter_map.hpp>
#include <hotshard/single_flight.hpp>
#include <hotshard/striped_counter.hpp>
#include <hotshard/write_buffer.hpp>

#include <cstdio>
#include <map>
#include <stop_token>
#include <string>
#include <thread>

int main() {
  hotshard::striped_counter<> requests;
  hotshard::per_thread_counter<> bytes_sent;
  std::map<std::string, long> store;  // the slow backend behind the write buffer
  hotshard::write_buffer<std::string, long> likes([&store](const std::string& key, const long& delta) {
    store[key] += delta;
    return true;
  });
  hotshard::bounded_queue<int> jobs({.capacity = 8192});
  hotshard::salted_counter_map<std::string> views;
  hotshard::count_min_sketch<std::string> queries;
  hotshard::heavy_hitters<std::string> top_posts({.capacity = 16});
  hotshard::hot_key_detector<std::string> hot_posts({.hot_share = 0.1});
  hotshard::single_flight<std::string, int> profile_loads;
  hotshard::coalescing_cache<std::string, int> prices;

  // One scrape: stats() may be called from any thread while the workers run (it never blocks them).
  auto scrape = [&] {
    hotshard::prometheus_text out;
    out.add("hotshard_requests", requests.stats(), {{"endpoint", "/posts"}});
    out.add("hotshard_bytes_sent", bytes_sent.stats());
    out.add("hotshard_likes", likes.stats(), {{"buffer", "likes"}});
    out.add("hotshard_jobs", jobs.stats());
    out.add("hotshard_views", views.stats());
    out.add("hotshard_queries", queries.stats());
    out.add("hotshard_top_posts", top_posts.stats());
    out.add("hotshard_hot_posts", hot_posts.stats());
    out.add("hotshard_profile_loads", profile_loads.stats());
    out.add("hotshard_prices", prices.stats());
    return out.str();  // serve it with Content-Type: hotshard::prometheus_text::content_type
  };

  {
    std::jthread metrics([&](std::stop_token stop) {  // a metrics thread scraping while the workers run
      while (!stop.stop_requested()) (void)scrape();
    });
    std::jthread workers[4];
    for (auto& w : workers)
      w = std::jthread([&] {
        for (int i = 0; i < 1'000; ++i) {
          requests.increment();
          bytes_sent.add(512);
          if (!likes.write("post:1", 1)) return;
          if (!jobs.push(i)) return;  // false only once closed
          if (!views.add("post:1", 1)) return;
          queries.add("post:1");
          top_posts.add("post:1");
          (void)hot_posts.observe("post:1");
          (void)profile_loads.run(std::string("user:7"), [] { return 7; });
          (void)prices.get("AAPL", [] { return 100; });
        }
      });
  }  // workers joined, then the metrics thread stopped and joined
  likes.flush();
  const std::string body = scrape();
  std::fputs(body.c_str(), stdout);
  for (const char* line : {"hotshard_requests_value{endpoint=\"/posts\"} 4000\n", "hotshard_bytes_sent_value 2048000\n",
                           "hotshard_likes_applied_writes_total{buffer=\"likes\"} 4000\n",
                           "# TYPE hotshard_likes_accepted_total counter\n", "hotshard_jobs_pushes_total 4000\n"})
    if (body.find(line) == std::string::npos) {
      std::printf("prometheus: missing line %s", line);
      return 1;
    }
}
