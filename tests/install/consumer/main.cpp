// An outside project's view of hotshard: it includes every installed
// primitive's header (so a header that includes an uninstalled one fails
// here) and links hotshard::primitives, nothing else.
#include <hotshard/bounded_queue.hpp>
#include <hotshard/buffered_count_min_sketch.hpp>
#include <hotshard/coalescing_cache.hpp>
#include <hotshard/concepts.hpp>
#include <hotshard/count_min_sketch.hpp>
#include <hotshard/heavy_hitters.hpp>
#include <hotshard/hot_key_detector.hpp>
#include <hotshard/keys.hpp>
#include <hotshard/per_thread_counter.hpp>
#include <hotshard/prometheus.hpp>
#include <hotshard/salted_counter_map.hpp>
#include <hotshard/single_flight.hpp>
#include <hotshard/striped_counter.hpp>
#include <hotshard/version.hpp>
#include <hotshard/write_buffer.hpp>
#include <hotshard/detail/hash.hpp>

#include <cstdint>
#include <cstdio>

int main() {
  // Use something real from the library, not just the version string.
  hotshard::salted_counter_map<std::uint64_t> salted({.capacity = 64});
  const bool ok = hotshard::detail::unmix64(hotshard::detail::mix64(42)) == 42 &&
                  hotshard::version_number() > 0 && salted.add(7, 3) && salted.read(7) == 3;
  std::printf("hotshard %.*s %s\n", static_cast<int>(hotshard::version_string.size()),
              hotshard::version_string.data(), ok ? "ok" : "BROKEN");
  return ok ? 0 : 1;
}
