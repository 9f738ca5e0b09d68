// detail::thread_slot_table_ids: a table's destructor gives its id back, and
// a destructor must not allocate (a failed allocation there terminates the
// process), so give() never does: take() reserved the room when it issued a
// new id. This binary replaces the global operator new to count this thread's
// allocations.
#include <hotshard/detail/thread_slots.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <new>
#include <vector>

namespace {
thread_local std::uint64_t allocations = 0;
}  // namespace

// The replacement pair is malloc/free on both sides, but GCC (optimised, as in
// the ASan preset) sees free() reached from a `new` expression once it inlines
// the delete, and warns.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  ++allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

using hotshard::detail::thread_slot_table_ids;

TEST(thread_slot_table_ids, giving_ids_back_never_allocates) {
  std::vector<std::uint32_t> ids;
  ids.reserve(5000);
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 5000; ++k) ids.push_back(thread_slot_table_ids::take());
    const std::uint64_t before = allocations;
    for (auto id : ids) thread_slot_table_ids::give(id);
    EXPECT_EQ(allocations - before, 0u) << "round " << round;
    ids.clear();
  }
}

TEST(thread_slot_table_ids, ids_given_back_are_taken_again_before_new_ones) {
  std::vector<std::uint32_t> first;
  for (int k = 0; k < 100; ++k) first.push_back(thread_slot_table_ids::take());
  for (auto id : first) thread_slot_table_ids::give(id);
  std::vector<std::uint32_t> again;
  for (int k = 0; k < 100; ++k) again.push_back(thread_slot_table_ids::take());
  std::sort(first.begin(), first.end());
  std::sort(again.begin(), again.end());
  EXPECT_EQ(first, again);
  for (auto id : again) thread_slot_table_ids::give(id);
}
