// per_thread_counter: short-lived threads add to their own slot; nothing is lost when they exit.
#include <hotshard/per_thread_counter.hpp>

#include <cstdio>
#include <thread>

int main() {
  hotshard::per_thread_counter<> bytes_sent;  // each thread writes only its own cache line
  for (int wave = 0; wave < 3; ++wave) {      // a thread pool that churns: 3 waves of 4 threads
    std::jthread pool[4];
    for (auto& t : pool)
      t = std::jthread([&bytes_sent] {
        for (int i = 0; i < 1'000; ++i) bytes_sent.add(512);
      });
  }  // each wave's threads exit here; their counts stay in the slots they give back
  const long long total = bytes_sent.read();
  if (total != 3LL * 4 * 1'000 * 512 || bytes_sent.slots_in_use() != 0) {
    std::printf("per_thread_counter: read() = %lld, slots in use %zu\n", total, bytes_sent.slots_in_use());
    return 1;
  }
  std::printf("%lld bytes counted, no slot held after the threads exited\n", total);
}
