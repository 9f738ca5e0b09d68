/* harness/contenders/ck_ring_shim.c — see ck_ring_shim.hpp. C, because
 * ck_ring.h does not compile as C++. */
#include <ck_md.h>
#include <ck_ring.h>

#include <stdbool.h>
#include <stdlib.h>

struct hotshard_ck_ring {
  ck_ring_t r;
  ck_ring_buffer_t slots[];
};

struct hotshard_ck_ring* hotshard_ck_ring_create(unsigned size) {
  struct hotshard_ck_ring* x = calloc(1, sizeof(struct hotshard_ck_ring) + size * sizeof(ck_ring_buffer_t));
  if (x != NULL) ck_ring_init(&x->r, size);
  return x;
}
void hotshard_ck_ring_destroy(struct hotshard_ck_ring* r) { free(r); }
bool hotshard_ck_ring_enqueue_mpmc(struct hotshard_ck_ring* r, void* entry) {
  return ck_ring_enqueue_mpmc(&r->r, r->slots, entry);
}
bool hotshard_ck_ring_dequeue_mpmc(struct hotshard_ck_ring* r, void** entry) {
  return ck_ring_dequeue_mpmc(&r->r, r->slots, entry);
}
unsigned hotshard_ck_ring_size(const struct hotshard_ck_ring* r) { return ck_ring_size(&r->r); }
