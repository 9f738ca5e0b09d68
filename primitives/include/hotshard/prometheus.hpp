// hotshard/prometheus.hpp — writes the stats() snapshots of hotshard's
// primitives (any type that is detail::exportable_stats, see
// detail/metrics.hpp) in the Prometheus text exposition format, version 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), the body a
// /metrics endpoint serves.
//
//   hotshard::prometheus_text out;                        // one per scrape
//   out.add("hotshard_likes", likes.stats(), {{"shard", "3"}});
//   out.add("hotshard_like_writes", buffer.stats());
//   out.add_counter("myapp_requests_total", n, "Requests served.");  // a number of your own
//   std::string body = out.str();  // Content-Type: hotshard::prometheus_text::content_type
//
// add(prefix, stats, labels) emits one sample per metric the snapshot names,
// in the family `<prefix>_<metric name>` (e.g. hotshard_likes_value). Adding
// several instances of one primitive under the same prefix with different
// labels (one per shard, one per endpoint) puts their samples in the same
// families: str() writes each family once, as the format requires — its
// `# HELP` line, its `# TYPE` line (counter or gauge), then all its samples
// together — families in the order they were first added, samples in the
// order they were added.
//
// Validation (std::invalid_argument, naming the bad name; nothing is added by
// a call that throws):
//  * a family name must match [a-zA-Z_:][a-zA-Z0-9_:]*; a label name
//    [a-zA-Z_][a-zA-Z0-9_]* and not start with "__" (reserved);
//  * one family has one kind: adding a counter and a gauge under one name
//    throws; so does adding the same family with the same label set twice (a
//    duplicate series Prometheus would reject), or one label name twice in
//    one set.
// Label values may hold any bytes (UTF-8 expected): backslash, double quote
// and newline are escaped as \\, \" and \n; HELP text escapes \\ and \n.
// A family keeps the HELP text it was first added with.
//
// Numbers: a value that is a whole number of magnitude below 2^63 is written
// as an integer (1000000, not 1e+06; every count up to 2^53 is exact, since
// metric::value is a double); other values in the shortest form that reads
// back as the same double (0.25, 1.5e-07); NaN, +Inf and -Inf as the format
// spells them. No timestamps are written (the scrape time is used).
//
// What a scrape sees: each number is a value that number had at some moment
// during the stats() call that produced the snapshot; the numbers of one
// snapshot, and of different primitives, are not one atomic cut across each
// other (e.g. applied_writes_total may already count a write that
// accepted_total, read earlier, did not) unless the primitive's header says
// so. A counter never goes backwards from one scrape to a later one made on
// the same thread (or ordered after it, e.g. by a mutex): each is a relaxed
// atomic that only grows, and coherence forbids reading an older value.
//
// Threading: a prometheus_text is an ordinary value (not thread-safe); build
// one per scrape on the metrics thread. stats() itself may be called from that
// thread while other threads use the primitives: it never blocks them.
// Progress: add()/str() allocate (may throw std::bad_alloc).
#pragma once

#include <hotshard/detail/metrics.hpp>

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hotshard {

using detail::metric;
using detail::metric_kind;

// One label of a sample: name="value".
struct prometheus_label {
  std::string name;
  std::string value;
};

class prometheus_text {
 public:
  // The Content-Type an HTTP endpoint serving str() should send.
  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

  // Every metric of `stats` as `<prefix>_<metric.name>`, with `labels` on each
  // sample. Returns *this so calls chain.
  template <class S>
    requires detail::exportable_stats<S>
  prometheus_text& add(std::string_view prefix, const S& stats, const std::vector<prometheus_label>& labels = {}) {
    check_metric_name(prefix, "prefix");
    const std::string rendered = render_labels(labels);
    // Collected first and validated as a whole, so a call that throws adds nothing.
    std::vector<pending> batch;
    stats.for_each_metric([&](const metric& m) {
      std::string name(prefix);
      name += '_';
      name += m.name;
      check_metric_name(name, "metric name");
      batch.push_back({std::move(name), m.kind, m.value, std::string(m.help)});
    });
    commit(batch, rendered);
    return *this;
  }

  // One sample of your own, in the family `name` (which must follow the
  // naming convention itself, e.g. end in _total for a counter).
  prometheus_text& add_counter(std::string_view name, double value, std::string_view help,
                               const std::vector<prometheus_label>& labels = {}) {
    return add_one(name, metric_kind::counter, value, help, labels);
  }
  prometheus_text& add_gauge(std::string_view name, double value, std::string_view help,
                             const std::vector<prometheus_label>& labels = {}) {
    return add_one(name, metric_kind::gauge, value, help, labels);
  }

  // The exposition: every family's HELP, TYPE and samples, each line ending in
  // '\n' (an empty string when nothing was added).
  [[nodiscard]] std::string str() const {
    std::string out;
    for (const family& f : families_) {
      out += "# HELP ";
      out += f.name;
      out += ' ';
      append_escaped(out, f.help, /*quote=*/false);
      out += "\n# TYPE ";
      out += f.name;
      out += f.kind == metric_kind::counter ? " counter\n" : " gauge\n";
      for (const sample& s : f.samples) {
        out += f.name;
        out += s.labels;
        out += ' ';
        out += s.value;
        out += '\n';
      }
    }
    return out;
  }

  [[nodiscard]] bool empty() const noexcept { return families_.empty(); }
  void clear() noexcept { families_.clear(); }

  // The text a value is written as (exposed for tests and custom writers).
  [[nodiscard]] static std::string format_value(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    char buf[64];
    std::to_chars_result r;
    // 2^63 is exact as a double; below it a whole value converts exactly.
    if (v == std::trunc(v) && std::fabs(v) < 9223372036854775808.0)
      r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
    else
      r = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
    return std::string(buf, r.ptr);
  }

  // [a-zA-Z_:][a-zA-Z0-9_:]*
  [[nodiscard]] static bool valid_metric_name(std::string_view n) noexcept {
    if (n.empty() || is_digit(n[0])) return false;
    for (char c : n)
      if (!is_alpha(c) && !is_digit(c) && c != '_' && c != ':') return false;
    return true;
  }
  // [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"
  [[nodiscard]] static bool valid_label_name(std::string_view n) noexcept {
    if (n.empty() || is_digit(n[0]) || n.starts_with("__")) return false;
    for (char c : n)
      if (!is_alpha(c) && !is_digit(c) && c != '_') return false;
    return true;
  }

 private:
  struct pending {
    std::string name;
    metric_kind kind;
    double value;
    std::string help;
  };
  struct sample {
    std::string labels;  // rendered: "" or {a="x",b="y"}
    std::string value;
  };
  struct family {
    std::string name;
    metric_kind kind;
    std::string help;
    std::vector<sample> samples;
    std::set<std::string> label_sets;  // to reject a duplicate series
  };

  static bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  static bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

  static void check_metric_name(std::string_view n, const char* what) {
    if (!valid_metric_name(n))
      throw std::invalid_argument("prometheus_text: " + std::string(what) + " \"" + std::string(n) +
                                  "\" is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  }

  // Label values escape \ " and newline; HELP text escapes \ and newline.
  static void append_escaped(std::string& out, std::string_view s, bool quote) {
    for (char c : s) {
      if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (quote && c == '"') out += "\\\"";
      else out += c;
    }
  }

  static std::string render_labels(const std::vector<prometheus_label>& labels) {
    if (labels.empty()) return {};
    std::string r = "{";
    for (std::size_t i = 0; i < labels.size(); ++i) {
      const prometheus_label& l = labels[i];
      if (!valid_label_name(l.name))
        throw std::invalid_argument("prometheus_text: label name \"" + l.name +
                                    "\" is not valid ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)");
      for (std::size_t j = 0; j < i; ++j)
        if (labels[j].name == l.name)
          throw std::invalid_argument("prometheus_text: label \"" + l.name + "\" given twice");
      if (i != 0) r += ',';
      r += l.name;
      r += "=\"";
      append_escaped(r, l.value, /*quote=*/true);
      r += '"';
    }
    r += '}';
    return r;
  }

  family* find(std::string_view name) noexcept {
    for (family& f : families_)
      if (f.name == name) return &f;
    return nullptr;
  }

  prometheus_text& add_one(std::string_view name, metric_kind kind, double value, std::string_view help,
                           const std::vector<prometheus_label>& labels) {
    check_metric_name(name, "metric name");
    const std::string rendered = render_labels(labels);
    std::vector<pending> batch{{std::string(name), kind, value, std::string(help)}};
    commit(batch, rendered);
    return *this;
  }

  // Checks the whole batch against what is there, then adds it.
  void commit(const std::vector<pending>& batch, const std::string& labels) {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const pending& p = batch[i];
      for (std::size_t j = 0; j < i; ++j)
        if (batch[j].name == p.name)
          throw std::invalid_argument("prometheus_text: metric \"" + p.name + "\" named twice by one snapshot");
      if (const family* f = find(p.name)) {
        if (f->kind != p.kind)
          throw std::invalid_argument("prometheus_text: metric \"" + p.name +
                                      "\" added as both a counter and a gauge");
        if (f->label_sets.contains(labels))
          throw std::invalid_argument("prometheus_text: metric \"" + p.name + "\" added twice with labels \"" +
                                      labels + "\"");
      }
    }
    for (const pending& p : batch) {
      family* f = find(p.name);
      if (f == nullptr) f = &families_.emplace_back(family{p.name, p.kind, p.help, {}, {}});
      f->label_sets.insert(labels);
      f->samples.push_back({labels, format_value(p.value)});
    }
  }

  std::vector<family> families_;
};

}  // namespace hotshard
