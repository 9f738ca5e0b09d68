// harness/contenders/peer_tsan_suppressions.hpp — ThreadSanitizer suppressions
// for the peers' own headers, written once. Include from exactly one
// translation unit of a binary that drives peer contenders.
//
// Why: libtbb is not built with TSan, so memory that oneTBB recycles through
// its uninstrumented allocator (enumerable_thread_specific tables, the pages of
// concurrent_bounded_queue) reads as racing; moodycamel::ConcurrentQueue
// synchronises through std::atomic_thread_fence, which GCC's TSan does not
// model; Boost.Lockfree's freelist reads a node's tagged index plainly while
// another thread may store it, relying on the tag CAS that follows to discard
// a stale read. Only frames inside those peers are suppressed: our primitives and the
// adapters around the peers stay fully checked.
//
// Issue 14's peers: ReaderWriterQueue orders its SPSC hand-off with
// std::atomic_thread_fence (not modelled by GCC's TSan, as above; its own
// AE_NO_TSAN marks do not cover the inlined accesses). xenium, libcds and
// libcuckoo needed none (their tests under TSan report nothing). Debian's libabsl and liburcu are not built with
// TSan, so absl::Mutex and cds_wfcq hand-offs are invisible to it: the data
// they protect (the absl adapters' maps and calls, the urcu buffer's nodes)
// reads as racing — for those the adapters' own frames are suppressed, the
// only frames such a report has. ck_ring is compiled as C without TSan.
#pragma once

#if defined(__SANITIZE_THREAD__)
extern "C" const char* __tsan_default_suppressions() {
  return "race:tbb::detail::d1::ets_base\n"
         "race:tbb::detail::d1::enumerable_thread_specific\n"
         "race:tbb::detail::d2::concurrent_bounded_queue\n"
         "race:tbb::detail::d2::micro_queue\n"
         "race:moodycamel::ConcurrentQueue\n"
         "race:boost::lockfree\n"
         "race:moodycamel::ReaderWriterQueue\n"
         "race:absl::\n"
         "race:hotshard::contenders::absl_sharded_counter\n"
         "race:hotshard::contenders::absl_map_flight\n"
         "race:hotshard::contenders::urcu_wfcq_buffer\n";
}
#endif
