// prometheus: every primitive's stats() exported in one place, as the body of a /metrics endpoint.
#include <hotshard/per_thread_counter.hpp>
#include <hotshard/prometheus.hpp>
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

  // One scrape: stats() may be called from any thread while the workers run (it never blocks them).
  auto scrape = [&] {
    hotshard::prometheus_text out;
    out.add("hotshard_requests", requests.stats(), {{"endpoint", "/posts"}});
    out.add("hotshard_bytes_sent", bytes_sent.stats());
    out.add("hotshard_likes", likes.stats(), {{"buffer", "likes"}});
    // Every other primitive the same way, one line each: out.add("hotshard_<name>", <primitive>.stats());
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
        }
      });
  }  // workers joined, then the metrics thread stopped and joined
  likes.flush();
  const std::string body = scrape();
  std::fputs(body.c_str(), stdout);
  for (const char* line : {"hotshard_requests_value{endpoint=\"/posts\"} 4000\n", "hotshard_bytes_sent_value 2048000\n",
                           "hotshard_likes_applied_writes_total{buffer=\"likes\"} 4000\n",
                           "# TYPE hotshard_likes_accepted_total counter\n"})
    if (body.find(line) == std::string::npos) {
      std::printf("prometheus: missing line %s", line);
      return 1;
    }
}
