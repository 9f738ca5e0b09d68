// hot_key_detector: which keys carry ≥ φ of recent traffic, and forgetting them once traffic moves on.
#include <hotshard/hot_key_detector.hpp>

#include <cstdint>
#include <cstdio>
#include <string>

int main() {
  // Hot = at least 10% of the decayed recent traffic; epochs are ended by hand (window = 0),
  // e.g. by a timer, and each epoch end halves the weight of the past.
  hotshard::hot_key_detector<std::uint64_t> detector({.hot_share = 0.1, .window = 0});
  hotshard::hot_key_detector<std::uint64_t>::change_cursor seen;  // what this caller was told is hot
  int promoted = 0, demoted = 0;
  const auto on_change = [&](std::uint64_t key, bool hot) { (hot ? promoted : demoted) += key == 42 ? 1 : 100; };
  std::uint64_t cold = 1'000;
  for (int i = 0; i < 1'000; ++i) detector.observe(i % 3 == 0 ? 42 : cold++);  // key 42: a third of it
  // Any hashable key; hash_once(key) hashes a request once for several structures (same results).
  hotshard::hot_key_detector<std::string> paths({.hot_share = 0.1, .window = 0});
  for (int i = 0; i < 1'000; ++i) {
    const std::string path = i % 2 == 0 ? "/checkout" : "/item/" + std::to_string(i);
    paths.observe(hotshard::hash_once(path));
  }
  const bool path_hot = paths.is_hot(std::string_view("/checkout")) && paths.stats().hot_keys == 1;
  const bool hot_then = detector.is_hot(42) && !detector.is_hot(1'000);
  detector.drain_changes(seen, on_change);  // 42 became hot: promote it (e.g. salt it in a map)
  for (int epoch = 0; epoch < 3; ++epoch) {  // the traffic moves on: only cold keys from now on
    if (!detector.advance_epoch()) return 1;  // false only while another thread's epoch end runs
    for (int i = 0; i < 1'000; ++i) detector.observe(cold++);
  }
  detector.drain_changes(seen, on_change);  // 42 cooled: demote it
  if (!hot_then || !path_hot || detector.is_hot(42) || promoted != 1 || demoted != 1) {
    std::printf("hot_key_detector: 42 should be hot at first (%d), then not (%d); promoted %d, demoted %d\n",
                hot_then, detector.is_hot(42), promoted, demoted);
    return 1;
  }
  std::printf("key 42 was hot (promoted once), and is no longer 3 epochs after its traffic stopped (demoted once)\n");
}
