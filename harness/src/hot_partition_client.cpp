// The hot-partition client (hotshard/harness/hot_partition/client.hpp): its
// request path and its settling (its metrics: hot_partition_metrics.cpp).
#include <hotshard/harness/hot_partition/client.hpp>

#include <hotshard/detail/hash.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>

namespace hotshard::harness::hot_partition {
client::client(client_config cfg, mitigations m)
    : cfg_(cfg), m_(m), period_ns_(static_cast<std::int64_t>(1e9 / cfg.offered_rate)), id_(next_id()) {
  if (cfg_.offered_rate <= 0) throw std::invalid_argument("offered_rate must be > 0");
  if (!(cfg_.salt_target > 0)) throw std::invalid_argument("salt_target must be > 0");
  // salted_counter_map rejects max_salt = 1 (it no longer raises it to 2):
  // the client names its own field here rather than the map's at start().
  if (m_.salting && (cfg_.salt < 2 || cfg_.salt > cfg_.partitions))
    throw std::invalid_argument("salt must be in [2, partitions]");
  store_config sc;
  sc.partitions = cfg_.partitions;
  sc.routing = cfg_.routing;
  sc.capacity_ops_per_sec = partition_capacity();
  sc.adaptive = m_.adaptive;
  sc.clock_ns = [this] { return now_ns(); };
  sc.series_interval_seconds = 0;  // set by the scenario from the run length
  store_cfg_ = sc;
}

void client::use_backend(std::unique_ptr<store_backend> b) {
  if (b->partitions() != cfg_.partitions)
    throw std::invalid_argument("client: the backend's partitions differ from client_config::partitions");
  store_ = std::move(b);
}

void client::start(double series_interval_seconds) {
  store_cfg_.series_interval_seconds = series_interval_seconds;
  if (!store_) store_ = std::make_unique<partitioned_store>(store_cfg_);
  store_->begin_run();
  if (m_.salting) {
    hot_key_detector_options o;
    o.hot_share = cfg_.hot_share;
    o.window = cfg_.detector_window;
    detector_ = std::make_unique<hot_key_detector<std::uint64_t>>(o);
    salted_counter_map_config sc;
    sc.capacity = 1 << 12;
    sc.hot_capacity = 256;
    sc.max_salt = cfg_.salt;
    salts_ = std::make_unique<salted_counter_map<std::uint64_t>>(sc);
  }
  if (m_.cache) {
    coalescing_cache_options o;
    o.capacity = cfg_.cache_capacity;
    o.ttl = std::chrono::nanoseconds(static_cast<std::int64_t>(cfg_.ttl_seconds * 1e9));
    o.negative_ttl = std::chrono::nanoseconds(10 * period_ns_);
    o.clock_ns = [this] { return now_ns(); };
    cache_ = std::make_unique<coalescing_cache<std::uint64_t, std::int64_t>>(o);
  }
  if (m_.buffer) {
    write_buffer_config<std::uint64_t, std::int64_t> o;
    o.capacity = cfg_.buffer_capacity;
    o.drain_thread = false;
    // A full buffer refuses the write and the client is told (write_errors):
    // blocking would stop simulated time, which only moves with requests.
    o.on_full = backpressure::fail;
    // Sink calls allowed per second: half of the whole store's capacity.
    o.rate_per_sec = 0.5 * cfg_.headroom * cfg_.offered_rate;
    o.retry_backoff = std::chrono::nanoseconds(0);
    o.clock_ns = [this] { return now_ns(); };
    if (store_->is_remote()) {  // pipelined: one batch per node per sink call
      buffer_ = std::make_unique<write_buffer<std::uint64_t, std::int64_t>>(
          [this](std::span<write_batch_entry<std::uint64_t, std::int64_t>> entries) { backend_write_batch(entries); },
          o);
    } else {
      buffer_ = std::make_unique<write_buffer<std::uint64_t, std::int64_t>>(
          [this](const std::uint64_t& key, const std::int64_t& delta) { return backend_write(key, delta); }, o);
    }
  }
}

void client::schedule_herd(std::uint64_t begin, std::vector<std::uint64_t> keys) {
  herd_begin_ = begin;
  herd_ = std::move(keys);
}

void client::execute(const workloads::operation& op, std::uint64_t g) {
  // Simulated time: one period per operation; the value is this op's instant.
  const std::int64_t now = clock_ns_.fetch_add(period_ns_, std::memory_order_relaxed) + period_ns_;  // orders nothing
  if (g >= herd_begin_ && !herd_fired_.load(std::memory_order_relaxed) &&
      !herd_fired_.exchange(true, std::memory_order_relaxed)) {
    if (cache_)
      for (auto k : herd_) cache_->invalidate(k);  // the hottest entries expire at once
  }
  thread_state& ts = local();
  if (detector_) {
    detector_->observe(op.key);
    if (detector_->is_hot(op.key)) {
      const std::uint32_t want = salt_for_load(op.key);
      if (salts_->salt_of(op.key) < want && !salts_->promote(op.key, want)) ++ts.failed_promotions;
    }
  }
  if (op.op == workloads::op_kind::get) {
    (void)read_at(op.key, now, ts);
  } else {
    write_at(op.key, now, ts);
  }
  if (buffer_ && ++ts.ops % cfg_.drain_every == 0) {
    const auto t0 = std::chrono::steady_clock::now();
    buffer_->drain();
    ts.drain_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    ++ts.drains;
  }
}

std::optional<std::int64_t> client::read(std::uint64_t key) { return read_at(key, now_ns(), local()); }

std::uint32_t client::salt_for_load(std::uint64_t key) const {
  const double traffic = static_cast<double>(
      std::max<std::uint64_t>({1, detector_->recent_traffic(), cfg_.detector_window}));
  const double load = static_cast<double>(detector_->estimate(key)) / traffic * cfg_.offered_rate;
  const double k = std::ceil(load / (cfg_.salt_target * partition_capacity()));
  return static_cast<std::uint32_t>(std::clamp(k, 2.0, static_cast<double>(std::max(2u, cfg_.salt))));
}

void client::finish() {
  if (buffer_) {
    const auto t0 = std::chrono::steady_clock::now();
    // Not closed first: after close() the buffer gives a refused write a few
    // more tries only, and here the store keeps refusing until time passes.
    // Bounded in rounds and in real time (a remote backend that stopped
    // answering fails every call after its timeout: the run must end).
    const auto deadline = t0 + std::chrono::seconds(60);
    for (std::uint64_t round = 0; buffer_->stats().lag > 0; ++round) {
      if (round > 100'000'000 || (round % 64 == 0 && std::chrono::steady_clock::now() > deadline))
        throw std::runtime_error("write buffer did not settle: " + std::to_string(buffer_->stats().lag) +
                                 " writes not applied");
      clock_ns_.fetch_add(period_ns_, std::memory_order_relaxed);
      buffer_->drain();
    }
    buffer_->close();
    settle_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  }
  store_->end_run();  // server-side counts, before any verification read
}

client::tallies client::totals() const {
  tallies t;
  std::scoped_lock lock(states_mu_);
  for (const auto& s : states_) t += *s;
  return t;
}

staleness_summary client::staleness() const {
  std::vector<const staleness_log*> logs;
  std::scoped_lock lock(states_mu_);
  for (const auto& s : states_) logs.push_back(&s->log);
  return summarize_staleness(logs);
}

std::uint64_t client::writes_accepted() const {
  return totals().direct_writes + (buffer_ ? buffer_->stats().accepted : 0);
}

std::vector<std::uint64_t> client::sub_keys(std::uint64_t key, std::uint32_t k) const {
  std::vector<std::uint64_t> subs{key};
  std::vector<bool> used(store_->partitions(), false);
  used[store_->partition_of(key)] = true;
  const std::uint32_t want = std::min<std::uint32_t>(k, store_->partitions());
  for (std::uint64_t c = 1; subs.size() < want && c < 64ull * store_->partitions(); ++c) {
    const std::uint64_t cand = (std::uint64_t{1} << 63) | (detail::mix64(key ^ detail::mix64(c)) >> 1);
    const unsigned p = store_->partition_of(cand);
    if (p >= used.size() || used[p]) continue;
    used[p] = true;
    subs.push_back(cand);
  }
  return subs;
}

std::int64_t client::unsafe_value(std::uint64_t key) const {
  std::int64_t sum = 0;
  for (auto sk : sub_keys(key, salt_of(key))) sum += store_->value(sk);
  return sum;
}

std::uint64_t client::next_id() {
  static std::atomic<std::uint64_t> n{0};
  return n.fetch_add(1, std::memory_order_relaxed) + 1;  // an id orders nothing
}

client::thread_state& client::local() const {
  struct binding {
    std::uint64_t client = 0;
    thread_state* state = nullptr;
  };
  thread_local binding b;
  if (b.client != id_) {
    std::scoped_lock lock(states_mu_);
    states_.push_back(std::make_unique<thread_state>());
    b = {id_, states_.back().get()};
  }
  return *b.state;
}

std::optional<std::int64_t> client::read_at(std::uint64_t key, std::int64_t now, thread_state& ts) {
  ++ts.reads;
  try {
    const std::int64_t v = cache_ ? cache_->get(key, [&] { return backend_read(key); }) : backend_read(key);
    ts.log.reads.push_back({key, now, v});
    return v;
  } catch (const throttled_error&) {
    ++ts.read_errors;
    return std::nullopt;
  }
}

void client::write_at(std::uint64_t key, std::int64_t now, thread_state& ts) {
  ++ts.writes;
  if (buffer_) {
    if (!buffer_->write(key, 1)) {
      ++ts.write_errors;
      return;
    }
    if (cache_ && cfg_.write_invalidates) cache_->invalidate(key);
    ts.log.writes.push_back({key, now});
    return;
  }
  if (backend_write(key, 1)) {
    ++ts.direct_writes;
    ts.log.writes.push_back({key, now_ns()});  // acknowledged after it was applied
  } else {
    ++ts.write_errors;
  }
}

const std::vector<std::uint64_t>& client::cached_subs(std::uint64_t key, std::uint32_t k, thread_state& ts) {
  if (ts.subs.size() > 4096) ts.subs.clear();
  auto& v = ts.subs[key];
  if (v.size() < std::min<std::uint32_t>(k, store_->partitions())) v = sub_keys(key, k);
  return v;
}

bool client::backend_write(std::uint64_t key, std::int64_t delta) {
  const std::uint32_t k = salt_of(key);
  bool ok = false;
  if (k <= 1) {
    ok = store_->write(key, delta);
  } else {
    thread_state& ts = local();
    const auto& subs = cached_subs(key, k, ts);
    ok = store_->write(subs[ts.round_robin++ % subs.size()], delta);
  }
  if (ok && cache_ && cfg_.write_invalidates) cache_->invalidate(key);  // a load that began before is not stored
  return ok;
}

void client::backend_write_batch(std::span<write_batch_entry<std::uint64_t, std::int64_t>> entries) {
  thread_state& ts = local();
  std::vector<store_write> writes;
  writes.reserve(entries.size());
  for (const auto& e : entries) {
    const std::uint32_t k = salt_of(e.key);
    std::uint64_t target = e.key;
    if (k > 1) {
      const auto& subs = cached_subs(e.key, k, ts);
      target = subs[ts.round_robin++ % subs.size()];
    }
    writes.push_back({target, e.delta, false});
  }
  store_->write_batch(writes);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    entries[i].applied = writes[i].applied;
    if (writes[i].applied && cache_ && cfg_.write_invalidates) cache_->invalidate(entries[i].key);  // as backend_write
  }
}

void client::round_trip() const {
  if (cfg_.backend_read_us == 0 || store_->is_remote()) return;  // a remote backend has a real one
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(cfg_.backend_read_us);
  while (std::chrono::steady_clock::now() < until) std::this_thread::yield();
}

std::int64_t client::backend_read(std::uint64_t key) {
  thread_state& ts = local();
  const std::uint32_t k = salt_of(key);
  ++ts.backend_loads;
  round_trip();  // the K reads of a salted key go out in parallel: one round trip
  if (k <= 1) {
    ++ts.backend_reads;
    auto v = store_->read(key);
    if (!v) throw throttled_error();
    return *v;
  }
  ++ts.salted_loads;
  const auto& subs = cached_subs(key, k, ts);
  ts.backend_reads += subs.size();
  ts.salted_backend_reads += subs.size();
  auto sum = store_->read_sum(subs);  // one batch per partition (pipelined on a remote backend)
  if (!sum) throw throttled_error();
  return *sum;
}

}  // namespace hotshard::harness::hot_partition
