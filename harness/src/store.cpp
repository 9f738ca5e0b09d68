// The simulated partitioned store: routing, token buckets, adaptive capacity
// and per-partition accounting. See store.hpp for the model.
#include <hotshard/harness/store.hpp>

#include <hotshard/detail/clock.hpp>
#include <hotshard/harness/histogram.hpp>
#if HOTSHARD_HAVE_HIREDIS
#include <hotshard/harness/redis_store.hpp>
#endif
#include <hotshard/harness/scenario.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace hotshard::harness {

overload_policy parse_overload(std::string_view name) {
  if (name == "throttle") return overload_policy::throttle;
  if (name == "delay") return overload_policy::delay;
  throw usage_error("overload policy '" + std::string(name) + "' is not known; accepted: throttle, delay");
}

std::string_view to_string(overload_policy p) noexcept {
  return p == overload_policy::throttle ? "throttle" : "delay";
}

// A simple token bucket in fractional tokens. Not thread-safe: its owner's mutex guards it.
struct bucket {
  double rate = 0;   // tokens per second
  double depth = 0;  // maximum tokens
  double tokens = 0;
  std::int64_t last_ns = 0;

  void init(double r, double d, std::int64_t t) {
    rate = r;
    depth = d;
    tokens = d;
    last_ns = t;
  }
  void refill(std::int64_t t) {
    if (t > last_ns) {
      tokens = std::min(depth, tokens + rate * static_cast<double>(t - last_ns) * 1e-9);
      last_ns = t;
    }
  }
};

struct partitioned_store::partition {
  mutable std::mutex mu;
  std::unordered_map<std::uint64_t, std::int64_t> values;
  bucket own;        // base capacity
  bucket allowance;  // adaptive: what this partition may borrow on top
  std::uint64_t reads = 0, writes = 0, throttled = 0, borrowed = 0;
  latency_histogram latency;
  std::vector<std::uint64_t> series;
};

// Store-wide capacity pool for adaptive mode: refills at P x capacity, every
// accepted request draws from it, a borrowed one needs a whole token in it.
struct partitioned_store::pool {
  std::mutex mu;
  bucket b;
};

partitioned_store::partitioned_store(store_config config) : cfg_(std::move(config)) {
  router_ = make_router(cfg_.routing, {.partitions = cfg_.partitions, .virtual_nodes = cfg_.virtual_nodes,
                                        .key_space = cfg_.key_space});
  if (cfg_.capacity_ops_per_sec < 0 || cfg_.burst_seconds < 0 || cfg_.adaptive_ceiling < 1.0)
    throw usage_error("store: capacity and burst must be >= 0 and adaptive_ceiling >= 1");
  created_ns_ = now();
  const double c = cfg_.capacity_ops_per_sec;
  const double depth = std::max(1.0, c * cfg_.burst_seconds);
  parts_.reserve(cfg_.partitions);
  for (unsigned i = 0; i < cfg_.partitions; ++i) {
    auto p = std::make_unique<partition>();
    p->own.init(c, depth, created_ns_);
    const double extra = (cfg_.adaptive_ceiling - 1.0) * c;
    p->allowance.init(extra, extra > 0 ? std::max(1.0, extra * cfg_.burst_seconds) : 0.0, created_ns_);
    parts_.push_back(std::move(p));
  }
  if (cfg_.adaptive && c > 0) {
    pool_ = std::make_unique<pool>();
    pool_->b.init(c * cfg_.partitions, depth * cfg_.partitions, created_ns_);
  }
}

partitioned_store::~partitioned_store() = default;

unsigned partitioned_store::partitions() const noexcept { return cfg_.partitions; }
const store_config& partitioned_store::config() const noexcept { return cfg_; }

std::int64_t partitioned_store::now() const { return detail::now_ns(cfg_.clock_ns); }

// One virtual call per operation: noise beside its lock, clock reads, map and
// histogram (callgrind, one thread: 297-673 instructions per write/read with
// it, 308-693 with the switch on routing_kind it replaced).
unsigned partitioned_store::partition_of(std::uint64_t key) const { return router_->partition_of(key); }
unsigned partitioned_store::partition_of(std::string_view key) const { return router_->partition_of(key); }

partitioned_store::verdict partitioned_store::admit(partition& p, std::int64_t t, std::int64_t& delay_ns) {
  delay_ns = 0;
  if (cfg_.capacity_ops_per_sec <= 0) return verdict::accepted;
  p.own.refill(t);
  if (p.own.tokens >= 1.0) {
    p.own.tokens -= 1.0;
    if (pool_) {
      std::scoped_lock lock(pool_->mu);
      pool_->b.refill(t);
      pool_->b.tokens = std::max(-pool_->b.depth, pool_->b.tokens - 1.0);
    }
    return verdict::accepted;
  }
  if (pool_) {
    p.allowance.refill(t);
    if (p.allowance.tokens >= 1.0) {
      std::scoped_lock lock(pool_->mu);
      pool_->b.refill(t);
      if (pool_->b.tokens >= 1.0) {
        pool_->b.tokens -= 1.0;
        p.allowance.tokens -= 1.0;
        ++p.borrowed;
        return verdict::accepted;
      }
    }
  }
  if (cfg_.overload == overload_policy::throttle) {
    ++p.throttled;
    return verdict::throttled;
  }
  // Delay: reserve the next token now (the bucket goes into debt), wait for it.
  delay_ns = static_cast<std::int64_t>(std::ceil((1.0 - p.own.tokens) / cfg_.capacity_ops_per_sec * 1e9));
  p.own.tokens -= 1.0;
  if (pool_) {
    std::scoped_lock lock(pool_->mu);
    pool_->b.refill(t);
    pool_->b.tokens = std::max(-pool_->b.depth, pool_->b.tokens - 1.0);
  }
  return verdict::accepted;
}

void partitioned_store::finish(partition& p, std::int64_t t0, bool is_write) {
  const std::int64_t t1 = now();
  p.latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, t1 - t0)));
  if (is_write)
    ++p.writes;
  else
    ++p.reads;
  if (cfg_.series_interval_seconds > 0) {
    const auto interval_ns = static_cast<std::int64_t>(cfg_.series_interval_seconds * 1e9);
    const auto idx = static_cast<std::size_t>(std::max<std::int64_t>(0, t0 - created_ns_) / std::max<std::int64_t>(1, interval_ns));
    // A runaway clock must not allocate without bound: the tail bucket absorbs it.
    constexpr std::size_t max_intervals = 1u << 16;
    const std::size_t at = std::min(idx, max_intervals - 1);
    if (p.series.size() <= at) p.series.resize(at + 1, 0);
    ++p.series[at];
  }
}

bool partitioned_store::write(std::uint64_t key, std::int64_t delta) {
  partition& p = *parts_[partition_of(key)];
  const std::int64_t t0 = now();
  std::int64_t delay = 0;
  {
    std::scoped_lock lock(p.mu);
    if (admit(p, t0, delay) == verdict::throttled) return false;
    if (delay == 0) {
      p.values[key] += delta;
      finish(p, t0, true);
      return true;
    }
  }
  if (cfg_.sleep_ns)
    cfg_.sleep_ns(delay);
  else
    std::this_thread::sleep_for(std::chrono::nanoseconds(delay));
  std::scoped_lock lock(p.mu);
  p.values[key] += delta;
  finish(p, t0, true);
  return true;
}

std::optional<std::int64_t> partitioned_store::read(std::uint64_t key) {
  partition& p = *parts_[partition_of(key)];
  const std::int64_t t0 = now();
  std::int64_t delay = 0;
  {
    std::scoped_lock lock(p.mu);
    if (admit(p, t0, delay) == verdict::throttled) return std::nullopt;
    if (delay == 0) {
      const auto it = p.values.find(key);
      finish(p, t0, false);
      return it == p.values.end() ? 0 : it->second;
    }
  }
  if (cfg_.sleep_ns)
    cfg_.sleep_ns(delay);
  else
    std::this_thread::sleep_for(std::chrono::nanoseconds(delay));
  std::scoped_lock lock(p.mu);
  const auto it = p.values.find(key);
  finish(p, t0, false);
  return it == p.values.end() ? 0 : it->second;
}

std::int64_t partitioned_store::value(std::uint64_t key) const {
  const partition& p = *parts_[partition_of(key)];
  std::scoped_lock lock(p.mu);
  const auto it = p.values.find(key);
  return it == p.values.end() ? 0 : it->second;
}

std::int64_t partitioned_store::total() const {
  std::int64_t sum = 0;
  for (const auto& p : parts_) {
    std::scoped_lock lock(p->mu);
    for (const auto& [k, v] : p->values) sum += v;
  }
  return sum;
}

std::vector<std::uint64_t> partitioned_store::partition_ops() const {
  std::vector<std::uint64_t> out;
  out.reserve(parts_.size());
  for (const auto& p : parts_) {
    std::scoped_lock lock(p->mu);
    out.push_back(p->reads + p->writes);
  }
  return out;
}

std::vector<std::uint64_t> partitioned_store::partition_throttled() const {
  std::vector<std::uint64_t> out;
  for (const auto& p : parts_) {
    std::scoped_lock lock(p->mu);
    out.push_back(p->throttled);
  }
  return out;
}

std::vector<std::uint64_t> partitioned_store::partition_borrowed() const {
  std::vector<std::uint64_t> out;
  for (const auto& p : parts_) {
    std::scoped_lock lock(p->mu);
    out.push_back(p->borrowed);
  }
  return out;
}

std::uint64_t partitioned_store::backend_calls() const {
  std::uint64_t n = 0;
  for (auto v : partition_ops()) n += v;
  return n;
}

std::uint64_t partitioned_store::throttled() const {
  std::uint64_t n = 0;
  for (auto v : partition_throttled()) n += v;
  return n;
}

double max_over_median_of(std::vector<std::uint64_t> ops) {
  if (ops.empty()) return 0;
  std::sort(ops.begin(), ops.end());
  const double max = static_cast<double>(ops.back());
  if (max == 0) return 0;
  const std::size_t n = ops.size();
  const double median = n % 2 ? static_cast<double>(ops[n / 2])
                              : (static_cast<double>(ops[n / 2 - 1]) + static_cast<double>(ops[n / 2])) / 2;
  return max / std::max(1.0, median);
}

double partitioned_store::max_over_median() const { return max_over_median_of(partition_ops()); }

double partitioned_store::throttled_fraction() const {
  const double accepted = static_cast<double>(backend_calls());
  const double refused = static_cast<double>(throttled());
  return accepted + refused > 0 ? refused / (accepted + refused) : 0.0;
}

nlohmann::json partitioned_store::metrics() const {
  nlohmann::json m;
  nlohmann::json reads = nlohmann::json::array(), writes = nlohmann::json::array(),
                 refused = nlohmann::json::array(), borrowed = nlohmann::json::array(),
                 latency = nlohmann::json::array(), series = nlohmann::json::array();
  for (const auto& p : parts_) {
    std::scoped_lock lock(p->mu);
    reads.push_back(p->reads);
    writes.push_back(p->writes);
    refused.push_back(p->throttled);
    borrowed.push_back(p->borrowed);
    latency.push_back({{"p50", p->latency.percentile(0.5)},
                       {"p99", p->latency.percentile(0.99)},
                       {"max", p->latency.max()}});
    series.push_back(p->series);
  }
  m["partitions"] = cfg_.partitions;
  m["partition_ops"] = partition_ops();
  m["max_over_median"] = max_over_median();
  m["throttled_fraction"] = throttled_fraction();
  m["backend_calls"] = backend_calls();
  m["routing"] = std::string(router_->name());
  m["partition_reads"] = std::move(reads);
  m["partition_writes"] = std::move(writes);
  m["partition_throttled"] = std::move(refused);
  if (pool_) m["partition_borrowed"] = std::move(borrowed);
  m["partition_latency_ns"] = std::move(latency);
  if (cfg_.series_interval_seconds > 0) {
    m["partition_series"] = std::move(series);
    m["series_interval_seconds"] = cfg_.series_interval_seconds;
  }
  return m;
}

std::unique_ptr<store_backend> open_store_backend(std::string_view name) {
  if (name == "sim") return nullptr;
  if (name.substr(0, 8) != "redis://")
    throw usage_error("--set store: '" + std::string(name) + "' is not sim or redis://HOST:PORT");
#if HOTSHARD_HAVE_HIREDIS
  return std::make_unique<redis_store>(parse_redis_url(name));
#else
  throw usage_error("--set store=" + std::string(name) +
                    ": this build has no Redis backend (install libhiredis-dev and reconfigure)");
#endif
}

}  // namespace hotshard::harness
