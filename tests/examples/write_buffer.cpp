// write_buffer: writes to hot keys are combined in batches before they reach a slow store.
#include <hotshard/write_buffer.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>

int main() {
  std::map<std::string, long> store;  // the slow backend
  int store_writes = 0;
  hotshard::write_buffer_options<std::string, long> opts{
      .drain_thread = false,  // flush() drains on this thread; by default the buffer has its own drain thread
  };
  hotshard::write_buffer<std::string, long> likes(
      [&](const std::string& key, const long& delta) {
        store[key] += delta;  // one call per key and batch (up to 256 writes): the deltas are summed
        ++store_writes;
        return true;  // false: the store refused, the write is kept and retried
      },
      opts);
  {
    std::jthread writers[4];
    for (auto& w : writers)
      w = std::jthread([&likes] {
        for (int i = 0; i < 250; ++i)
          if (!likes.write(i % 2 == 0 ? "post:1" : "post:2", 1)) return;  // false: closed (or full with on_full = fail)
      });
  }  // shutdown order: stop the writers, flush_for, close, destroy
  const hotshard::flush_result r = likes.flush_for(std::chrono::seconds(10));  // bounded, even if the store refuses
  likes.close();
  if (!r.done() || store["post:1"] != 500 || store["post:2"] != 500 || store_writes > 8) {
    std::printf("write_buffer: %ld + %ld likes in %d store writes\n", store["post:1"], store["post:2"], store_writes);
    return 1;
  }
  std::printf("1000 likes reached the store in %d writes\n", store_writes);
}
