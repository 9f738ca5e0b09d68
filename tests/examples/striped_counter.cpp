// striped_counter: threads bump one hot counter; read() is exact once they are joined.
#include <hotshard/striped_counter.hpp>

#include <cstdio>
#include <thread>
#include <vector>

int main() {
  hotshard::striped_counter<> requests;  // one word until adds collide, then padded cells
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&requests] {
      for (int i = 0; i < 100'000; ++i) requests.increment();
    });
  for (auto& w : workers) w.join();  // the join orders every add before read()
  const long long total = requests.read();
  if (total != 400'000) {
    std::printf("striped_counter: read() = %lld, expected 400000\n", total);
    return 1;
  }
  std::printf("%lld requests counted\n", total);
}
