// write_buffer: writes to hot keys are combined in batches before they reach a slow store.
#include <hotshard/write_buffer.hpp>

#include <cstdio>
#include <map>
#include <string>
#include <thread>

int main() {
  std::map<std::string, long> store;  // the slow backend
  int store_writes = 0;
  hotshard::write_buffer_config<std::string, long> cfg;
  cfg.drain_thread = false;  // flush() drains on this thread; by default the buffer has its own drain thread
  hotshard::write_buffer<std::string, long> likes(
      [&](const std::string& key, const long& delta) {
        store[key] += delta;  // one call per key and batch (up to 256 writes): the deltas are summed
        ++store_writes;
        return true;  // false: the store refused, the write is kept and retried
      },
      cfg);
  {
    std::jthread writers[4];
    for (auto& w : writers)
      w = std::jthread([&likes] {
        for (int i = 0; i < 250; ++i) likes.write(i % 2 == 0 ? "post:1" : "post:2", 1);
      });
  }
  likes.flush();  // every write accepted so far has reached the store
  if (store["post:1"] != 500 || store["post:2"] != 500 || store_writes > 8) {
    std::printf("write_buffer: %ld + %ld likes in %d store writes\n", store["post:1"], store["post:2"], store_writes);
    return 1;
  }
  std::printf("1000 likes reached the store in %d writes\n", store_writes);
}
