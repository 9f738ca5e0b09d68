// hotshard/detail/hot_key_table.hpp — hot_key_detector's table of stamped
// hot keys: fixed size, lock-free, probes bounded to `probe_window` slots.
//
// A slot holds a key word (key ^ salt; 0 = empty) and a stamp (the epoch in
// which the key was last found hot). Why not candidate_table
// (detail/sketch_support.hpp): its eviction checks the resident and then
// CASes the *word*, so a resident stamped hot between the check and the CAS
// was evicted anyway (the check-then-act of issue 12, defect 11). Here an
// eviction first CASes the *stamp* from the value it judged stale to
// `claiming` — which fails if anyone stamped the resident meanwhile — and
// only then swaps the word. Stamps only rise (stamp_at_least), and never
// overwrite `claiming`, so a key stamped in the current epoch cannot be
// evicted during that epoch.
//
// Progress: find/touch/stamp are wait-free (plus what stamp's on_claim does) (≤ probe_window slots, each CAS
// tried once; stamp_at_least retries only while the stamp is below the epoch
// and rising, at most epoch − stamp times).
//
// Memory ordering: a word is claimed by a CAS (acq_rel, (T1)) or stored after
// a won stamp claim with release (T1'), and read with acquire (T2). Stamps are
// relaxed: they publish nothing but themselves; a claim's stamp CAS is acq_rel
// so the word store that follows it is ordered after it (T3).
#pragma once

#include <hotshard/detail/fetch_max.hpp>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>

namespace hotshard::detail {

class hot_key_table {
 public:
  static constexpr std::size_t probe_window = 16;
  static constexpr std::uint64_t claiming = std::numeric_limits<std::uint64_t>::max();

  struct slot {
    std::atomic<std::uint64_t> word{0};
    std::atomic<std::uint64_t> stamp{0};
  };

  // min_slots ≤ 2^40 (callers check).
  hot_key_table(std::size_t min_slots, std::uint64_t salt)
      : mask_(std::bit_ceil(min_slots < probe_window ? probe_window : min_slots) - 1),
        salt_(salt),
        slots_(std::make_unique<slot[]>(mask_ + 1)) {}

  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }
  // A slot's index in [0, capacity()]; capacity() is the side slot of the key equal to the salt.
  [[nodiscard]] std::size_t index_of(const slot& s) const noexcept {
    return &s == &special_ ? capacity() : static_cast<std::size_t>(&s - slots_.get());
  }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return sizeof(*this) + capacity() * sizeof(slot); }

  // Is `key` stamped with an epoch ≥ `epoch`?
  [[nodiscard]] bool hot(std::uint64_t key, std::uint64_t h, std::uint64_t epoch) const noexcept {
    const slot* s = find(key, h);
    if (s == nullptr) return false;
    const std::uint64_t st = s->stamp.load(std::memory_order_relaxed);  // stamps: see header
    return st >= epoch && st != claiming;
  }

  // Puts `key` in the table stamped with ≥ epoch: its slot, an empty slot, or
  // the slot of a resident whose stamp is below epoch. False when the probe
  // window holds only keys stamped in this epoch, or a racing claim won.
  // on_claim(slot&, bool evicted) runs when this call claims a slot for key
  // (an empty one, evicted = false, or a stale resident's, evicted = true),
  // before the word is stored in an evicted slot and before the key is
  // stamped: the detector names non-word keys there.
  bool stamp(std::uint64_t key, std::uint64_t h, std::uint64_t epoch) noexcept {
    return stamp(key, h, epoch, [](slot&, bool) noexcept {});
  }
  template <class OnClaim>
  bool stamp(std::uint64_t key, std::uint64_t h, std::uint64_t epoch, OnClaim&& on_claim) {
    for (int attempt = 0; attempt < 2; ++attempt) {  // a racing eviction may take our slot once
      slot* s = claim(key, h, epoch, on_claim);
      if (s == nullptr) return false;
      stamp_at_least(*s, epoch);
      if (s->word.load(std::memory_order_acquire) == encode(key) &&  // (T2) pairs with (T1)
          s->stamp.load(std::memory_order_relaxed) >= epoch)          // stamps: see header
        return true;
    }
    return false;
  }

  // Raises the stamp of an occupied slot (epoch carry-over); never lowers it,
  // never touches a slot being claimed.
  static void stamp_at_least(slot& s, std::uint64_t epoch) noexcept {
    (void)fetch_max(s.stamp, epoch);  // relaxed; stamps: see header
  }

  // f(key, slot&) for every occupied slot (duplicates possible).
  template <class F>
  void for_each_slot(F&& f) {
    if (special_.word.load(std::memory_order_acquire) != 0) f(salt_, special_);  // (T2) pairs with (T1)
    for (std::size_t i = 0; i <= mask_; ++i) {
      const std::uint64_t w = slots_[i].word.load(std::memory_order_acquire);  // (T2) pairs with (T1)
      if (w != 0) f(decode(w), slots_[i]);
    }
  }

  // f(key, stamp) for every occupied slot (duplicates possible).
  template <class F>
  void for_each(F&& f) const {
    if (special_.word.load(std::memory_order_acquire) != 0)  // (T2) pairs with (T1)
      f(salt_, special_.stamp.load(std::memory_order_relaxed));
    for (std::size_t i = 0; i <= mask_; ++i) {
      const std::uint64_t w = slots_[i].word.load(std::memory_order_acquire);  // (T2) pairs with (T1)
      if (w != 0) f(decode(w), slots_[i].stamp.load(std::memory_order_relaxed));
    }
  }

 private:
  [[nodiscard]] std::uint64_t encode(std::uint64_t key) const noexcept { return key ^ salt_; }
  [[nodiscard]] std::uint64_t decode(std::uint64_t w) const noexcept { return w ^ salt_; }

  [[nodiscard]] const slot* find(std::uint64_t key, std::uint64_t h) const noexcept {
    const std::uint64_t w = encode(key);
    if (w == 0) return special_.word.load(std::memory_order_acquire) != 0 ? &special_ : nullptr;  // (T2)
    for (std::size_t i = 0; i < probe_window; ++i) {
      const slot& s = slots_[(h + i) & mask_];
      const std::uint64_t cur = s.word.load(std::memory_order_acquire);  // (T2) pairs with (T1)
      if (cur == w) return &s;
      // A word never goes back to 0, and a claim takes the first empty slot of
      // its window: nothing with this home lies past an empty slot.
      if (cur == 0) return nullptr;
    }
    return nullptr;
  }

  template <class OnClaim>
  slot* claim(std::uint64_t key, std::uint64_t h, std::uint64_t epoch, OnClaim& on_claim) {
    if (const slot* s = find(key, h)) return const_cast<slot*>(s);
    const std::uint64_t w = encode(key);
    if (w == 0) {  // the one key equal to the salt lives beside the table
      std::uint64_t expected = 0;
      if (special_.word.compare_exchange_strong(expected, 1, std::memory_order_acq_rel,  // (T1) pairs with (T2)
                                                std::memory_order_acquire))
        on_claim(special_, false);
      return &special_;
    }
    for (std::size_t i = 0; i < probe_window; ++i) {
      slot& s = slots_[(h + i) & mask_];
      std::uint64_t cur = s.word.load(std::memory_order_acquire);  // (T2) pairs with (T1)
      if (cur == w) return &s;
      if (cur == 0) {
        // (T1) acq_rel: publishes the claim; pairs with (T2).
        if (s.word.compare_exchange_strong(cur, w, std::memory_order_acq_rel, std::memory_order_acquire)) {
          on_claim(s, false);
          return &s;
        }
        if (cur == w) return &s;
        continue;
      }
      std::uint64_t st = s.stamp.load(std::memory_order_relaxed);  // stamps: see header
      if (st >= epoch) continue;  // hot now (or being claimed): never evicted
      // (T3) the stamp claim fails if the resident was stamped since we read st.
      if (!s.stamp.compare_exchange_strong(st, claiming, std::memory_order_acq_rel, std::memory_order_relaxed))
        continue;
      on_claim(s, true);
      s.word.store(w, std::memory_order_release);  // (T1') pairs with (T2)
      s.stamp.store(0, std::memory_order_relaxed);  // the caller stamps it next
      return &s;
    }
    return nullptr;
  }

  std::size_t mask_;
  std::uint64_t salt_;
  std::unique_ptr<slot[]> slots_;
  mutable slot special_;  // word: 0 absent, 1 present
};

}  // namespace hotshard::detail
