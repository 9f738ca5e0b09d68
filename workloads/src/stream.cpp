// Key streams for every spec kind (stream.hpp). Each kind is a small final
// class; the streams that follow a global order count g = i*T + t.
#include <hotshard/workloads/rng.hpp>
#include <hotshard/workloads/stream.hpp>
#include <hotshard/workloads/trace.hpp>
#include <hotshard/workloads/viral.hpp>
#include <hotshard/workloads/zipf.hpp>

#include <hotshard/detail/hash.hpp>

#include <optional>
#include <string>

namespace hotshard::workloads {
namespace {

class uniform_stream final : public key_stream {
 public:
  uniform_stream(std::uint64_t seed, std::uint64_t n) : rng_(seed), n_(n) {}
  std::uint64_t next() override { return rng_.below(n_); }

 private:
  xoshiro256ss rng_;
  std::uint64_t n_;
};

class zipf_stream final : public key_stream {
 public:
  zipf_stream(std::uint64_t seed, std::uint64_t n, double s, bool scrambled)
      : rng_(seed), zipf_(n, s), scrambled_(scrambled) {}
  std::uint64_t next() override {
    const std::uint64_t rank = zipf_(rng_);
    return scrambled_ ? scramble(rank, zipf_.n()) : rank;
  }

 private:
  xoshiro256ss rng_;
  zipf_generator zipf_;
  bool scrambled_;
};

class hotspot_stream final : public key_stream {
 public:
  hotspot_stream(std::uint64_t seed, std::uint64_t n, double hot, double ops, bool scrambled)
      : rng_(seed), n_(n), ops_(ops), scrambled_(scrambled) {
    const double h = std::floor(hot * static_cast<double>(n) + 0.5);
    hot_keys_ = h >= static_cast<double>(n) ? n : static_cast<std::uint64_t>(h);
  }
  std::uint64_t next() override {
    std::uint64_t key;
    if (hot_keys_ == 0 || hot_keys_ == n_) {
      key = rng_.below(n_);  // one class only: the fraction G has nothing to choose between
    } else if (rng_.uniform01() < ops_) {
      key = rng_.below(hot_keys_);
    } else {
      key = hot_keys_ + rng_.below(n_ - hot_keys_);
    }
    return scrambled_ ? scramble(key, n_) : key;
  }

 private:
  xoshiro256ss rng_;
  std::uint64_t n_;
  double ops_;
  bool scrambled_;
  std::uint64_t hot_keys_ = 0;
};

class latest_stream final : public key_stream {
 public:
  latest_stream(std::uint64_t n, unsigned t, unsigned threads) : n_(n), step_(threads % n), key_(t % n) {}
  std::uint64_t next() override {
    const std::uint64_t key = key_;
    key_ += step_;  // key_ < n <= 2^63 and step_ < n: no overflow
    if (key_ >= n_) key_ -= n_;
    return key;
  }

 private:
  std::uint64_t n_, step_, key_;
};

// Where rank 0 sits in epoch e: 0 in the first epoch, then a pseudo-random
// key, the same for every thread and seed so all threads see one viral item.
std::uint64_t shift_offset(std::uint64_t epoch, std::uint64_t n) {
  return epoch == 0 ? 0 : detail::reduce(detail::mix64(epoch * 0x9e3779b97f4a7c15ULL + 0x243f6a8885a308d3ULL), n);
}

class shift_stream final : public key_stream {
 public:
  shift_stream(std::uint64_t seed, std::uint64_t n, double s, std::uint64_t every, bool scrambled, unsigned t,
               unsigned threads)
      : rng_(seed), zipf_(n, s), every_(every), threads_(threads), global_(t), scrambled_(scrambled) {
    enter_epoch();
  }
  std::uint64_t next() override {
    if (global_ >= epoch_end_) enter_epoch();
    global_ += threads_;
    std::uint64_t key = zipf_(rng_) + offset_;  // both < n <= 2^63: no overflow
    if (key >= zipf_.n()) key -= zipf_.n();
    return scrambled_ ? scramble(key, zipf_.n()) : key;
  }

 private:
  void enter_epoch() {
    const std::uint64_t epoch = global_ / every_;
    epoch_end_ = epoch + 1 > ~std::uint64_t{0} / every_ ? ~std::uint64_t{0} : (epoch + 1) * every_;
    offset_ = shift_offset(epoch, zipf_.n());
  }
  xoshiro256ss rng_;
  zipf_generator zipf_;
  std::uint64_t every_;
  std::uint64_t threads_;
  std::uint64_t global_;
  bool scrambled_;
  std::uint64_t epoch_end_ = 0;
  std::uint64_t offset_ = 0;
};

class herd_stream final : public key_stream {
 public:
  explicit herd_stream(std::uint64_t keys) : keys_(keys) {}
  std::uint64_t next() override {
    const std::uint64_t key = next_;
    if (++next_ == keys_) next_ = 0;
    return key;
  }

 private:
  std::uint64_t keys_;
  std::uint64_t next_ = 0;
};

// Thread t takes global ops t, t+T, t+2T, ... of one viral schedule: the
// op kinds are the workload's own.
class viral_stream final : public key_stream {
 public:
  viral_stream(const viral_config& c, std::uint64_t seed, std::uint64_t run_length, unsigned t, unsigned threads)
      : schedule_(c, seed, run_length), g_(t), step_(threads) {}
  std::uint64_t next() override { return next_operation(op_kind::get).key; }
  operation next_operation(op_kind) override {
    const operation op = schedule_.at(g_);
    g_ += step_;
    return op;
  }

 private:
  viral_schedule schedule_;
  std::uint64_t g_, step_;
};

// Thread t replays records t, t+T, t+2T, ... of the file, modulo its length,
// reading it in chunks and reopening it when the index wraps around.
class trace_stream final : public key_stream {
 public:
  static constexpr std::size_t chunk_records = 8192;

  trace_stream(std::string path, std::optional<trace_format> format, unsigned t, unsigned threads)
      : path_(std::move(path)), format_(format) {
    reader_ = std::make_unique<trace_reader>(path_, format_, chunk_records);
    has_operations_ = reader_->has_operations();
    total_ = count_records();
    if (total_ == 0) throw trace_error(path_ + ": the trace has no records");
    index_ = t % total_;
    step_ = threads % total_;
    reader_ = std::make_unique<trace_reader>(path_, format_, chunk_records);
  }

  operation next_record() {
    if (index_ < chunk_start_) {
      reader_ = std::make_unique<trace_reader>(path_, format_, chunk_records);
      chunk_start_ = 0;
      chunk_.clear();
    }
    while (index_ >= chunk_start_ + chunk_.size()) {
      chunk_start_ += chunk_.size();
      if (!reader_->next_chunk(chunk_)) throw trace_error(path_ + ": the trace changed while being replayed");
    }
    const operation op = chunk_[index_ - chunk_start_];
    index_ += step_;
    if (index_ >= total_) index_ -= total_;
    return op;
  }
  std::uint64_t next() override { return next_record().key; }
  [[nodiscard]] std::uint64_t records() const noexcept { return total_; }
  [[nodiscard]] bool has_operations() const noexcept { return has_operations_; }
  [[nodiscard]] trace_format format() const noexcept { return reader_->format(); }
  [[nodiscard]] trace_compression compression() const noexcept { return reader_->compression(); }

 private:
  std::uint64_t count_records() {
    std::vector<operation> chunk;
    std::uint64_t total = 0;
    while (reader_->next_chunk(chunk)) total += chunk.size();
    return total;
  }

  std::string path_;
  std::optional<trace_format> format_;
  std::unique_ptr<trace_reader> reader_;
  std::vector<operation> chunk_;
  bool has_operations_ = true;
  std::uint64_t chunk_start_ = 0;
  std::uint64_t total_ = 0, index_ = 0, step_ = 0;
};

std::optional<trace_format> format_of(const workload_spec& spec) {
  const std::string& name = spec.value("format");
  return name == "auto" ? std::nullopt : trace_format_from_name(name);
}

void check_threads(unsigned thread_index, unsigned thread_count) {
  if (thread_count == 0 || thread_index >= thread_count) {
    throw spec_error("workload stream: thread_index must be below thread_count (got " +
                     std::to_string(thread_index) + " of " + std::to_string(thread_count) + ")");
  }
}

// A spec assembled by hand (not by parse_spec) gets the same validation and
// defaults: its kind and parameters go through the parser again.
workload_spec validated(const workload_spec& spec) {
  std::string text = spec.kind + ":";
  bool first = true;
  for (const auto& [key, value] : spec.params) {
    text += (first ? "" : ",") + key + "=" + value;
    first = false;
  }
  workload_spec parsed = parse_spec(text);
  parsed.text = spec.text.empty() ? text : spec.text;
  return parsed;
}

std::unique_ptr<key_stream> make_any_stream(const workload_spec& given, std::uint64_t seed, unsigned t,
                                            unsigned threads, std::uint64_t run_length) {
  check_threads(t, threads);
  const workload_spec spec = validated(given);
  const std::uint64_t s = stream_seed(seed, t);
  const std::string& kind = spec.kind;
  if (kind == "uniform") return std::make_unique<uniform_stream>(s, spec.integer("n"));
  if (kind == "zipf") {
    return std::make_unique<zipf_stream>(s, spec.integer("n"), spec.number("s"), spec.integer("scramble") != 0);
  }
  if (kind == "hotspot") {
    return std::make_unique<hotspot_stream>(s, spec.integer("n"), spec.number("hot"), spec.number("ops"),
                                            spec.integer("scramble") != 0);
  }
  if (kind == "latest") return std::make_unique<latest_stream>(spec.integer("n"), t, threads);
  if (kind == "shift") {
    return std::make_unique<shift_stream>(s, spec.integer("n"), spec.number("s"), spec.integer("every"),
                                          spec.integer("scramble") != 0, t, threads);
  }
  if (kind == "herd") return std::make_unique<herd_stream>(spec.integer("keys"));
  if (kind == "trace") return std::make_unique<trace_stream>(spec.value("path"), format_of(spec), t, threads);
  if (kind == "viral") {
    if (run_length == 0) {
      throw spec_error("viral: its phases are fractions of the run, and this stream was made without the run's "
                       "length (make_stream's run_length)");
    }
    return std::make_unique<viral_stream>(viral_config_of(spec), seed, run_length, t, threads);
  }
  throw spec_error("unknown workload kind '" + kind + "'");
}

}  // namespace

std::unique_ptr<key_stream> make_stream(const workload_spec& spec, std::uint64_t seed, unsigned thread_index,
                                        unsigned thread_count, std::uint64_t run_length) {
  return make_any_stream(spec, seed, thread_index, thread_count, run_length);
}

std::vector<std::uint64_t> generate_keys(const workload_spec& spec, std::uint64_t seed, unsigned thread_index,
                                         unsigned thread_count, std::size_t count) {
  const auto stream = make_stream(spec, seed, thread_index, thread_count, std::uint64_t{count} * thread_count);
  std::vector<std::uint64_t> keys(count);
  for (auto& key : keys) key = stream->next();
  return keys;
}

std::vector<operation> generate_operations(const workload_spec& spec, std::uint64_t seed, unsigned thread_index,
                                           unsigned thread_count, std::size_t count, double read_fraction) {
  std::vector<operation> ops(count);
  if (spec.kind == "trace") {
    check_threads(thread_index, thread_count);
    const workload_spec checked = validated(spec);
    trace_stream stream(checked.value("path"), format_of(checked), thread_index, thread_count);
    if (stream.has_operations()) {
      for (auto& op : ops) op = stream.next_record();
      return ops;
    }
  }
  if (!(read_fraction >= 0.0 && read_fraction <= 1.0)) {
    throw spec_error("read_fraction must be a number in [0, 1] (got " + std::to_string(read_fraction) + ")");
  }
  const auto stream = make_stream(spec, seed, thread_index, thread_count, std::uint64_t{count} * thread_count);
  // A generator of its own, so the keys equal generate_keys' whatever the fraction.
  xoshiro256ss op_rng(detail::mix64(stream_seed(seed, thread_index) ^ 0x3c6ef372fe94f82bULL));
  for (auto& op : ops) op = stream->next_operation(op_rng.uniform01() < read_fraction ? op_kind::get : op_kind::put);
  return ops;
}

trace_info trace_info_of(const workload_spec& given) {
  if (given.kind != "trace") throw spec_error("expected a trace:path=FILE workload (got \"" + given.text + "\")");
  const workload_spec spec = validated(given);
  const trace_stream stream(spec.value("path"), format_of(spec), 0, 1);
  return {stream.records(), stream.format(), stream.compression(), stream.has_operations()};
}

herd_plan herd_of(const workload_spec& given) {
  if (given.kind != "herd") {
    throw spec_error("expected a herd:keys=K,waves=W workload (got \"" + given.text + "\")");
  }
  const workload_spec spec = validated(given);
  return {spec.integer("keys"), spec.integer("waves")};
}

std::uint64_t key_space_of(const workload_spec& given) {
  const workload_spec spec = validated(given);
  if (spec.kind == "herd") return spec.integer("keys");
  if (spec.kind == "trace") return 0;
  if (spec.kind == "viral") return spec.integer("n") + 1;  // the viral key is n
  return spec.integer("n");
}

}  // namespace hotshard::workloads
