// Side by side, one thread (issue 19): Apache DataSketches'
// frequent_items_sketch<uint64_t> (lg_max_map_size 15), the summary most users
// reach for, against hotshard::hot_key_detector<uint64_t>::observe and
// hotshard::heavy_hitters<uint64_t>::add, on the suite's stream
// zipf:n=1000000,s=1.0,scramble=1 (seed 1, thread 0 of 1), 4 Mi keys generated
// before timing, repetitions interleaved with the order reversed every other one.
//
// DataSketches is not a Debian package and nothing is downloaded: it builds
// only against a copy of its header-only sources that you provide
// (datasketches-cpp's fi/include and common/include in one directory DS):
//   cmake --preset release && cmake --build --preset release --target hotshard_workloads
//   g++ -std=c++20 -O3 -DNDEBUG -Iprimitives/include -Iworkloads/include -I$DS \
//       anchors/datasketches/side_by_side.cpp build/release/workloads/libhotshard_workloads.a \
//       -lz -llzma -lzstd -o /tmp/side_by_side && /tmp/side_by_side 15
//
// usage: side_by_side [repetitions=9]
#include <frequent_items_sketch.hpp>

#include <hotshard/heavy_hitters.hpp>
#include <hotshard/hot_key_detector.hpp>
#include <hotshard/policy.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace {

using clk = std::chrono::steady_clock;
using keys_t = std::vector<std::uint64_t>;

volatile std::uint64_t g_sink = 0;  // consumes every run's result

// The scenario's defaults (harness/contenders/sketches.hpp, sketch_params):
// hh_capacity 2048, epsilon 0.0002, hot_share 0.01, window 1<<16,
// seed = count_min_options{}.seed (0).
constexpr std::size_t hh_capacity = 2048;
constexpr double hh_epsilon = 0.0002;
constexpr double hot_share = 0.01;
constexpr std::uint64_t window = 1 << 16;
constexpr std::uint64_t seed = hotshard::count_min_options{}.seed;
constexpr std::uint8_t lg_max_map_size = 15;

using ds_sketch = datasketches::frequent_items_sketch<std::uint64_t>;
using detector = hotshard::hot_key_detector<std::uint64_t>;
using hh_plain = hotshard::heavy_hitters<std::uint64_t>;
using hh_counted = hotshard::heavy_hitters<std::uint64_t, hotshard::policy::count_contention>;  // as the scenario

// Each returns seconds for the whole loop; the object is built before and
// destroyed after the timed region.
__attribute__((noinline)) double run_ds(const keys_t& keys) {
  auto s = std::make_unique<ds_sketch>(lg_max_map_size);
  const auto t0 = clk::now();
  for (std::size_t i = 0; i < keys.size(); ++i) s->update(keys[i]);
  const auto t1 = clk::now();
  g_sink = g_sink + s->get_total_weight() + s->get_maximum_error() + s->get_estimate(keys[0]);
  return std::chrono::duration<double>(t1 - t0).count();
}

__attribute__((noinline)) double run_detector(const keys_t& keys) {
  auto d = std::make_unique<detector>(
      hotshard::hot_key_detector_options{.hot_share = hot_share, .window = window, .sketch = {.seed = seed}});
  std::uint64_t hot = 0;
  const auto t0 = clk::now();
  for (std::size_t i = 0; i < keys.size(); ++i) hot += d->observe(keys[i]) ? 1 : 0;
  const auto t1 = clk::now();
  g_sink = g_sink + hot + d->estimate(keys[0]) + d->hot_keys().size();
  return std::chrono::duration<double>(t1 - t0).count();
}

template <class HH>
__attribute__((noinline)) double run_hh(const keys_t& keys) {
  auto h = std::make_unique<HH>(
      hotshard::heavy_hitters_options{.capacity = hh_capacity, .sketch = {.epsilon = hh_epsilon, .seed = seed}});
  const auto t0 = clk::now();
  for (std::size_t i = 0; i < keys.size(); ++i) h->add(keys[i]);
  const auto t1 = clk::now();
  g_sink = g_sink + h->estimate(keys[0]) + h->top(1).front().count;
  return std::chrono::duration<double>(t1 - t0).count();
}

struct contender {
  const char* name;
  double (*run)(const keys_t&);
  std::vector<double> mups;  // M updates/s per repetition
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void agreement(const keys_t& keys) {
  std::unordered_map<std::uint64_t, std::uint64_t> exact;
  for (auto k : keys) ++exact[k];
  std::vector<std::pair<std::uint64_t, std::uint64_t>> by_count(exact.begin(), exact.end());
  std::sort(by_count.begin(), by_count.end(), [](auto& a, auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  std::unordered_set<std::uint64_t> truth;
  for (std::size_t i = 0; i < 100 && i < by_count.size(); ++i) truth.insert(by_count[i].first);

  ds_sketch s(lg_max_map_size);
  hh_plain h({.capacity = hh_capacity, .sketch = {.epsilon = hh_epsilon, .seed = seed}});
  for (auto k : keys) { s.update(k); h.add(k); }
  const auto rows = s.get_frequent_items(datasketches::NO_FALSE_POSITIVES, 0);
  std::unordered_set<std::uint64_t> ds_top, hh_top;
  for (std::size_t i = 0; i < 100 && i < rows.size(); ++i) ds_top.insert(rows[i].get_item());
  for (const auto& e : h.top(100)) hh_top.insert(e.key);
  auto common = [](const auto& a, const auto& b) { std::size_t c = 0; for (auto k : a) c += b.count(k); return c; };
  std::printf("top-100 agreement: DS∩HH %zu, DS∩exact %zu, HH∩exact %zu (DS %zu, HH %zu keys; distinct %zu; 100th exact count %llu)\n",
              common(ds_top, hh_top), common(ds_top, truth), common(hh_top, truth), ds_top.size(), hh_top.size(),
              exact.size(), static_cast<unsigned long long>(by_count[std::min<std::size_t>(99, by_count.size() - 1)].second));
  std::printf("DS: max error %llu, active %u; HH top1 count %llu\n", static_cast<unsigned long long>(s.get_maximum_error()),
              s.get_num_active_items(), static_cast<unsigned long long>(h.top(1).front().count));
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 9;
  namespace wl = hotshard::workloads;
  const keys_t keys = wl::generate_keys(wl::parse_spec("zipf:n=1000000,s=1.0,scramble=1"), /*seed*/ 1, /*thread*/ 0,
                                        /*threads*/ 1, std::size_t{1} << 22);
  std::printf("keys %zu, first %llu\n", keys.size(), static_cast<unsigned long long>(keys[0]));

  std::vector<contender> cs = {{"datasketches_fi", &run_ds, {}},
                               {"hot_key_detector", &run_detector, {}},
                               {"heavy_hitters", &run_hh<hh_plain>, {}},
                               {"heavy_hitters_counted", &run_hh<hh_counted>, {}}};
  for (auto& c : cs) (void)c.run(keys);  // warm-up (page faults, caches), untimed

  const double n = static_cast<double>(keys.size());
  for (int r = 0; r < reps; ++r) {
    // Alternate the order: forward on even repetitions, reversed on odd.
    for (std::size_t j = 0; j < cs.size(); ++j) {
      auto& c = cs[r % 2 == 0 ? j : cs.size() - 1 - j];
      const double s = c.run(keys);
      c.mups.push_back(n / s / 1e6);
    }
    std::printf("rep %d:", r);
    for (const auto& c : cs) std::printf(" %s %.1f", c.name, c.mups.back());
    std::printf("\n");
  }
  const double ds_med = reps > 0 ? median(cs[0].mups) : 0;
  for (const auto& c : cs) {
    if (c.mups.empty()) break;
    std::printf("%-22s median %6.1f M/s  min %6.1f  max %6.1f  ratio/DS %.2f\n", c.name, median(c.mups),
                *std::min_element(c.mups.begin(), c.mups.end()), *std::max_element(c.mups.begin(), c.mups.end()),
                median(c.mups) / ds_med);
  }
  agreement(keys);
  std::printf("sink %llu\n", static_cast<unsigned long long>(g_sink));
}
