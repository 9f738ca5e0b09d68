// harness/contenders/ck_ring_shim.hpp — Concurrency Kit's MPMC ring behind a
// few out-of-line C functions. ck_ring.h is C that a C++ compiler rejects
// (_ck_ring_enqueue_reserve_mp returns `false` from a void* function, an error
// even under -fpermissive), so it is compiled once, as C, in ck_ring_shim.c,
// and the queue adapter calls through here: one direct call per operation that
// the inlined header would not have (a few ns beside the CAS each one does).
// The C file is not built with the C++ sanitizer flags: TSan does not see
// ck_ring's accesses (it passes items by value, so no instrumented memory is
// handed over through it).
#pragma once

extern "C" {
struct hotshard_ck_ring;
// size: a power of two >= 4; usable size - 1. Null when out of memory.
hotshard_ck_ring* hotshard_ck_ring_create(unsigned size);
void hotshard_ck_ring_destroy(hotshard_ck_ring* r);
bool hotshard_ck_ring_enqueue_mpmc(hotshard_ck_ring* r, void* entry);
bool hotshard_ck_ring_dequeue_mpmc(hotshard_ck_ring* r, void** entry);
unsigned hotshard_ck_ring_size(const hotshard_ck_ring* r);
}
