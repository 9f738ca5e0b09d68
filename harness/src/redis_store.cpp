// The Redis Cluster backend: slot map, per-thread connections, pipelining,
// MOVED/ASK, per-node accounting. See redis_store.hpp for the contract.
#include <hotshard/harness/redis_store.hpp>

#include <hotshard/harness/histogram.hpp>
#include <hotshard/harness/scenario.hpp>

#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace hotshard::harness {

namespace {

// The most masters one store addresses (the node table is fixed-size so that
// readers index it without a lock).
constexpr unsigned max_nodes = 256;

struct reply_deleter {
  void operator()(redisReply* r) const noexcept {
    if (r) freeReplyObject(r);
  }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
  return tv;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool starts_with(const redisReply* r, std::string_view word) {
  return r && r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).substr(0, word.size()) == word;
}

// "MOVED 3999 127.0.0.1:6381" / "ASK ..." -> (slot, host, port).
bool parse_redirect(const redisReply* r, unsigned& slot, std::string& host, int& port) {
  std::istringstream in(std::string(r->str, r->len));
  std::string word, addr;
  if (!(in >> word >> slot >> addr)) return false;
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  host = addr.substr(0, colon);
  port = std::atoi(addr.c_str() + colon + 1);
  return port > 0 && slot < redis_slot_count;
}

// An integer reply, or a bulk string holding one; nil counts 0 (a key never written).
std::optional<std::int64_t> integer_of(const redisReply* r) {
  if (!r) return std::nullopt;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_NIL) return 0;
  if (r->type == REDIS_REPLY_STRING) {
    std::int64_t v = 0;
    const auto res = std::from_chars(r->str, r->str + r->len, v);
    if (res.ec == std::errc{}) return v;
  }
  return std::nullopt;
}

}  // namespace

redis_store_config parse_redis_url(std::string_view url) {
  constexpr std::string_view scheme = "redis://";
  const auto bad = [&] {
    return usage_error("store '" + std::string(url) + "' is not sim or redis://HOST:PORT");
  };
  if (url.substr(0, scheme.size()) != scheme) throw bad();
  const std::string_view rest = url.substr(scheme.size());
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0) throw bad();
  int port = 0;
  const auto ps = rest.substr(colon + 1);
  const auto res = std::from_chars(ps.data(), ps.data() + ps.size(), port);
  if (res.ec != std::errc{} || res.ptr != ps.data() + ps.size() || port <= 0 || port > 65535) throw bad();
  redis_store_config c;
  c.host = std::string(rest.substr(0, colon));
  c.port = port;
  return c;
}

struct redis_store::impl {
  struct node {
    std::string host;
    int port = 0;
  };
  // One thread's connections and counts: written by that thread only; read by
  // metrics() after the clients stopped (registration is under states_mu).
  struct thread_state {
    std::array<redisContext*, max_nodes> conn{};
    std::array<std::uint64_t, max_nodes> ops{}, errors{};
    std::vector<latency_histogram> latency;  // grown on first use of a node (~20 KB each)
    std::uint64_t moved = 0, asked = 0;
    std::uint64_t unknown_writes = 0;  // INCRBY sent, no reply (timeout): applied or not, unknown
    std::int64_t unknown_delta = 0;    // the sum of their deltas (a combined write carries many units)
    std::uint64_t write_pipelines = 0, pipelined_writes = 0;  // write_batch: per-node batches, INCRBY in them
    void record(unsigned i, std::uint64_t ns) {
      if (latency.size() <= i) latency.resize(i + 1);
      latency[i].record(ns);
    }
    ~thread_state() {
      for (auto* c : conn)
        if (c) redisFree(c);
    }
  };

  redis_store_config cfg;
  std::string prefix;
  std::uint64_t id = 0;
  unsigned masters = 0;  // nodes that owned slots at start: partitions()
  // Mutable: a redirect met inside a const read (value(), total()) updates them.
  mutable std::array<node, max_nodes> nodes{};
  mutable std::atomic<unsigned> node_count{0};
  mutable std::mutex nodes_mu;  // appends to the node table
  mutable std::array<std::atomic<std::uint16_t>, redis_slot_count> slot_owner{};
  // A node that failed (timeout, refused) is not tried again before this
  // instant, by any thread: a stopped master costs each thread at most one
  // io_timeout per down_interval, so a run against it still ends. Relaxed: a
  // hint, a thread that misses it just pays one more timeout.
  mutable std::array<std::atomic<std::int64_t>, max_nodes> down_until{};
  mutable std::mutex states_mu;
  mutable std::vector<std::unique_ptr<thread_state>> states;
  nlohmann::json server;  // end_run's snapshot
  bool shared = false;    // HOTSHARD_REDIS_SHARED_PREFIX: see the header
  std::string version = "unknown";

  unsigned node_index(const std::string& host, int port) const {
    std::scoped_lock lock(nodes_mu);
    const unsigned n = node_count.load(std::memory_order_relaxed);  // under nodes_mu
    for (unsigned i = 0; i < n; ++i)
      if (nodes[i].host == host && nodes[i].port == port) return i;
    if (n == max_nodes) throw run_failure("redis store: more than 256 nodes");
    nodes[n] = {host, port};
    // Release: a reader that sees the new count (acquire in count()) sees the entry.
    node_count.store(n + 1, std::memory_order_release);
    return n;
  }
  unsigned count() const noexcept { return node_count.load(std::memory_order_acquire); }  // pairs with node_index

  thread_state& local() const {
    struct binding {
      std::uint64_t store = 0;
      thread_state* state = nullptr;
    };
    thread_local binding b;
    if (b.store != id) {
      std::scoped_lock lock(states_mu);
      states.push_back(std::make_unique<thread_state>());
      b = {id, states.back().get()};
    }
    return *b.state;
  }

  static std::uint64_t next_id() {
    static std::atomic<std::uint64_t> n{0};
    return n.fetch_add(1, std::memory_order_relaxed) + 1;  // an id orders nothing
  }

  // This thread's connection to node i, opened with the timeouts; nullptr on failure (counted).
  redisContext* connection(thread_state& ts, unsigned i) const {
    if (now_ns() < down_until[i].load(std::memory_order_relaxed)) {  // see down_until
      ++ts.errors[i];
      return nullptr;
    }
    if (ts.conn[i]) return ts.conn[i];
    redisContext* c = redisConnectWithTimeout(nodes[i].host.c_str(), nodes[i].port, to_timeval(cfg.connect_timeout));
    if (!c || c->err || redisSetTimeout(c, to_timeval(cfg.io_timeout)) != REDIS_OK) {
      if (c) redisFree(c);
      ++ts.errors[i];
      mark_down(i);
      return nullptr;
    }
    ts.conn[i] = c;
    return c;
  }
  // A connection that failed mid-command is in an unknown state: drop it.
  void drop(thread_state& ts, unsigned i) const {
    if (ts.conn[i]) redisFree(ts.conn[i]);
    ts.conn[i] = nullptr;
    ++ts.errors[i];
    mark_down(i);
  }
  void mark_down(unsigned i) const {
    const auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(cfg.down_interval).count();
    down_until[i].store(now_ns() + d, std::memory_order_relaxed);  // see down_until
  }

  // Sends the pipelined commands to node i and returns the replies read, in
  // order: all of them, or on failure (timeout or closed: the connection is
  // dropped) those that came before it — the later commands' effect is
  // unknown. `sent` (if given) is set once the commands were written to the socket.
  std::vector<reply_ptr> exchange(thread_state& ts, unsigned i, const std::vector<const std::vector<std::string>*>& cmds,
                                  bool* sent = nullptr) const {
    std::vector<reply_ptr> out;
    redisContext* c = connection(ts, i);
    if (!c) return out;
    for (const auto* cmd : cmds) {
      std::vector<const char*> argv;
      std::vector<std::size_t> lens;
      for (const auto& a : *cmd) {
        argv.push_back(a.c_str());
        lens.push_back(a.size());
      }
      if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
        drop(ts, i);
        return {};
      }
    }
    if (sent) *sent = true;  // appended; redisGetReply flushes them
    for (std::size_t k = 0; k < cmds.size(); ++k) {
      void* r = nullptr;
      if (redisGetReply(c, &r) != REDIS_OK || !r) {  // timeout or closed: bounded by io_timeout
        drop(ts, i);
        return out;
      }
      out.emplace_back(static_cast<redisReply*>(r));
    }
    return out;
  }

  // As exchange(), all or nothing: the replies, or empty on failure.
  std::vector<reply_ptr> pipeline(thread_state& ts, unsigned i, const std::vector<std::vector<std::string>>& cmds,
                                  bool* sent = nullptr) const {
    std::vector<const std::vector<std::string>*> ptrs;
    ptrs.reserve(cmds.size());
    for (const auto& cmd : cmds) ptrs.push_back(&cmd);
    auto out = exchange(ts, i, ptrs, sent);
    if (out.size() != cmds.size()) out.clear();
    return out;
  }

  // One entry of scatter(): the reply to its command.
  struct scattered {
    reply_ptr reply;       // nullptr: no reply (node down, failed, timed out, or not tried)
    unsigned node = 0;     // the node it was sent to: its slot's owner in the map
    bool sent = false;     // written to that node: without a reply, its effect is unknown
    std::uint64_t ns = 0;  // the node's batch round trip
  };

  // The data commands cmds[j] (each on the Redis key keys[j]) as one
  // pipelined batch per node — the owner of the key's slot in the map (a
  // stale owner answers MOVED) — the nodes one after another, so a node's
  // round trip is its own. The replies come back per entry, in order; the
  // caller judges each (an error reply included: re-send it with command()).
  // stop_on_failure: after a node failed, the later nodes are not tried.
  std::vector<scattered> scatter(thread_state& ts, const std::vector<std::string>& keys,
                                 const std::vector<std::vector<std::string>>& cmds, bool stop_on_failure) const {
    std::vector<scattered> out(cmds.size());
    unsigned used = 0;
    for (std::size_t j = 0; j < keys.size(); ++j) {
      out[j].node = slot_owner[redis_key_slot(keys[j])].load(std::memory_order_relaxed);  // see the header
      used = std::max(used, out[j].node + 1);
    }
    std::vector<std::vector<std::size_t>> by_node(used);
    for (std::size_t j = 0; j < keys.size(); ++j) by_node[out[j].node].push_back(j);
    std::vector<const std::vector<std::string>*> batch;
    for (unsigned n = 0; n < used; ++n) {
      if (by_node[n].empty()) continue;
      batch.clear();
      for (const auto j : by_node[n]) batch.push_back(&cmds[j]);
      const std::int64_t t0 = now_ns();
      bool sent = false;
      auto replies = exchange(ts, n, batch, &sent);
      const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ns() - t0));
      for (std::size_t k = 0; k < by_node[n].size(); ++k) {
        scattered& e = out[by_node[n][k]];
        e.sent = sent;
        e.ns = ns;
        if (k < replies.size()) e.reply = std::move(replies[k]);
      }
      if (stop_on_failure && replies.size() != batch.size()) break;
    }
    return out;
  }

  // One data command on the key's owner, following MOVED/ASK; nullptr on failure.
  reply_ptr command(thread_state& ts, const std::string& key, std::vector<std::string> cmd, bool metered) const {
    const unsigned slot = redis_key_slot(key);
    unsigned target = slot_owner[slot].load(std::memory_order_relaxed);  // a stale owner answers MOVED
    bool asking = false;
    for (unsigned hop = 0; hop <= cfg.max_redirects; ++hop) {
      const std::int64_t t0 = now_ns();
      std::vector<std::vector<std::string>> batch;
      if (asking) batch.push_back({"ASKING"});
      batch.push_back(cmd);
      bool sent = false;
      auto replies = pipeline(ts, target, batch, &sent);
      if (replies.empty()) {
        if (sent && cmd[0] == "INCRBY") {
          ++ts.unknown_writes;
          ts.unknown_delta += std::stoll(cmd[2]);
        }
        return nullptr;
      }
      reply_ptr r = std::move(replies.back());
      if (starts_with(r.get(), "MOVED ") || starts_with(r.get(), "ASK ")) {
        unsigned s = 0;
        std::string host;
        int port = 0;
        if (!parse_redirect(r.get(), s, host, port)) break;
        const bool moved = starts_with(r.get(), "MOVED ");
        const unsigned to = node_index(host, port);
        if (moved) {
          slot_owner[s].store(static_cast<std::uint16_t>(to), std::memory_order_relaxed);  // see the header
          ++ts.moved;
        } else {
          ++ts.asked;
        }
        asking = !moved;
        target = to;
        continue;
      }
      if (r->type == REDIS_REPLY_ERROR) break;  // CLUSTERDOWN, TRYAGAIN, WRONGTYPE...
      if (metered) {
        ++ts.ops[target];
        ts.record(target, static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ns() - t0)));
      }
      return r;
    }
    ++ts.errors[target];
    return nullptr;
  }

  // A command on every node that is not a data command (CONFIG, INFO, SCAN).
  // A node restarted since this thread's last command (its old connection is
  // dead) or marked down is tried once more on a fresh connection: an admin
  // command runs outside the measured run, where a node that is back must answer.
  reply_ptr admin(unsigned i, std::vector<std::string> cmd) const {
    thread_state& ts = local();
    auto replies = pipeline(ts, i, {cmd});
    if (replies.empty()) {
      down_until[i].store(0, std::memory_order_relaxed);  // see down_until
      replies = pipeline(ts, i, {std::move(cmd)});
    }
    if (replies.empty() || replies[0]->type == REDIS_REPLY_ERROR) return nullptr;
    return std::move(replies[0]);
  }

  void load_slots() {
    const unsigned seed = node_index(cfg.host, cfg.port);
    auto r = admin(seed, {"CLUSTER", "SLOTS"});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0)
      throw run_failure("redis store: CLUSTER SLOTS failed on " + cfg.host + ":" + std::to_string(cfg.port) +
                        " (is a cluster running there? scripts/redis-cluster.sh start)");
    std::vector<bool> covered(redis_slot_count, false);
    std::vector<bool> is_master(max_nodes, false);
    for (std::size_t e = 0; e < r->elements; ++e) {
      const redisReply* range = r->element[e];
      if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) continue;
      const redisReply* m = range->element[2];
      if (m->type != REDIS_REPLY_ARRAY || m->elements < 2) continue;
      std::string host(m->element[0]->str, m->element[0]->len);
      if (host.empty()) host = cfg.host;
      const unsigned n = node_index(host, static_cast<int>(m->element[1]->integer));
      is_master[n] = true;
      for (auto s = range->element[0]->integer; s <= range->element[1]->integer && s < redis_slot_count; ++s) {
        slot_owner[static_cast<std::size_t>(s)].store(static_cast<std::uint16_t>(n), std::memory_order_relaxed);
        covered[static_cast<std::size_t>(s)] = true;
      }
    }
    for (unsigned s = 0; s < redis_slot_count; ++s)
      if (!covered[s]) throw run_failure("redis store: slot " + std::to_string(s) + " is not served (cluster not ok)");
    // Partitions are the masters; the seed is one of them in a cluster of masters only.
    masters = 0;
    for (unsigned i = 0; i < count(); ++i) masters += is_master[i] ? 1 : 0;
    if (masters != count())
      throw run_failure("redis store: the seed " + cfg.host + ":" + std::to_string(cfg.port) +
                        " must be a master of a cluster of masters (--cluster-replicas 0)");
  }
};

redis_store::redis_store(redis_store_config cfg) : p_(std::make_unique<impl>()) {
  p_->cfg = std::move(cfg);
  p_->id = impl::next_id();
  std::random_device rd;
  p_->prefix = "hs:" + std::to_string(::getpid()) + ":" + std::to_string(rd()) + ":" + std::to_string(p_->id) + ":";
  if (const char* shared = std::getenv("HOTSHARD_REDIS_SHARED_PREFIX"); shared && *shared) {
    p_->prefix = shared;
    p_->shared = true;
  }
  p_->load_slots();
  if (auto info = p_->admin(0, {"INFO", "server"})) {
    const std::string s(info->str, info->len);
    const auto at = s.find("redis_version:");
    if (at != std::string::npos) p_->version = s.substr(at + 14, s.find_first_of("\r\n", at) - at - 14);
  }
}

redis_store::~redis_store() = default;

unsigned redis_store::partitions() const noexcept { return p_->masters; }

std::string redis_store::redis_key(std::uint64_t key) const { return p_->prefix + std::to_string(key); }

unsigned redis_store::partition_of(std::uint64_t key) const {
  return p_->slot_owner[redis_key_slot(redis_key(key))].load(std::memory_order_relaxed);  // see the header
}

bool redis_store::write(std::uint64_t key, std::int64_t delta) {
  const std::string k = redis_key(key);
  auto r = p_->command(p_->local(), k, {"INCRBY", k, std::to_string(delta)}, true);
  return r && r->type == REDIS_REPLY_INTEGER;
}

std::optional<std::int64_t> redis_store::read(std::uint64_t key) {
  const std::string k = redis_key(key);
  return integer_of(p_->command(p_->local(), k, {"GET", k}, true).get());
}

std::optional<std::int64_t> redis_store::read_sum(const std::vector<std::uint64_t>& keys) {
  auto& ts = p_->local();
  // One pipelined batch of GETs per node (scatter); a key whose node redirects is re-sent alone.
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> cmds;
  names.reserve(keys.size());
  cmds.reserve(keys.size());
  for (auto key : keys) {
    names.push_back(redis_key(key));
    cmds.push_back({"GET", names.back()});
  }
  auto replies = p_->scatter(ts, names, cmds, true);
  bool ok = true;
  std::int64_t sum = 0;
  // Every reply read is judged (and counted), even after a failure: Redis counted its GET.
  for (std::size_t j = 0; j < replies.size(); ++j) {
    const auto& r = replies[j];
    if (!r.reply) {
      ok = false;  // the node failed (counted there)
      continue;
    }
    if (r.reply->type == REDIS_REPLY_ERROR) {
      auto v = integer_of(p_->command(ts, names[j], cmds[j], true).get());
      if (v) {
        sum += *v;
      } else {
        ok = false;
      }
      continue;
    }
    auto v = integer_of(r.reply.get());
    if (!v) {
      ++ts.errors[r.node];
      ok = false;
      continue;
    }
    ++ts.ops[r.node];
    ts.record(r.node, r.ns);
    sum += *v;
  }
  if (!ok) return std::nullopt;
  return sum;
}

void redis_store::write_batch(std::span<store_write> writes) {
  auto& ts = p_->local();
  // One pipelined batch of INCRBY per node (scatter): every node is tried, a
  // failed one fails its entries only. Per entry, as write() would count it.
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> cmds;
  names.reserve(writes.size());
  cmds.reserve(writes.size());
  for (const auto& w : writes) {
    names.push_back(redis_key(w.key));
    cmds.push_back({"INCRBY", names.back(), std::to_string(w.delta)});
  }
  auto replies = p_->scatter(ts, names, cmds, false);
  std::vector<bool> node_tried(max_nodes, false);
  for (std::size_t j = 0; j < replies.size(); ++j) {
    const auto& r = replies[j];
    store_write& w = writes[j];
    w.applied = false;
    if (r.sent) {
      ++ts.pipelined_writes;
      if (!node_tried[r.node]) {
        node_tried[r.node] = true;
        ++ts.write_pipelines;
      }
    }
    if (!r.reply) {
      if (r.sent) {  // sent, no reply: applied or not, unknown (as write())
        ++ts.unknown_writes;
        ts.unknown_delta += w.delta;
      }
      continue;
    }
    if (r.reply->type == REDIS_REPLY_ERROR) {  // MOVED, ASK, TRYAGAIN...: not applied; this entry alone, as write()
      auto again = p_->command(ts, names[j], cmds[j], true);
      w.applied = again && again->type == REDIS_REPLY_INTEGER;
      continue;
    }
    ++ts.ops[r.node];  // Redis ran it (an incrby call)
    ts.record(r.node, r.ns);
    w.applied = r.reply->type == REDIS_REPLY_INTEGER;
  }
}

std::int64_t redis_store::value(std::uint64_t key) const {
  const std::string k = redis_key(key);
  auto r = p_->command(p_->local(), k, {"MGET", k}, false);  // MGET: not counted as a data GET (see the header)
  auto v = integer_of(r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 ? r->element[0] : nullptr);
  if (!v) throw run_failure("redis store: could not read back " + k);
  return *v;
}

std::int64_t redis_store::total() const {
  std::int64_t sum = 0;
  for (unsigned n = 0; n < p_->count(); ++n) {
    std::string cursor = "0";
    // Bounded: SCAN visits every key once per full cycle; 10^6 rounds of COUNT 1000 is far beyond any run.
    for (unsigned round = 0;; ++round) {
      if (round > 1'000'000) throw run_failure("redis store: SCAN did not finish on " + p_->nodes[n].host);
      auto r = p_->admin(n, {"SCAN", cursor, "MATCH", p_->prefix + "*", "COUNT", "1000"});
      if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        throw run_failure("redis store: SCAN failed on " + p_->nodes[n].host + ":" + std::to_string(p_->nodes[n].port));
      cursor.assign(r->element[0]->str, r->element[0]->len);
      std::vector<std::vector<std::string>> gets;
      for (std::size_t i = 0; i < r->element[1]->elements; ++i)
        gets.push_back({"MGET", std::string(r->element[1]->element[i]->str, r->element[1]->element[i]->len)});
      if (!gets.empty()) {
        auto replies = p_->pipeline(p_->local(), n, gets);
        if (replies.size() != gets.size()) throw run_failure("redis store: read-back failed on node " + std::to_string(n));
        for (const auto& rep : replies) {
          auto v = integer_of(rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 ? rep->element[0] : nullptr);
          if (!v) throw run_failure("redis store: a key of this run does not hold an integer");
          sum += *v;
        }
      }
      if (cursor == "0") break;
    }
  }
  return sum;
}

std::vector<std::uint64_t> redis_store::partition_ops() const {
  std::vector<std::uint64_t> out(p_->masters, 0);
  std::scoped_lock lock(p_->states_mu);
  for (const auto& s : p_->states)
    for (unsigned i = 0; i < p_->masters; ++i) out[i] += s->ops[i];
  return out;
}

std::vector<std::uint64_t> redis_store::partition_throttled() const {
  std::vector<std::uint64_t> out(p_->masters, 0);
  std::scoped_lock lock(p_->states_mu);
  for (const auto& s : p_->states)
    for (unsigned i = 0; i < p_->masters; ++i) out[i] += s->errors[i];
  return out;
}

std::uint64_t redis_store::backend_calls() const {
  std::uint64_t n = 0;
  for (auto v : partition_ops()) n += v;
  return n;
}

std::uint64_t redis_store::throttled() const {
  std::uint64_t n = 0;
  for (auto v : partition_throttled()) n += v;
  return n;
}

double redis_store::max_over_median() const { return max_over_median_of(partition_ops()); }

bool redis_store::shared_keys() const noexcept { return p_->shared; }

void redis_store::begin_run() {
  if (!p_->shared) reset_server_counts();
}

void redis_store::end_run() {
  if (!p_->shared) read_server_counts();
}

void redis_store::reset_server_counts() {
  for (unsigned n = 0; n < p_->masters; ++n)
    if (!p_->admin(n, {"CONFIG", "RESETSTAT"}))
      throw run_failure("redis store: CONFIG RESETSTAT failed on " + p_->nodes[n].host + ":" +
                        std::to_string(p_->nodes[n].port));
}

void redis_store::read_server_counts() {
  nlohmann::json ops = nlohmann::json::array(), by_cmd = nlohmann::json::array();
  std::vector<std::uint64_t> counts;
  for (unsigned n = 0; n < p_->masters; ++n) {
    auto r = p_->admin(n, {"INFO", "commandstats"});
    if (!r || r->type != REDIS_REPLY_STRING)
      throw run_failure("redis store: INFO commandstats failed on " + p_->nodes[n].host + ":" +
                        std::to_string(p_->nodes[n].port));
    // Lines "cmdstat_get:calls=123,usec=...".
    std::istringstream in(std::string(r->str, r->len));
    std::string line;
    nlohmann::json cmds = nlohmann::json::object();
    std::uint64_t data = 0;
    while (std::getline(in, line)) {
      if (line.rfind("cmdstat_", 0) != 0) continue;
      const auto colon = line.find(':');
      const auto calls = line.find("calls=");
      if (colon == std::string::npos || calls == std::string::npos) continue;
      const std::string name = line.substr(8, colon - 8);
      const std::uint64_t c = std::stoull(line.substr(calls + 6));
      cmds[name] = c;
      if (name == "get" || name == "incrby") data += c;
    }
    counts.push_back(data);
    ops.push_back(data);
    by_cmd.push_back(std::move(cmds));
  }
  p_->server = {{"node_ops", std::move(ops)},
                {"node_ops_by_command", std::move(by_cmd)},
                {"node_max_over_median", max_over_median_of(counts)}};
}

nlohmann::json redis_store::metrics() const {
  nlohmann::json m = p_->server;
  const unsigned n = p_->masters;
  std::vector<latency_histogram> lat(n);
  std::uint64_t moved = 0, asked = 0, unknown = 0, pipelines = 0, pipelined = 0;
  std::int64_t unknown_delta = 0;
  {
    std::scoped_lock lock(p_->states_mu);
    for (const auto& s : p_->states) {
      for (unsigned i = 0; i < n && i < s->latency.size(); ++i) lat[i].merge(s->latency[i]);
      moved += s->moved;
      asked += s->asked;
      unknown += s->unknown_writes;
      unknown_delta += s->unknown_delta;
      pipelines += s->write_pipelines;
      pipelined += s->pipelined_writes;
    }
  }
  nlohmann::json latency = nlohmann::json::array(), nodes = nlohmann::json::array();
  for (unsigned i = 0; i < n; ++i) {
    latency.push_back({{"p50", lat[i].percentile(0.5)}, {"p99", lat[i].percentile(0.99)}, {"max", lat[i].max()}});
    nodes.push_back(p_->nodes[i].host + ":" + std::to_string(p_->nodes[i].port));
  }
  m["store"] = "redis";
  m["partitions"] = n;
  m["partition_ops"] = partition_ops();
  m["client_node_ops"] = partition_ops();
  m["max_over_median"] = max_over_median();
  m["node_errors"] = partition_throttled();
  m["backend_calls"] = backend_calls();
  m["node_latency_ns"] = std::move(latency);
  m["nodes"] = std::move(nodes);
  m["redis_version"] = p_->version;
  m["redirects"] = {{"moved", moved}, {"ask", asked}};
  m["writes_unknown"] = unknown;  // failed by timeout after being sent: the server may have applied them
  m["writes_unknown_delta"] = unknown_delta;  // their deltas' sum: how much the store may hold beyond the acknowledged
  m["write_pipelines"] = pipelines;  // write_batch: per-node pipelined INCRBY batches
  m["writes_per_pipeline"] = pipelines ? static_cast<double>(pipelined) / static_cast<double>(pipelines) : 0.0;
  m["routing"] = "slots";
  return m;
}

}  // namespace hotshard::harness
