// hotshard/hot_key_detector.hpp — which keys carry at least a share φ of the
// recent traffic, answered cheaply on the request path.
//
// Algorithm: a Count-Min sketch (count_min_sketch.hpp, plain update) whose
// counters are halved at the end of every epoch, as TinyLFU ages its sketch
// (Einziger, Friedman & Manes, ACM ToS 13(4), 2017, doi:10.1145/3149371),
// so a key's estimate is its exponentially decayed count: each past epoch
// weighs half the next. The decayed traffic D is kept the same way (D/2 at
// each epoch end, + every counted unit). A key is hot when its decayed count
// is ≥ max(min_count, φ·D). Hot keys are stamped with the current epoch in a
// small lock-free table (detail/hot_key_table.hpp), so is_hot() is a probe of
// that table and never reads the sketch. At an epoch end the keys still above
// the bar after the halving are carried over; the others stop being reported.
//
// Sampling in front (why: every request passes observe(), and a shared sketch
// updated by every request makes the hottest keys' counters bounce between
// cores — the hot-key problem inside the detector, issue 19). Each thread
// keeps every unit of weight independently with probability p = 1/sample_every
// (a per-thread geometric countdown, so a skipped observation is a decrement
// and a table probe, touching no shared written line), and a kept unit counts
// sample_every in the sketch and in D. A threshold on a share is what
// sampling preserves (Manku & Motwani, "Approximate frequency counts over data
// streams", VLDB 2002, §3 "sticky sampling"; Gibbons & Matias, "New
// sampling-based summary statistics", SIGMOD 1998): counts stay unbiased and
// their relative error shrinks as 1/√(samples). The default sample_every (0 =
// auto) is the largest power of two ≤ min(16, φ·W/64), so a key at share φ
// gets ≥ 64 samples per window; windowless detectors (W = 0) and small φ·W
// get 1 (no sampling: the deterministic statements hold exactly).
//
// Per-thread sketches (sampled form only; why: in a side microbenchmark on
// the shared 2-core machine, one run, one shared Count-Min fed distinct keys
// did 26 M adds/s from one thread and 9 M/s from two, one sketch per thread
// 48 M/s from two — every counter line, not only the hot keys',
// bounces, because both cores write all of it; pre-aggregating the hot keys
// per thread cannot help the cold ones). Each thread that samples owns a
// Count-Min sketch with the same width, depth and row hashes (so the
// sketches add row by row, as mergeable summaries do: Agarwal et al.,
// "Mergeable summaries", PODS 2012, doi:10.1145/2213556.2213562; and as in
// the thread-local sketches of Stylianopoulos et al., "Delegation Sketch",
// EuroSys 2020, doi:10.1145/3342195.3387542), written by its owner with plain
// load + store. estimate(x) is the Count-Min of the union: for each row the
// sum of the threads' counters, minimum over rows — the counter values one
// shared sketch would hold, so the (ε, δ) bound is that of one sketch of the
// whole sampled stream. A cell is 32 bits: the count of kept samples (24
// bits, saturating at 2^24 − 1 — so with D > 2^24·sample_every/φ, windows or
// manual epochs that long, the hottest keys' counts are capped there and may
// read under the bar) and the epoch (mod 256, 8 bits) in which it was last
// written. Aging is lazy: a read ages a cell by the epochs since its tag
// (count >> age), so an epoch end halves nothing. The owner rewrites
// all its cells against a new base epoch once every 128 epochs (a rebase
// sweep, O(width × depth), under a seqlock), which keeps every tag within
// 128 epochs of the node's base, so the mod-256 tags are never ambiguous.
// Rounding: each thread's cell is floored separately when aged, so a summed
// count can be below one shared sketch's by < 2 units per thread (each
// halving floors away < 1 per thread; earlier losses are halved with it).
// Each thread also ages its own traffic D_t the same way, and publishes it
// tagged with its epoch like a cell; the sampled D (recent_traffic()) is
// Σ_t D_t aged to the reader's epoch. So D and every count age alike: units
// a thread counts while an epoch end runs (tagged with the old epoch, aged
// once more when the new one is stored) are aged in D too. (D was the window
// ticker's total, halved at each epoch end: an epoch end stalled by
// preemption — 64 threads on 2 cores — let D count such units in full while
// the counts were halved, every share read low, and keys near φ were missed:
// hot_recall 0.64; tests/sketches/test_hot_key_detector.cpp stalls one.)
// Deciding on a kept sample of x (the thread's sketch already counted it):
// if the table says hot, done; else a local filter: if 1.25·ĉ_t(x) <
// σ·D_t (ĉ_t its own count of x) it stops there; else the summed estimate is
// compared with the bar and x is stamped if it reaches it. σ is a floor of
// the bar's share, threshold()/recent_traffic() ≥ (1 − γ_bar(D))·φ ≥
// (1 − γ_bar(D₀))·φ = σ for every D ≥ D₀ (γ_bar falls as D grows, see
// "Sampling and the bar"), D₀ the D at the start of the epoch: the epoch end
// computes σ once and publishes it before the epoch (1), and each thread
// reads it when it moves to the epoch — O(1) per thread per epoch. (Each
// thread recomputed the exact share from Σ_t D_t every 64 samples: O(T) loads
// of lines the owners write, per 64 samples of every thread — with 16
// threads on 2 cores that cost grew 8× against 2 threads, issue 19.) D never
// falls within an epoch, so σ stays a floor of the share until the next one.
// The filter never hides a hot key for long: if x's true sampled decayed
// count is f ≥ σ·D, D = Σ_t D_t, then Σ_t ĉ_t ≥ f forces ĉ_t ≥ σ·D_t in some
// thread t (pigeonhole; the 1.25 is slack for each thread's cells and D_t
// being floored separately when aged, and the counts moving since), which
// checks x at its next sample of x (with keys spread over threads, in every
// thread). So the statements below hold for the sampled form with the move
// later by at most one sample of x by such a thread plus
// T samples of x by it (the re-check memo: a thread whose check of x failed
// checks x again only at its T-th next sample of x — T = threads that have a
// node — unless x lost its memo slot to another key, which only checks
// sooner). The summed estimate is read one row at a time over the threads,
// row 0 in the same pass as D, and stops at the first row whose sum is below
// the bar (the Count-Min minimum is below the bar exactly when some row is):
// a key below the bar usually costs one pass over the T nodes (D_t and one
// cell each, under the node's seqlock), not T × depth cells. So a key
// whose count sits between 0.8·σ·D_t and the bar costs about one such pass
// per T of its samples in each thread.
// An observation from a thread_local destructor that runs after the thread's
// node cache is gone is not counted in the sampled form (is_hot is answered).
//
// Epochs: every `window` counted units (a striped ticker; with one thread and
// no sampling, exactly at the window-th when window is a multiple of 64; with
// T threads up to 16 × 64 late; with sampling each thread ticks its kept
// units in batches of b = 64 (no ticker RMW per sample), so epochs end up to
// (T + 16) × b units late, and the count is the sampled estimate,
// ± √(W·sample_every) typically), and whenever advance_epoch() is
// called — so a time-based window is a timer that calls advance_epoch() with
// window = 0. No window's end is dropped: a crossing that finds an epoch end
// running leaves it to that one, which re-checks the total before it returns.
// When k windows come due while one epoch end runs (a preempted thread), they
// end as one halving — halving k times would decay traffic that has just
// arrived — and the epoch advances by k (unsampled) or by 1 (sampled: the
// cells' epoch tags must stay within one rebase period).
//
// What a stable key gets (steady state, windows of W, key share s), for the
// counted traffic (= the true traffic when sample_every = 1):
//  * s ≥ φ (+ sketch error): reported continuously, except for at most one
//    observation of it just after an epoch end that raced with its stamping.
//  * s < φ: not reported once its decayed count falls below φ·D.
// After the hot set moves: a new key with share s' > φ is reported within
// φ·W/(s' − φ) observations of the move plus one window; a key whose traffic
// stops is dropped within ⌈log2(s/φ)⌉ + 1 windows.
// With sampling (p = 1/sample_every), a count c of true units is counted as
// ĉ with E[ĉ] = c, and by the multiplicative Chernoff bound
// P(ĉ < (1 − γ)c) ≤ exp(−γ²·p·c/2), P(ĉ > (1 + γ)c) ≤ exp(−γ²·p·c/(2 + γ)).
// So each statement above holds for the true traffic with s' replaced by
// (1 − γ)s' (and D by (1 + γ)D), and φ by the lowered bar share (1 − γ_bar)φ
// of "Sampling and the bar" below (so the drop takes up to one window more),
// failing with at most those probabilities; sampled epoch ends drift by
// ± √(W·sample_every) units against a move;
// e.g. a key with share s' = 4φ is reported within 2W of a move except with
// probability ≤ exp(−p·s'·W/8) + exp(−p·W/12) (γ = 1/2 on its count, on D).
// tests/sketches/test_hot_key_detector.cpp (exact form) and
// test_detection_accuracy.cpp (sampled form) check both on fixed seeds.
// Sampling and the bar: so that sampling does not miss keys at share φ, the
// sampled detector compares with (1 − γ_bar)·φ·D, γ_bar = min(1/2, 4/√(p·φ·D)) —
// four standard deviations of the count of a key exactly at φ (p·φ·D is its
// expected number of samples). A key at share ≥ φ is then under the bar with
// probability ≤ exp(−8) (Chernoff, γ_bar² p φD / 2 = 8) per check. The price is
// reports of keys below φ: a key at share (1 − γ_bar)φ is reported about half the
// time, and one at share σ·φ < (1 − γ_bar)φ with probability ≤
// exp(−x²·p·σφD/(2 + x)), x = (1 − γ_bar)/σ − 1 (with the defaults γ_bar ≈ 0.36 in
// steady state; keys at φ/4 are then reported with probability < e^-20).
// Without sampling γ_bar = 0 and the bar is φ·D exactly.
// Also: a key needs a decayed count ≥ max(min_count, 8·sample_every), so one
// sample of a cold key never makes it hot.
//
// Keys: any concepts::hashable_key<Key, Hash> (keys.hpp); pointer keys are
// rejected at compile time. Every hash is derived from one word per request,
// w = mix64(Hash(key)) — the sketch's rows, the table's placement (seeded by
// `seed`) — so observe/is_hot/estimate of a hashed_key<Key, Hash> give
// exactly the results of the key, and with a transparent Hash
// (policy::hash<std::string>) a lookup key (std::string_view, a literal) is
// accepted; a Key is built from it only when the key is stored in the table.
// The detector knows a key by w: keys with equal Hash values (equal w, mix64
// being a bijection) are one key — their counts add in the sketch, is_hot
// answers for both, and hot_keys()/drain_changes() name the key that claimed
// the table slot. (The sketch cannot tell them apart, so a full-key table
// would not make the counts exact.)
//  * Word keys (trivially copyable, ≤ 8 bytes): the table stores the key's
//    bits (the fast path).
//  * Any other key: the table stores w, and a slot is named by a pointer to
//    an immutable stored_key (a heap copy of the key and w). The thread that
//    claims a slot stores the name before stamping the key (an empty slot:
//    a CAS from null, which loses to an eviction that named the slot first;
//    an evicted slot: an exchange while the slot's stamp is `claiming`, and
//    the old name is retired). is_hot()/observe() never read names;
//    hot_keys(), drain_changes() and stats() read them inside a reader scope
//    and take a name only if its w equals the slot's word. Retired names are
//    freed when no reader scope is open (detail/sketch_support.hpp
//    key_readers, retired_keys), else by a later retire or the destructor.
//    A change_cursor keeps its own copies of the keys it was told.
//
// Progress guarantees:
//  * observe(), sample_every = 1: wait-free — a shared sketch add, a ticker
//    tick and a bounded table claim — except an observation whose tick
//    crosses a window: it runs the epoch ends due inline (lock-free; also
//    those that other threads' crossings made due while it held the flag).
//  * observe(), sampled: a thread's first observe on this instance allocates
//    its node (4 × width × depth bytes; lock-free push). Then a skipped
//    observation is wait-free (a countdown and a table probe); a kept one
//    writes depth cells of the thread's own sketch, once per b kept units
//    ticks the ticker (wait-free), once per 128 epochs of the thread runs its rebase sweep
//    (wait-free, O(width × depth)), and, when the local filter passes a key
//    not hot yet, reads the summed estimate (below) and may claim a slot.
//    An observation whose tick crosses a window runs the epoch ends due
//    inline, as above.
//  * estimate(), and the summed estimate inside observe()/advance_epoch():
//    sample_every = 1: wait-free; sampled: depth loads per thread node, and
//    blocking only while a node's owner is inside its rebase sweep (the
//    reader backs off — pauses, then yields: detail/backoff.hpp — and
//    retries; an owner that is preempted there delays it).
//  * is_hot(): wait-free (≤ 16 probes, one load of the epoch).
//  * hot_keys(), drain_changes(), stats(): wait-free per slot, allocate
//    (non-word keys: one reader-scope RMW each way, and key copies).
//  * Non-word keys: an observe() that claims a table slot for a key
//    allocates its name (the allocator may block) and, evicting, retires the
//    old one (a lock-free push, and frees the retired list if no reader
//    scope is open).
//  * advance_epoch(): unsampled: lock-free (sketch halving); sampled: no
//    halving, the carry-over's summed estimates as estimate(). If another
//    advance is under way it returns false at once and does nothing (that
//    epoch end is merged into the one running).
//
// What a concurrent reader may see: is_hot() answers for the epoch it loads;
// a key being stamped or carried over while it runs may read as not hot once.
// A key stamped hot in the current epoch is never evicted from the table in
// that epoch (the eviction claims the stamp first; see hot_key_table.hpp).
// estimate(): without sampling ≥ the true decayed count (except observations
// racing a halving — count_min_sketch.hpp) and ≤ it + εD w.p. ≥ 1 − δ; with
// sampling, an unbiased estimate with the error above (and the rounding of
// "Per-thread sketches"). Sampled: a unit counted by a thread that has not
// yet loaded a new epoch is tagged with the old one and aged once more; a
// reader sees each cell at some moment, and every kept unit whose observe()
// happens-before the read.
//
// Memory ordering: counts, D and stamps are relaxed except: advance_epoch()
// stamps the carried-over keys (and, sampled, stores the filter's σ), then
// stores the new epoch with release (1); is_hot()/hot_keys()/observe() load
// the epoch with acquire (2), so a reader that sees the new epoch sees the
// carried stamps, and a thread moving to it reads that epoch's σ or a later
// one (also a floor now: D has only grown since). The advancing flag is taken with an
// acquire exchange (3) and dropped with a release store (4), so consecutive
// epoch ends see each other's D and halving. Unsampled, an epoch end stores
// D's offset with release (5); recent_traffic() loads it with acquire (6)
// before the published total, so D is never read below the halved traffic.
// Sampled, each D_t is a relaxed word of its node read like a cell (below). A crossing
// that finds the flag taken and the holder dropping it form a store-buffer
// pair: seq_cst fences (7) on both sides make one of them see the other. Table words: hot_key_table.hpp;
// sampler nodes: detail/thread_summary.hpp (registry; a node's construction,
// its base epoch included, is published by the registry's release push).
// Names (non-word keys): the name exchange/CAS and the readers' name loads
// are seq_cst; with the reader scope's (K1)/(K2) and quiescent()'s (K3) they
// keep a retired name alive while a reader may hold it (sketch_support.hpp).
// A reader may pair a slot's word and stamp with an older or newer name: the
// name's own w is checked against the word.
// Per-thread cells are relaxed (one writer; a reader needs only each cell's
// own coherence). The rebase sweep is Boehm's seqlock ("Can seqlocks get
// along with programming language memory models?", MSPC 2012): the owner
// stores an odd seq and a release fence (S1), rewrites the cells and the
// base, and stores the even seq with release (S2); a reader loads seq with
// acquire (S3), the base and its cells, then an acquire fence and seq again
// (S4), and retries if it changed — so it never decodes a cell against the
// wrong base.
//
// Hash flooding: the sketch's rows, the table's placement and its key
// encoding derive from `seed`; by default a random per-instance seed.
//
// Memory: 16 × table slots (default 4/φ, rounded up to a power of two) + ~2.7
// KiB + the sketch: 8 × ⌈e/ε⌉ × ⌈ln 1/δ⌉ bytes (217 KB at the defaults) once
// when sample_every = 1; 4 × ⌈e/ε⌉ × ⌈ln 1/δ⌉ (109 KB) per thread that ever
// observed when sampled
// (+ ~2.3 KiB each, mostly the re-check memo; a node is reused after its
// thread exits).
#pragma once

#include <hotshard/policy.hpp>
#include <hotshard/count_min_sketch.hpp>
#include <hotshard/detail/backoff.hpp>
#include <hotshard/detail/hash.hpp>
#include <hotshard/detail/hot_key_table.hpp>
#include <hotshard/detail/instance_seed.hpp>
#include <hotshard/detail/metrics.hpp>
#include <hotshard/detail/sketch_support.hpp>
#include <hotshard/keys.hpp>
#include <hotshard/detail/thread_summary.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hotshard {

// hot_key_detector<K> d({.hot_share = 0.05, .window = 0, .sketch = {.epsilon = 0.001, .seed = 7}});
// Every bad value throws std::invalid_argument naming the field; nothing is clamped.
struct hot_key_detector_options {
  double hot_share = 0.01;         // φ, in (0, 1]
  std::uint64_t window = 1 << 16;  // units per epoch; 0 = only advance_epoch(); ≤ 2^62
  std::uint64_t min_count = 8;     // decayed count a key needs before it can be hot
  // The sketch: ε (default 0.0005; keep it well below φ) and δ (default 0.01),
  // see count_min_sketch.hpp; seed (unset = random per instance). options()
  // reports ε and δ resolved.
  sketch_options sketch{};
  std::size_t table_slots = 0;     // 0 = 4/φ; ≤ 2^32
  std::uint64_t sample_every = 0;  // 1/p; 0 = auto (see header); 1 = count every unit; ≤ 2^20

  static constexpr double default_epsilon = 0.0005;
  static constexpr double default_delta = 0.01;
};

// stats(): a snapshot for a metrics thread (detail/metrics.hpp).
struct hot_key_detector_stats {
  std::uint64_t epoch = 0;            // the current epoch (starts at 1)
  std::size_t hot_keys = 0;           // keys hot now (distinct table words stamped in this epoch)
  std::uint64_t recent_traffic = 0;   // D
  std::uint64_t threshold = 0;        // the decayed count a key needs now
  std::size_t table_slots = 0;
  std::size_t thread_sketches = 0;
  std::uint64_t sample_every = 0;
  std::size_t memory_bytes = 0;

  template <class F>
  void for_each_metric(F&& f) const {
    using detail::metric_kind;
    f(detail::metric{"epochs_total", metric_kind::counter, static_cast<double>(epoch - 1),
                     "Epochs ended (window ends and advance_epoch calls; merged ends count as one)."});
    f(detail::metric{"hot_keys", metric_kind::gauge, static_cast<double>(hot_keys), "Keys reported hot now."});
    f(detail::metric{"recent_traffic", metric_kind::gauge, static_cast<double>(recent_traffic),
                     "Decayed traffic D (units)."});
    f(detail::metric{"threshold", metric_kind::gauge, static_cast<double>(threshold),
                     "Decayed count a key needs now to be hot."});
    f(detail::metric{"table_slots", metric_kind::gauge, static_cast<double>(table_slots), "Slots of the hot-key table."});
    f(detail::metric{"thread_sketches", metric_kind::gauge, static_cast<double>(thread_sketches),
                     "Per-thread sketches allocated (sampled form)."});
    f(detail::metric{"sample_every", metric_kind::gauge, static_cast<double>(sample_every),
                     "One unit in sample_every is counted (1 = every unit)."});
    f(detail::metric{"memory_bytes", metric_kind::gauge, static_cast<double>(memory_bytes),
                     "Bytes held (stored keys of non-word keys excluded)."});
  }
};

template <class Key, class... Policies>
  requires policy::keyed_policies<Policies...> && concepts::hashable_key<Key, policy::hash_of<Key, Policies...>>
class hot_key_detector {
  // The named policies (hotshard/policy.hpp): the key hash and the contention hook.
  using Hash = policy::hash_of<Key, Policies...>;
  using Contention = policy::contention_of<Policies...>;

  // Word keys (≤ 8 bytes, trivially copyable) live in the table as their
  // bits; any other key as its hash word, named by a stored_key (see "Keys").
  static constexpr bool word_keys = detail::word_key<Key>;

 public:
  using key_type = Key;

  explicit hot_key_detector(hot_key_detector_options opt = {})
      : opt_(validated(opt)),
        seed_(detail::seed_or_random(opt_.sketch.seed)),
        salt_(detail::mix64(seed_ ^ 0x5bd1e9955bd1e995ULL)),
        sample_every_(opt_.sample_every != 0 ? opt_.sample_every : auto_sample_every(opt_)),
        min_count_(std::max(opt_.min_count, sample_every_ == 1 ? 0 : 8 * sample_every_)),
        dims_(count_min_dimensions::from_error(*opt_.sketch.epsilon, *opt_.sketch.delta)),
        row_salts_(std::make_unique<std::uint64_t[]>(dims_.depth)),
        table_(opt_.table_slots != 0 ? opt_.table_slots : static_cast<std::size_t>(std::ceil(4.0 / opt_.hot_share)),
               salt_),
        names_(word_keys ? nullptr : std::make_unique<std::atomic<name_type*>[]>(table_.capacity() + 1)),
        ticker_(64) {
    for (std::size_t r = 0; r < dims_.depth; ++r) row_salts_[r] = detail::cms_row_salt(seed_ + r);
    share_floor_.store(share_floor_for(0), std::memory_order_relaxed);  // before any thread has a node
    if (sample_every_ == 1)  // the same ε, δ (so dims_) and seed: an explicit seed 0 stays 0
      shared_.emplace(count_min_sketch_options{
          .sketch = {.epsilon = opt_.sketch.epsilon, .delta = opt_.sketch.delta, .seed = seed_}});
  }

  ~hot_key_detector() {
    if constexpr (!word_keys)
      for (std::size_t i = 0; i <= table_.capacity(); ++i) delete names_[i].load(std::memory_order_relaxed);
  }
  hot_key_detector(const hot_key_detector&) = delete;
  hot_key_detector& operator=(const hot_key_detector&) = delete;

  // Counts one request for `key` (of `weight` units); returns whether the key
  // is hot now. `key`: a Key, a hashed_key<Key, Hash> (the same result, hashed
  // once by the caller), or with a transparent Hash a lookup key
  // (std::string_view for std::string; a Key is built only if it is stored).
  bool observe(const Key& key, std::uint64_t weight = 1) { return observe_word(key, detail::key_word(key, hash_), weight); }
  bool observe(const hashed_key<Key, Hash>& key, std::uint64_t weight = 1) {
    return observe_word(key.key(), key.word(), weight);
  }
  template <class K>
    requires detail::lookup_key<K, Key, Hash>
  bool observe(const K& key, std::uint64_t weight = 1) {
    return observe_word(key, detail::key_word(key, hash_), weight);
  }

  // Cheap: a probe of the hot table, no sketch read. Accepts the keys observe() does.
  [[nodiscard]] bool is_hot(const Key& key) const { return hot_hashed(key, detail::key_word(key, hash_)); }
  [[nodiscard]] bool is_hot(const hashed_key<Key, Hash>& key) const noexcept { return hot_hashed(key.key(), key.word()); }
  template <class K>
    requires detail::lookup_key<K, Key, Hash>
  [[nodiscard]] bool is_hot(const K& key) const {
    return hot_hashed(key, detail::key_word(key, hash_));
  }

  [[nodiscard]] std::vector<Key> hot_keys() const {
    auto entries = hot_entries(epoch_.load(std::memory_order_acquire));  // (2) pairs with (1)
    std::vector<Key> out;
    out.reserve(entries.size());
    for (auto& e : entries) out.push_back(std::move(e.second));
    return out;
  }

  // A caller's view of the hot set, for drain_changes(): the keys it was last
  // told are hot. One cursor per consumer (not shared between threads); any
  // number of cursors on one detector.
  class change_cursor {
   public:
    [[nodiscard]] std::size_t size() const noexcept { return words_.size(); }
    [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_; }  // the epoch of the last drain

   private:
    friend class hot_key_detector;
    std::vector<std::pair<std::uint64_t, Key>> words_;  // sorted by table word (one key per word)
    std::uint64_t epoch_ = 0;
  };

  // The hot set's changes since this cursor's last drain: f(key, true) for
  // each key hot now and not then (promote it), f(key, false) for each key
  // hot then and not now (demote it); returns the number of calls. A key
  // cools only at an epoch end (its stamp is not carried over), so draining
  // when epoch() changes sees every demotion; a key becomes hot at any
  // observation, so drain also every so often (or promote on observe()
  // returning true). A key that became hot and cooled between two drains is
  // not reported. Cost: one pass over the table (hot_keys()) and a merge
  // with the cursor's keys; wait-free per slot, allocates. What it sees is
  // hot_keys()'s snapshot (each slot at some moment; see "What a concurrent
  // reader may see"), and callbacks run after the snapshot is taken.
  template <class F>
  std::size_t drain_changes(change_cursor& cursor, F&& f) const {
    const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);  // (2) pairs with (1)
    std::vector<std::pair<std::uint64_t, Key>> now = hot_entries(epoch);
    std::size_t calls = 0, i = 0, j = 0;
    const auto& was = cursor.words_;
    while (i < now.size() || j < was.size()) {
      if (j == was.size() || (i < now.size() && now[i].first < was[j].first)) {
        f(std::as_const(now[i++].second), true);
        ++calls;
      } else if (i == now.size() || was[j].first < now[i].first) {
        f(std::as_const(was[j++].second), false);
        ++calls;
      } else {
        ++i;
        ++j;
      }
    }
    cursor.words_ = std::move(now);
    cursor.epoch_ = epoch;
    return calls;
  }

  // Ends the current epoch: halves the counts and D, keeps the keys still
  // above the bar. Returns false (doing nothing) if another call is under way
  // (that epoch end is merged into the one running).
  [[nodiscard]] bool advance_epoch() noexcept {
    if (advancing_.exchange(true, std::memory_order_acquire)) return false;  // (3) pairs with (4)
    end_epoch_locked(1);
    advancing_.store(false, std::memory_order_release);  // (4) pairs with (3)
    return true;
  }

  // The key's decayed count (see "What a concurrent reader may see"). Accepts the keys observe() does.
  [[nodiscard]] std::uint64_t estimate(const Key& key) const {
    return estimate_at(detail::key_word(key, hash_), epoch_.load(std::memory_order_acquire));  // (2)
  }
  [[nodiscard]] std::uint64_t estimate(const hashed_key<Key, Hash>& key) const noexcept {
    return estimate_at(key.word(), epoch_.load(std::memory_order_acquire));  // (2)
  }
  template <class K>
    requires detail::lookup_key<K, Key, Hash>
  [[nodiscard]] std::uint64_t estimate(const K& key) const {
    return estimate_at(detail::key_word(key, hash_), epoch_.load(std::memory_order_acquire));  // (2)
  }
  // D: the decayed traffic (unsampled: lags by < 16 × 64 counted units; sampled: Σ_t D_t, O(T) loads,
  // see "Per-thread sketches").
  [[nodiscard]] std::uint64_t recent_traffic() const noexcept {
    if (!shared_) return summed_traffic(epoch_.load(std::memory_order_acquire));  // (2)
    // offset_ first, with acquire (6) pairing with its release store (5): a reader that sees an epoch
    // end's offset then reads a published total ≥ the one that epoch end read, so D is never below the
    // halved traffic. (Read the other way round, a reader preempted between the loads could add a stale
    // total to a newer offset and see D ≈ 0, a bar of min_count, and stamp a cold key hot.)
    const std::int64_t off = offset_.load(std::memory_order_acquire);  // (6) pairs with (5)
    const std::int64_t d = static_cast<std::int64_t>(ticker_.published()) + off;
    return d > 0 ? static_cast<std::uint64_t>(d) : 0;
  }
  // The decayed count a key needs now to be hot.
  [[nodiscard]] std::uint64_t threshold() const noexcept { return bar_for(recent_traffic()); }
  [[nodiscard]] std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }  // (2)
  [[nodiscard]] const hot_key_detector_options& options() const noexcept { return opt_; }
  [[nodiscard]] std::uint64_t sample_every() const noexcept { return sample_every_; }
  [[nodiscard]] std::uint64_t seed() const noexcept { return seed_; }
  // Threads (sampler nodes) that ever observed a sampling detector.
  [[nodiscard]] std::size_t thread_sketches() const noexcept { return samplers_.nodes(); }
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    const std::size_t cells = dims_.width * dims_.depth * sizeof(cell_type);
    return sizeof(*this) - sizeof(table_) + table_.memory_bytes() + dims_.depth * sizeof(std::uint64_t) +
           (shared_ ? shared_->memory_bytes() - sizeof(sketch_type) : 0) +
           samplers_.nodes() * (sizeof(sampler) + cells) +
           (word_keys ? 0 : (table_.capacity() + 1) * sizeof(std::atomic<name_type*>));
  }
  // A snapshot for a metrics thread: any thread, any time, concurrently with
  // observe() (adds nothing to its path); one pass over the table (allocates)
  // and recent_traffic()'s reads.
  [[nodiscard]] hot_key_detector_stats stats() const {
    hot_key_detector_stats st;
    st.epoch = epoch_.load(std::memory_order_acquire);  // (2) pairs with (1)
    st.hot_keys = hot_entries(st.epoch).size();
    st.recent_traffic = recent_traffic();
    st.threshold = bar_for(st.recent_traffic);
    st.table_slots = table_.capacity();
    st.thread_sketches = samplers_.nodes();
    st.sample_every = sample_every_;
    st.memory_bytes = memory_bytes();
    return st;
  }

 private:
  using sketch_type = count_min_sketch<Key, policy::hash_with<Hash>, Contention>;

  using name_type = detail::stored_key<Key>;

  // The (table word, key) of the keys stamped ≥ epoch, sorted by word, one
  // per word. Non-word keys: the slot's stored key, read inside a reader
  // scope and taken only if it names the word read (a slot being re-claimed
  // may show the new word with the old name, or none: skipped, as a key
  // being stamped may be).
  [[nodiscard]] std::vector<std::pair<std::uint64_t, Key>> hot_entries(std::uint64_t epoch) const {
    std::vector<std::pair<std::uint64_t, Key>> out;
    if constexpr (word_keys) {
      table_.for_each([&](std::uint64_t w, std::uint64_t stamp) {
        if (stamp >= epoch && stamp != detail::hot_key_table::claiming) out.emplace_back(w, detail::word_to_key<Key>(w));
      });
    } else {
      const detail::key_readers::scope guard(readers_);  // (K1)
      table_.for_each_slot([&](std::uint64_t w, detail::hot_key_table::slot& s) {
        const std::uint64_t stamp = s.stamp.load(std::memory_order_relaxed);  // stamps: see (1)
        if (stamp < epoch || stamp == detail::hot_key_table::claiming) return;
        const name_type* n = names_[table_.index_of(s)].load(std::memory_order_seq_cst);  // (K1): after the scope's fence
        if (n != nullptr && n->word == w) out.emplace_back(w, n->key);
      });
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    out.erase(std::unique(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
              out.end());
    return out;
  }

  // The table word of a key: its bits (word keys) or its hash word w.
  template <class K>
  [[nodiscard]] static std::uint64_t table_word(const K& key, std::uint64_t w) noexcept(word_keys) {
    if constexpr (word_keys) {
      const Key k(key);
      return detail::key_to_word(k);
    } else {
      (void)key;
      return w;
    }
  }
  // The sketch hash of a table word (the carry-over re-estimates table keys).
  [[nodiscard]] std::uint64_t word_hash(std::uint64_t tw) const noexcept {
    if constexpr (word_keys) return detail::key_word(detail::word_to_key<Key>(tw), hash_);
    else return tw;
  }

  // Stamps a key hot in epoch e; a non-word key claiming a slot names it
  // there (see "Keys": the name is stored before the key is stamped).
  template <class K>
  void stamp_hot(const K& key, std::uint64_t tw, std::uint64_t th, std::uint64_t e) {
    if constexpr (word_keys) {
      (void)key;
      (void)table_.stamp(tw, th, e);
    } else {
      (void)table_.stamp(tw, th, e, [&](detail::hot_key_table::slot& s, bool evicted) {
        auto& name = names_[table_.index_of(s)];
        auto* fresh = new name_type(tw, key);
        if (evicted) {  // the slot is ours (stamp = claiming): replace the resident's name and retire it
          if (name_type* old = name.exchange(fresh, std::memory_order_seq_cst)) retired_.retire(old, readers_);
          return;
        }
        // An empty slot: name it unless an evictor already took it over and named it.
        name_type* expected = nullptr;
        if (!name.compare_exchange_strong(expected, fresh, std::memory_order_seq_cst, std::memory_order_relaxed))
          delete fresh;
      });
    }
  }

  template <class K>
  bool observe_word(const K& key, std::uint64_t h, std::uint64_t weight) {
    if (weight == 0) return hot_hashed(key, h);
    if (sample_every_ == 1) return observe_shared(key, h, weight);
    sampler* s = samplers_.local([this] { return new sampler(*this, samplers_.nodes()); });
    if (s == nullptr) [[unlikely]] return hot_hashed(key, h);  // a late thread_local destructor: not counted
    const std::uint64_t kept = s->keep(weight);
    if (kept == 0) [[likely]] return hot_hashed(key, h);
    return observe_sampled(*s, key, h, kept * sample_every_);
  }

  // Runs the epoch ends the window ticker has made due, here or in the thread
  // already ending one: a crossing that finds an epoch end running is not
  // lost (it was: under preemption epochs fell far behind the window, D grew
  // without bound, and a cold key's inflated estimate could pass the bar).
  // The fences (7) make the store-buffer pattern safe: a crosser publishes its
  // tick, then tries the flag; the holder drops the flag, then re-reads the
  // total. At least one of them sees the other's write.
  void end_due_windows() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);  // (7) pairs with (7) below
    for (;;) {
      if (advancing_.exchange(true, std::memory_order_acquire)) return;  // (3) pairs with (4); the holder re-checks
      const std::uint64_t due = ticker_.published() / opt_.window;
      const std::uint64_t done = windows_ended_.load(std::memory_order_relaxed);  // written under the flag only
      if (due > done) {
        // k windows due at once (the last epoch end was preempted or slow) end as one halving:
        // halving k times would decay traffic that has just arrived. Unsampled, the epoch advances
        // by k; sampled, by 1 (the per-thread cells' epoch tags must stay within one rebase period).
        end_epoch_locked(shared_ ? due - done : 1);
        windows_ended_.store(due, std::memory_order_relaxed);  // under the flag; read as a hint below
      }
      advancing_.store(false, std::memory_order_release);   // (4) pairs with (3)
      std::atomic_thread_fence(std::memory_order_seq_cst);  // (7) pairs with (7) above
      if (ticker_.published() / opt_.window <= windows_ended_.load(std::memory_order_relaxed)) return;
    }
  }

  // One epoch end (one halving of the counts and of D) that advances the epoch
  // by `epochs`; the caller holds advancing_.
  void end_epoch_locked(std::uint64_t epochs) noexcept {
    const std::uint64_t e = epoch_.load(std::memory_order_relaxed);  // only an epoch end writes it
    std::uint64_t d_next = 0;
    if (shared_) {
      const auto pub = static_cast<std::int64_t>(ticker_.published());
      const std::int64_t d_end = pub + offset_.load(std::memory_order_relaxed);  // D: counts only
      shared_->halve();
      const std::int64_t d_base = d_end / 2;
      offset_.store(d_base - pub, std::memory_order_release);  // (5) pairs with (6)
      d_next = static_cast<std::uint64_t>(d_base);
    } else {
      d_next = summed_traffic(e + epochs);  // sampled: each node ages lazily by its tags (see the header)
      share_floor_.store(share_floor_for(d_next), std::memory_order_relaxed);  // published by (1) below
    }
    const std::uint64_t bar = bar_for(d_next);
    table_.for_each_slot([&](std::uint64_t w, detail::hot_key_table::slot& s) {
      const std::uint64_t st = s.stamp.load(std::memory_order_relaxed);  // stamps: see (1)
      if (st < e || st == detail::hot_key_table::claiming) return;
      if (estimate_at(word_hash(w), e + epochs) >= bar)
        detail::hot_key_table::stamp_at_least(s, e + epochs);
    });
    epoch_.store(e + epochs, std::memory_order_release);  // (1) release: pairs with (2)
  }

  // A per-thread cell: (count of kept samples << 8) | (epoch mod 256); 0 = empty.
  using cell_type = std::uint32_t;
  static constexpr std::uint64_t tag_bits = 8;
  static constexpr std::uint64_t tag_mask = (std::uint64_t{1} << tag_bits) - 1;
  static constexpr std::uint64_t count_bits = 32 - tag_bits;
  static constexpr std::uint64_t max_cell_count = (std::uint64_t{1} << count_bits) - 1;  // saturates
  static constexpr std::uint64_t rebase_after = 128;  // epochs; < 2^tag_bits / 2

  // One thread's state in a sampling detector: its geometric countdown, its
  // own Count-Min sketch of its kept units (same width, depth and row hashes
  // as every other thread's, so the sketches sum row by row), aged lazily by
  // epoch tags, and its decayed traffic D_t.
  struct alignas(detail::cache_line_bytes) sampler : detail::thread_node {
    sampler(const hot_key_detector& d, std::size_t index)
        : cells(std::make_unique<std::atomic<cell_type>[]>(d.dims_.width * d.dims_.depth)),
          gaps(d.sample_every_, detail::mix64(d.seed_ + 0x9e3779b97f4a7c15ULL * (index + 1))) {
      left = gaps.next();
      const std::uint64_t e = d.epoch_.load(std::memory_order_acquire);  // (2)
      base.store(e, std::memory_order_relaxed);  // published by the registry push (thread_summary.hpp (1))
      seen_epoch = e;
      share_floor = d.share_floor_.load(std::memory_order_relaxed);  // that of epoch e or later: (1)
    }
    // How many of the next `w` units are kept (owner only).
    std::uint64_t keep(std::uint64_t w) noexcept {
      if (w < left) [[likely]] {
        left -= w;
        return 0;
      }
      std::uint64_t kept = 0;
      while (w >= left) {
        w -= left;
        ++kept;
        left = gaps.next();
      }
      left -= w;
      return kept;
    }
    // Read by other threads (estimate_at) and written only by a rebase sweep,
    // so this first line (with the registry's `next`) stays clean in readers'
    // caches: the rebase epoch Q and its seqlock (S1)..(S4), and the cells.
    std::atomic<std::uint64_t> seq{0};   // odd while a rebase sweep runs
    std::atomic<std::uint64_t> base{0};  // Q: every cell's tag lies in [Q, Q + rebase_after)
    std::unique_ptr<std::atomic<cell_type>[]> cells;  // see cell_type
    // Owner only, from the next cache line on (written on every observation).
    alignas(detail::cache_line_bytes) detail::geometric_gaps gaps;  // between kept units, mean sample_every
    std::uint64_t left = 1;
    std::uint64_t seen_epoch = 0;  // the epoch `traffic` is aged to
    std::uint64_t traffic = 0;     // D_t: this thread's decayed counted units
    // D_t as others read it: (traffic << 8) | (seen_epoch mod 256), decoded
    // against `base` like a cell (rewritten inside a rebase sweep's seqlock).
    std::atomic<std::uint64_t> told_traffic{0};
    std::uint64_t untold = 0;      // kept units not yet ticked (< the ticker's batch)
    static constexpr std::size_t memo_slots = 128;
    struct memo_entry {
      std::uint64_t word = 0;
      std::size_t skipped = 0;
    };
    memo_entry memo[memo_slots];   // keys whose last check failed (direct-mapped by table hash)
    double share_floor = 0;        // σ of the filter: the detector's share_floor_ of this thread's epoch
  };

  // A cell's count aged to epoch e, its tag read against the node's base q.
  static std::uint64_t decode(std::uint64_t cell, std::uint64_t q, std::uint64_t e) noexcept {
    if (cell == 0) return 0;
    const std::uint64_t tag = q + ((cell - q) & tag_mask);  // the tag's epoch: in [q, q + 2^8)
    const std::uint64_t count = cell >> tag_bits;
    if (tag >= e) return count;  // a reader behind the owner's epoch: not aged
    const std::uint64_t age = e - tag;
    return age >= count_bits ? 0 : count >> age;
  }
  static cell_type encode(std::uint64_t count, std::uint64_t e) noexcept {
    return count == 0 ? 0 : static_cast<cell_type>((count << tag_bits) | (e & tag_mask));
  }

  [[nodiscard]] std::size_t cell_index(std::size_t r, std::uint64_t h) const noexcept {
    return r * dims_.width + static_cast<std::size_t>(detail::reduce(detail::mix64(h ^ row_salts_[r]), dims_.width));
  }

  // Owner only: ages the node to epoch e (rebasing its tags when e has moved
  // rebase_after epochs past Q) and its traffic.
  void age_to(sampler& s, std::uint64_t e) noexcept {
    const std::uint64_t q = s.base.load(std::memory_order_relaxed);  // own node
    if (e - q >= rebase_after) {
      const std::uint64_t v = s.seq.load(std::memory_order_relaxed);  // own node
      s.seq.store(v + 1, std::memory_order_relaxed);                  // (S1)
      std::atomic_thread_fence(std::memory_order_release);            // (S1) pairs with (S4)
      const std::size_t n = dims_.width * dims_.depth;
      for (std::size_t i = 0; i < n; ++i) {
        const cell_type c = s.cells[i].load(std::memory_order_relaxed);  // own cell
        if (c != 0) s.cells[i].store(encode(decode(c, q, e), e), std::memory_order_relaxed);
      }
      s.base.store(e, std::memory_order_relaxed);
      age_traffic(s, e);  // its tag must be read against the new base: inside the seqlock
      s.seq.store(v + 2, std::memory_order_release);  // (S2) pairs with (S3)
    } else {
      age_traffic(s, e);
    }
    s.share_floor = share_floor_.load(std::memory_order_relaxed);  // that of epoch e or later: (1)
  }
  static void age_traffic(sampler& s, std::uint64_t e) noexcept {
    const std::uint64_t age = e - s.seen_epoch;
    s.traffic = age >= 64 ? 0 : s.traffic >> age;
    s.seen_epoch = e;
    s.told_traffic.store(pack_traffic(s.traffic, e), std::memory_order_relaxed);  // one writer; readers: (S3)/(S4)
  }
  static std::uint64_t pack_traffic(std::uint64_t t, std::uint64_t e) noexcept {
    return t == 0 ? 0 : (std::min<std::uint64_t>(t, std::uint64_t{1} << 55) << tag_bits) | (e & tag_mask);
  }
  static std::uint64_t unpack_traffic(std::uint64_t w, std::uint64_t q, std::uint64_t e) noexcept {
    if (w == 0) return 0;
    const std::uint64_t tag = q + ((w - q) & tag_mask);
    const std::uint64_t t = w >> tag_bits;
    if (tag >= e) return t;
    return e - tag >= 56 ? 0 : t >> (e - tag);
  }

  // Sampled D at epoch e: the threads' D_t summed, each aged by its tag the
  // way its cells are (so units counted while an epoch end runs are aged
  // alike in D and in the counts: issue 19's 64-thread misses).
  [[nodiscard]] std::uint64_t summed_traffic(std::uint64_t e) const noexcept {
    std::uint64_t sum = 0;
    samplers_.for_each([&](const sampler& s) {
      std::uint64_t w = 0;
      const std::uint64_t q = read_stable(s, [&] { w = s.told_traffic.load(std::memory_order_relaxed); });  // one writer
      sum += unpack_traffic(w, q, e);
    });
    return sum;
  }

  // The seqlock read side of one thread's node: runs read() (relaxed loads of
  // the node's cells or told_traffic) until it saw no rebase sweep, and
  // returns the base those values are relative to. Waits only while the owner
  // is inside a sweep (see "Progress").
  template <class Read>
  static std::uint64_t read_stable(const sampler& s, Read&& read) noexcept {
    for (detail::backoff wait;;) {
      const std::uint64_t v = s.seq.load(std::memory_order_acquire);  // (S3) pairs with (S2)
      if ((v & 1) != 0) {
        wait();  // the owner is in a rebase sweep: pause, then yield (detail/backoff.hpp)
        continue;
      }
      const std::uint64_t q = s.base.load(std::memory_order_relaxed);  // published by (S2)
      read();
      std::atomic_thread_fence(std::memory_order_acquire);    // (S4) pairs with (S1)
      if (s.seq.load(std::memory_order_relaxed) == v) return q;  // (S4)
    }
  }

  template <class K>
  bool observe_sampled(sampler& s, const K& key, std::uint64_t h, std::uint64_t weight) {
    std::uint64_t e = epoch_.load(std::memory_order_acquire);  // (2) pairs with (1)
    if (e < s.seen_epoch) e = s.seen_epoch;  // a reused node: never age backwards
    if (e != s.seen_epoch) [[unlikely]] age_to(s, e);
    const std::uint64_t q = s.base.load(std::memory_order_relaxed);  // own node
    const std::uint64_t samples = weight / sample_every_;  // weight is kept × sample_every
    std::uint64_t local = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t r = 0; r < dims_.depth; ++r) {
      auto& cell = s.cells[cell_index(r, h)];
      const std::uint64_t c = std::min(max_cell_count, decode(cell.load(std::memory_order_relaxed), q, e) + samples);
      cell.store(encode(c, e), std::memory_order_relaxed);  // one writer; readers: (S3)/(S4)
      local = std::min(local, c);
    }
    local *= sample_every_;  // in units
    s.traffic += weight;
    s.told_traffic.store(pack_traffic(s.traffic, e), std::memory_order_relaxed);  // one writer; readers: (S3)/(S4)
    s.untold += weight;
    if (s.untold >= ticker_.batch()) {  // one tick per batch of this thread's units: no RMW per sample
      const auto tick = ticker_.tick(s.untold);
      s.untold = 0;
      if (opt_.window != 0 && tick.crossed(opt_.window)) [[unlikely]] {
        end_due_windows();
        e = epoch_.load(std::memory_order_acquire);  // (2)
      }
    }
    const std::uint64_t word = table_word(key, h);
    const std::uint64_t th = table_hash(h);
    if (table_.hot(word, th, e)) return true;
    // The local filter (see "Per-thread sketches"): only a key with at least
    // 0.8 × the bar's share of this thread's traffic is checked against the sum.
    if (1.25 * static_cast<double>(local) < s.share_floor * static_cast<double>(s.traffic)) return false;
    // The re-check memo: after a failed check of x, this thread skips its next
    // T − 1 samples of x (T = threads with a node), so the O(T × depth) check
    // costs O(depth) per sample, amortized.
    auto& memo = s.memo[th & (sampler::memo_slots - 1)];
    if (memo.word == word && ++memo.skipped < samplers_.nodes()) return false;
    memo = {word, 0};
    if (below_bar(h, e)) return false;
    stamp_hot(key, word, th, e);
    return true;  // hot by its count, even if the table window is full of hot keys
  }

  template <class K>
  bool observe_shared(const K& key, std::uint64_t h, std::uint64_t weight) {
    const std::uint64_t est = shared_->add_hashed(h, weight);
    const auto tick = ticker_.tick(weight);
    if (opt_.window != 0 && tick.crossed(opt_.window)) [[unlikely]] end_due_windows();
    if (est < threshold()) return false;
    const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);  // (2) pairs with (1)
    stamp_hot(key, table_word(key, h), table_hash(h), epoch);
    return true;  // hot by its count, even if the table window is full of hot keys
  }

  template <class K>
  [[nodiscard]] bool hot_hashed(const K& key, std::uint64_t h) const noexcept(word_keys) {
    const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);  // (2) pairs with (1)
    return table_.hot(table_word(key, h), table_hash(h), epoch);
  }

  // The decayed count at epoch e: the shared sketch's, or the per-thread
  // sketches summed row by row (the Count-Min of the union), minimum over rows.
  [[nodiscard]] std::uint64_t estimate_at(std::uint64_t h, std::uint64_t e) const noexcept {
    if (shared_) return shared_->estimate_hashed(h);
    constexpr std::size_t inline_rows = 16;
    std::uint64_t sums[inline_rows] = {};
    std::uint64_t m = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t r0 = 0; r0 < dims_.depth; r0 += inline_rows) {
      const std::size_t rows = std::min(inline_rows, dims_.depth - r0);
      std::fill(sums, sums + rows, 0);
      samplers_.for_each([&](const sampler& s) {
        std::uint64_t word[inline_rows];
        const std::uint64_t q = read_stable(s, [&] {
          for (std::size_t i = 0; i < rows; ++i) word[i] = s.cells[cell_index(r0 + i, h)].load(std::memory_order_relaxed);
        });
        for (std::size_t i = 0; i < rows; ++i) sums[i] += decode(word[i], q, e);
      });
      for (std::size_t i = 0; i < rows; ++i) m = std::min(m, sums[i]);
    }
    return m * sample_every_;  // cells count kept samples
  }

  // Sampled: is the summed estimate of h at epoch e below the bar for the
  // summed traffic? Exactly estimate_at(h, e) < bar_for(summed_traffic(e)),
  // read cheaper: D and row 0 in one pass over the threads (one seqlock read
  // per node), then the other rows one pass each, stopping at the first row
  // whose sum is below the bar (a Count-Min minimum is below the bar exactly
  // when some row is). Each node is read at some moment, as estimate_at.
  [[nodiscard]] bool below_bar(std::uint64_t h, std::uint64_t e) const noexcept {
    std::uint64_t d = 0, row = 0;
    const std::size_t first = cell_index(0, h);
    samplers_.for_each([&](const sampler& s) {
      std::uint64_t w = 0, c = 0;
      const std::uint64_t q = read_stable(s, [&] {
        w = s.told_traffic.load(std::memory_order_relaxed);  // one writer
        c = s.cells[first].load(std::memory_order_relaxed);  // one writer
      });
      d += unpack_traffic(w, q, e);
      row += decode(c, q, e);
    });
    const std::uint64_t bar = bar_for(d);
    if (row * sample_every_ < bar) return true;
    for (std::size_t r = 1; r < dims_.depth; ++r) {
      const std::size_t i = cell_index(r, h);
      row = 0;
      samplers_.for_each([&](const sampler& s) {
        std::uint64_t c = 0;
        const std::uint64_t q = read_stable(s, [&] { c = s.cells[i].load(std::memory_order_relaxed); });  // one writer
        row += decode(c, q, e);
      });
      if (row * sample_every_ < bar) return true;
    }
    return false;
  }

  static hot_key_detector_options validated(hot_key_detector_options o) {
    const auto bad = [](const char* field, const std::string& what) {
      throw std::invalid_argument(std::string("hot_key_detector: ") + field + " " + what);
    };
    if (!(o.hot_share > 0 && o.hot_share <= 1)) bad("hot_share", "must be in (0, 1], got " + std::to_string(o.hot_share));
    if (o.window > (std::uint64_t{1} << 62)) bad("window", "must be ≤ 2^62");
    if (o.table_slots > (std::size_t{1} << 32)) bad("table_slots", "must be ≤ 2^32");
    if (o.table_slots == 0 && 4.0 / o.hot_share > 4294967296.0) bad("hot_share", "too small: 4/hot_share slots > 2^32");
    if (o.sample_every > (std::uint64_t{1} << 20)) bad("sample_every", "must be ≤ 2^20");
    const double epsilon = o.sketch.epsilon.value_or(hot_key_detector_options::default_epsilon);
    const double delta = o.sketch.delta.value_or(hot_key_detector_options::default_delta);
    if (!(epsilon > 0 && epsilon < 1)) bad("epsilon", "must be in (0, 1), got " + std::to_string(epsilon));
    if (!(delta > 0 && delta < 1)) bad("delta", "must be in (0, 1), got " + std::to_string(delta));
    // The sketch's width ⌈e/ε⌉ and depth ⌈ln 1/δ⌉: checked here until count_min_sketch checks its own sizes.
    if (std::exp(1.0) / epsilon * std::ceil(std::log(1.0 / delta)) > 4294967296.0)
      bad("epsilon", "too small: the sketch would exceed 2^32 counters");
    o.sketch.epsilon = epsilon;
    o.sketch.delta = delta;
    return o;
  }

  static std::uint64_t auto_sample_every(const hot_key_detector_options& o) noexcept {
    if (o.window == 0) return 1;
    const double room = o.hot_share * static_cast<double>(o.window) / 64.0;
    if (room < 2) return 1;
    return std::bit_floor(static_cast<std::uint64_t>(std::min(room, 16.0)));
  }

  [[nodiscard]] std::uint64_t table_hash(std::uint64_t h) const noexcept { return detail::mix64(h ^ salt_); }

  // γ_bar at traffic d (see "Sampling and the bar"): non-increasing in d.
  [[nodiscard]] double gamma_for(std::uint64_t d) const noexcept {
    const double phi_d = opt_.hot_share * static_cast<double>(d);
    if (sample_every_ == 1) return 0;
    return phi_d > 0 ? std::min(0.5, 4.0 * std::sqrt(static_cast<double>(sample_every_) / phi_d)) : 0.5;
  }
  // φ·D, lowered by the sampling slack γ (see "Sampling and the bar").
  [[nodiscard]] std::uint64_t bar_for(std::uint64_t d) const noexcept {
    const double phi_d = opt_.hot_share * static_cast<double>(d);
    const auto share = static_cast<std::uint64_t>(std::ceil((1 - gamma_for(d)) * phi_d));
    return std::max(min_count_, share);
  }
  // The filter's σ for an epoch whose D starts at d0: ≤ bar_for(D)/D for every
  // D ≥ d0, as bar_for(D) ≥ (1 − γ(D))·φ·D ≥ (1 − γ(d0))·φ·D.
  [[nodiscard]] double share_floor_for(std::uint64_t d0) const noexcept { return (1 - gamma_for(d0)) * opt_.hot_share; }

  hot_key_detector_options opt_;
  std::uint64_t seed_;
  std::uint64_t salt_;
  std::uint64_t sample_every_;
  std::uint64_t min_count_;
  count_min_dimensions dims_;
  std::unique_ptr<std::uint64_t[]> row_salts_;  // detail::cms_row_salt(seed + r), as count_min_sketch's rows
  std::optional<sketch_type> shared_;           // sample_every == 1 only
  mutable detail::hot_key_table table_;
  [[no_unique_address]] Hash hash_{};
  // Non-word keys: the stored key naming each table slot (index_of), the
  // queries that read them, and the names evictions replaced.
  std::unique_ptr<std::atomic<name_type*>[]> names_;
  detail::key_readers readers_;
  detail::retired_keys<Key> retired_;
  detail::sketch_ticker ticker_;
  std::atomic<std::int64_t> offset_{0};  // D = ticker_.published() + offset_
  std::atomic<std::uint64_t> epoch_{1};  // 0 = the stamp of a never-stamped slot
  std::atomic<bool> advancing_{false};
  std::atomic<std::uint64_t> windows_ended_{0};  // epoch ends the window has driven (advancing_ held to write)
  // Sampled: the filter's σ for the current epoch (share_floor_for(D at its
  // start)); written by the epoch end before it stores the epoch (1), read by
  // a thread when it moves to an epoch it loaded with (2). Before the first
  // epoch end: the floor at D = 0, (1 − 1/2)·φ.
  std::atomic<double> share_floor_{0};
  detail::thread_node_registry<sampler> samplers_;  // last: nodes read epoch_ when made
};

}  // namespace hotshard
