// hotshard/detail/thread_slots.hpp — per-thread machinery of the counters:
// the stripe probe of striped counters and salted maps, and the registry that
// gives a thread its own slot in a per_thread_counter and frees it, count
// kept, when the thread exits.
//
// The probe follows java.util.concurrent.atomic.Striped64 (Doug Lea; the
// "threadLocalRandomProbe"): one nonzero 32-bit value per thread, shared by
// every counter, rehashed with a xorshift step when the cell it picked was
// contended, so threads that collide drift apart and then stay apart.
//
// The slot registry answers two lifetime questions without a use-after-free:
//  * the thread exits first: a thread_local `thread_slot_registry` is
//    destroyed at thread exit; for every table it holds a slot in and that is
//    still alive (weak_ptr::lock succeeds) it frees the slot for reuse, its
//    count left in place for the next owner to add on top of. lock() keeps
//    the table alive meanwhile even if the counter is being destroyed.
//  * the counter is destroyed first: it drops its shared_ptr; the table dies
//    with the last owner, and the threads' weak_ptrs simply expire. A thread
//    never dereferences a cached slot pointer of a dead table: a cached entry
//    (the last-used slot, and the slot array indexed by table id) matches
//    only on the table's address, and that address cannot be reused while
//    the thread's registry holds a weak_ptr to it (the table is built by
//    make_shared, so its storage lives as long as any weak_ptr); the registry
//    clears the cached entries before it drops an expired weak_ptr. A dead
//    table's id may go to a new table at once: the address check turns the
//    stale entry into a miss.
//
// Why an entry matches on a pointer and not on the integer id: a store to
// the slot (an int64_t) may alias any integer the compiler would otherwise
// keep in a register, never a pointer. With a pointer compare an add in a
// loop keeps its slot address in a register, and the CPU forwards the slot's
// value from one add's store to the next add's load at full speed.
//
// Progress: thread_probe/rehash_probe are wait-free. thread_slot_table::claim
// and release take a mutex (blocking; they run once per thread and counter),
// as do a table's construction and destruction (its id) and a registry's
// growth of the thread's slot array (allocation, once per doubling).
// thread_slot_table::sum is wait-free.
//
// Memory ordering: see the numbered pairs below. Counts are relaxed: a slot
// has one writer at a time, ownership passes through the table's mutex, and
// visibility of the final counts comes from thread join or the user's own
// synchronisation.
#pragma once

#include <hotshard/detail/cache_line.hpp>
#include <hotshard/detail/hash.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hotshard::detail {

// --- stripe probe -----------------------------------------------------------

// A power of two near the core count: the default bound on the number of
// stripes. More stripes than running threads only cost memory and read time.
[[nodiscard]] inline std::uint32_t default_stripe_bound() noexcept {
  const unsigned hw = std::thread::hardware_concurrency();
  return std::bit_ceil(hw == 0 ? 1u : hw);
}

[[nodiscard]] inline std::uint32_t seed_probe() noexcept {
  static std::atomic<std::uint64_t> next{0x9e3779b97f4a7c15ULL};
  // Only uniqueness matters, no ordering with anything else.
  const auto s = mix64(next.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed));
  const auto p = static_cast<std::uint32_t>(s ^ (s >> 32));
  return p == 0 ? 1u : p;
}

// The calling thread's probe (nonzero). Trivially destructible thread_local:
// no TLS guard on the hot path.
inline thread_local std::uint32_t tls_probe = 0;

[[nodiscard]] inline std::uint32_t thread_probe() noexcept {
  if (tls_probe == 0) [[unlikely]] tls_probe = seed_probe();
  return tls_probe;
}

// Marsaglia xorshift32: moves the calling thread to another stripe after a
// collision; never returns 0 for a nonzero input.
inline std::uint32_t rehash_probe() noexcept {
  std::uint32_t p = thread_probe();
  p ^= p << 13;
  p ^= p >> 17;
  p ^= p << 5;
  tls_probe = p;
  return p;
}

// --- slots owned by one thread each ----------------------------------------

// Dense ids of live slot tables, reused after a table dies: the index of a
// thread's slot array (thread_slot_index below), so a thread that alternates
// between many counters finds each slot without hashing. Leaked on purpose:
// tables may die during static destruction.
class thread_slot_table_ids {
 public:
  // May throw std::bad_alloc (a table's constructor calls it).
  [[nodiscard]] static std::uint32_t take() {
    pool& p = instance();
    std::scoped_lock lock(p.mutex);
    if (p.free.empty()) {
      // Room for every id ever issued, reserved here, so that give() (called
      // from a table's destructor) never allocates: each id is live or free.
      if (p.free.capacity() < std::size_t{p.next} + 1) p.free.reserve(2 * (std::size_t{p.next} + 1));
      return p.next++;
    }
    const std::uint32_t id = p.free.back();
    p.free.pop_back();
    return id;
  }
  static void give(std::uint32_t id) noexcept {  // never allocates: take() reserved the room
    pool& p = instance();
    std::scoped_lock lock(p.mutex);
    p.free.push_back(id);
  }

 private:
  struct pool {
    std::mutex mutex;
    std::vector<std::uint32_t> free;  // guarded by mutex
    std::uint32_t next = 0;           // guarded by mutex
  };
  static pool& instance() {
    static pool* const p = new pool;
    return *p;
  }
};

// The state of one per_thread_counter, shared (shared_ptr) between the counter
// and the threads that hold a slot in it.
class thread_slot_table {
 public:
  using cell = std::atomic<std::int64_t>;

  // Build with std::make_shared (see "the counter is destroyed first" above).
  explicit thread_slot_table(std::size_t capacity)
      : slots_(std::make_unique<padded<cell>[]>(capacity == 0 ? 1 : capacity)),
        used_(capacity == 0 ? 1 : capacity, false) {}
  ~thread_slot_table() { thread_slot_table_ids::give(id_); }
  thread_slot_table(const thread_slot_table&) = delete;
  thread_slot_table& operator=(const thread_slot_table&) = delete;

  // Unique among live tables (see thread_slot_table_ids).
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }

  [[nodiscard]] std::size_t capacity() const noexcept { return used_.size(); }

  // The word of the threads that found no free slot (they fetch_add to it).
  [[nodiscard]] cell& shared() noexcept { return *shared_; }

  // A free slot for the calling thread (holding the counts of its earlier
  // owners, if any), or nullptr if all are taken.
  [[nodiscard]] cell* claim() {
    std::scoped_lock lock(mutex_);
    for (std::size_t i = 0; i < used_.size(); ++i) {
      if (used_[i]) continue;
      used_[i] = true;
      // Relaxed: a gauge for stats(), written under the mutex, read without it.
      in_use_.store(in_use_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      if (i + 1 > high_water_.load(std::memory_order_relaxed))
        // (1) release: pairs with the acquire in (2); the bound only grows.
        high_water_.store(i + 1, std::memory_order_release);
      return &cell_at(i);
    }
    return nullptr;
  }

  // Frees the slot for the next thread. Called by the slot's owner at thread
  // exit. The count stays in the slot and the next owner adds on top of it:
  // "folding" in place. Moving it into shared() instead would open a moment
  // where a concurrent sum() sees it twice or not at all; left in place it is
  // always counted exactly once, and sum() needs no lock and no retry.
  void release(cell* slot) {
    std::scoped_lock lock(mutex_);
    // The mutex orders this owner's last store before the next owner's first
    // load (its claim() takes the same mutex): single writer at every moment.
    const auto physical = static_cast<std::size_t>(reinterpret_cast<padded<cell>*>(slot) - slots_.get());
    used_[(physical + capacity() - rotation_) % capacity()] = false;
    // Relaxed: see claim().
    in_use_.store(in_use_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }

  // Sum of shared() and every slot ever claimed. Not a snapshot (see
  // per_thread_counter.hpp): each slot's value at some moment during the pass.
  [[nodiscard]] std::int64_t sum() const noexcept {
    // (2) acquire: pairs with the release in (1); slots above the bound were
    // never written.
    const std::size_t bound = high_water_.load(std::memory_order_acquire);
    // Relaxed: each slot has a single writer; we read some value it held.
    std::int64_t v = shared_->load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < bound; ++i) v += cell_at(i).load(std::memory_order_relaxed);
    return v;
  }

  // Slots held by live threads: some value it had during the call. Lock-free
  // (a metrics thread must not block a thread's claim or exit); exact once
  // the claiming and exiting threads are joined (the mutex orders its writes).
  [[nodiscard]] std::size_t slots_in_use() const noexcept { return in_use_.load(std::memory_order_relaxed); }
  // Slots ever claimed (the high-water mark of threads at once): the number
  // of slots sum() reads. Relaxed: a gauge, orders nothing.
  [[nodiscard]] std::size_t slots_claimed() const noexcept { return high_water_.load(std::memory_order_relaxed); }

 private:
  // Slot i (in claim order) lives rotation_ lines into the array, wrapping.
  // Why: the array is one allocation of capacity lines, and an allocator
  // aligns such blocks alike (jemalloc: 8 KiB blocks on 8 KiB boundaries), so
  // without it a thread's slots in many counters (slot 0 in each) would all
  // fall in one cache set and evict each other.
  [[nodiscard]] cell& cell_at(std::size_t i) const noexcept {
    const std::size_t p = i + rotation_;
    return *slots_[p < capacity() ? p : p - capacity()];
  }

  const std::uint32_t id_ = thread_slot_table_ids::take();
  std::unique_ptr<padded<cell>[]> slots_;
  std::vector<bool> used_;  // guarded by mutex_; index = claim order (see cell_at)
  const std::size_t rotation_ = mix64(id_) % used_.size();
  padded<cell> shared_;
  std::atomic<std::size_t> high_water_{0};  // slots [0, high_water_) were ever claimed
  std::atomic<std::size_t> in_use_{0};      // used_'s true entries; written under mutex_
  mutable std::mutex mutex_;
};

// One thread's view: which slot it holds in which table.
struct thread_slot_ref {
  const thread_slot_table* table = nullptr;  // nullptr = empty
  thread_slot_table::cell* slot = nullptr;   // nullptr: no slot, use shared()
};

// The calling thread's slots, indexed by table id: entry `id` is empty or
// {table, slot} for the live (or not yet pruned) table of that id. A
// heap array the registry grows on demand and frees at thread exit; the
// thread_local itself is trivially destructible, so it needs no TLS guard and
// stays valid while other thread_local objects are destroyed. Ids from
// thread_slot_index_limit up are not indexed (their lookups go to the
// registry's hash map), which caps the array at 1 MiB per thread.
struct thread_slot_index {
  thread_slot_ref* refs = nullptr;
  std::uint32_t size = 0;
};
inline constexpr std::uint32_t thread_slot_index_limit = std::uint32_t{1} << 16;
inline thread_local thread_slot_index tls_slot_index;
// The calling thread's last-used slot: one compare for a hot counter, before
// the index's arithmetic. Empty, or a copy of an index entry that holds a
// slot (cleared with it).
inline thread_local thread_slot_ref tls_slot_last;
// Set once this thread's registry has been destroyed (thread exit): later adds
// from other thread_local destructors go to the shared word.
inline thread_local bool tls_slot_registry_gone = false;

// The calling thread's entry for `table` (whose id() is `id`: callers keep
// it beside their table pointer, sparing a read of the table) if indexed,
// else an empty ref.
[[nodiscard]] inline thread_slot_ref cached_slot(const thread_slot_table* table, std::uint32_t id) noexcept {
  if (id < tls_slot_index.size && tls_slot_index.refs[id].table == table) return tls_slot_index.refs[id];
  return {};
}

// Every slot the calling thread holds; frees them at thread exit.
class thread_slot_registry {
 public:
  thread_slot_registry() = default;
  thread_slot_registry(const thread_slot_registry&) = delete;
  thread_slot_registry& operator=(const thread_slot_registry&) = delete;

  ~thread_slot_registry() {
    tls_slot_registry_gone = true;
    tls_slot_last = {};
    delete[] std::exchange(tls_slot_index.refs, nullptr);
    tls_slot_index.size = 0;
    for (auto& [key, e] : entries_)
      if (e.slot != nullptr)
        if (auto table = e.table.lock()) table->release(e.slot);
  }

  // The calling thread's slot in `table` (claiming one on first use), also
  // stored in the index.
  thread_slot_ref attach(const std::shared_ptr<thread_slot_table>& table) {
    const thread_slot_table* key = table.get();
    if (const auto it = entries_.find(key); it != entries_.end()) return remember(key->id(), {key, it->second.slot});
    if (entries_.size() >= prune_at_) prune();
    thread_slot_table::cell* slot = table->claim();
    entries_.emplace(key, entry{table, slot, key->id()});
    return remember(key->id(), {key, slot});
  }

  static thread_slot_registry& local() {
    thread_local thread_slot_registry registry;
    return registry;
  }

 private:
  struct entry {
    std::weak_ptr<thread_slot_table> table;  // keeps the key's storage from reuse
    thread_slot_table::cell* slot;
    std::uint32_t id;  // the table's, kept: a dead table cannot be asked
  };

  static thread_slot_ref remember(std::uint32_t id, thread_slot_ref r) {
    if (id >= thread_slot_index_limit) return r;
    thread_slot_index& ix = tls_slot_index;
    if (id >= ix.size) {
      const std::uint32_t size = std::max<std::uint32_t>(64, std::bit_ceil(id + 1));
      auto* refs = new thread_slot_ref[size]{};
      std::copy_n(ix.refs, ix.size, refs);
      delete[] std::exchange(ix.refs, refs);
      ix.size = size;
    }
    return ix.refs[id] = r;
  }

  // Drops the entries of dead tables (amortised), clearing their index entry
  // first: once the weak_ptr goes, the address may belong to a new table.
  void prune() {
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (!it->second.table.expired()) {
        ++it;
        continue;
      }
      if (const std::uint32_t id = it->second.id; id < tls_slot_index.size && tls_slot_index.refs[id].table == it->first)
        tls_slot_index.refs[id] = {};
      if (tls_slot_last.table == it->first) tls_slot_last = {};
      it = entries_.erase(it);
    }
    prune_at_ = std::max<std::size_t>(64, 2 * entries_.size());
  }

  std::unordered_map<const thread_slot_table*, entry> entries_;  // by table address
  std::size_t prune_at_ = 64;
};

}  // namespace hotshard::detail
