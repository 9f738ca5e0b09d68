// Shared helpers of the single-flight tests: hooks that let a test wait for a
// condition instead of a time, and value types whose copies throw on demand.
#pragma once

#include <hotshard/detail/hash.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <stop_token>
#include <thread>

namespace sf_test {

using namespace std::chrono_literals;

// Watches whether two flights of one key ever load at the same time. A
// flight's loader gets its flight's stop_token (stop_possible); a load a
// caller runs alone after max_attempts beaten claims (overflow: allowed, no
// flight) gets the caller's empty one and is only counted, since it may
// overlap a flight. A test checks overlaps == 0, flights == stats().flights
// (every flight was recognised, so the overlap check saw them all) and
// alone == stats().overflow.
template <std::size_t Keys>
struct flight_overlap_probe {
  std::array<std::atomic<int>, Keys> active{};
  std::atomic<std::uint64_t> overlaps{0}, flights{0}, alone{0};

  // The loader for `key` (< Keys): `hold` runs while the flight loads.
  template <class Hold>
  auto loader(std::uint64_t key, Hold hold) {
    return [this, key, hold](std::stop_token st) {
      if (!st.stop_possible()) {
        alone.fetch_add(1);
        return key;
      }
      flights.fetch_add(1);
      if (active[key].fetch_add(1) != 0) overlaps.fetch_add(1);
      hold();
      active[key].fetch_sub(1);
      return key;
    };
  }
};

// Stats hook that tells a test how many callers are blocked on a flight's
// result: wait() when a caller goes to sleep on it, spin() when that flight
// turned out to be a beaten claim. Each test gets its own counter via Tag.
template <class Tag>
struct waiter_count {
  static inline std::atomic<long> net{0};
  static void wait() noexcept { net.fetch_add(1, std::memory_order_seq_cst); }
  static void spin() noexcept { net.fetch_sub(1, std::memory_order_seq_cst); }
  static void cas_failure() noexcept {}
};

// Waits until pred() holds; the condition, never a duration, ends the wait.
template <class Pred>
void await(Pred pred) {
  while (!pred()) std::this_thread::sleep_for(20us);
}
inline void await_flag(const std::atomic<bool>& f) {
  await([&] { return f.load(std::memory_order_acquire); });
}

// A value whose copy constructor throws in a thread that armed it; moves never throw.
struct copy_bomb {
  static inline thread_local bool armed = false;
  int v = 0;
  copy_bomb() = default;
  explicit copy_bomb(int x) : v(x) {}
  copy_bomb(const copy_bomb& o) : v(o.v) {
    if (armed) throw std::runtime_error("copy failed");
  }
  copy_bomb(copy_bomb&& o) noexcept : v(o.v) {}
  copy_bomb& operator=(const copy_bomb& o) {
    if (armed) throw std::runtime_error("copy failed");
    v = o.v;
    return *this;
  }
  copy_bomb& operator=(copy_bomb&& o) noexcept {
    v = o.v;
    return *this;
  }
  friend bool operator==(const copy_bomb& a, const copy_bomb& b) noexcept { return a.v == b.v; }
};
struct copy_bomb_hash {
  std::size_t operator()(const copy_bomb& b) const noexcept { return std::hash<int>{}(b.v); }
};

// Schedule noise: a Stats policy that yields at every protocol step
// (schedule_point) and contention event with probability 1/2, from a
// per-thread generator, so the stress tests see many more interleavings.
struct noise {
  static void maybe_yield() noexcept {
    thread_local std::uint64_t x = hotshard::detail::mix64(reinterpret_cast<std::uintptr_t>(&x));
    x = hotshard::detail::mix64(x + 0x9e3779b97f4a7c15ULL);
    if (x & 1) std::this_thread::yield();
  }
  static void schedule_point() noexcept { maybe_yield(); }
  static void cas_failure() noexcept { maybe_yield(); }
  static void spin() noexcept { maybe_yield(); }
  static void wait() noexcept { maybe_yield(); }
};

}  // namespace sf_test
