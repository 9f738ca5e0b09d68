// hotshard/prometheus.hpp: the exposition is parsed back line by line and
// checked against the text format 0.0.4 (HELP/TYPE once per family, before
// its samples, samples of a family together; name rules; label escaping;
// exact values), bad names throw naming them, and a metrics thread scrapes
// while more writer threads than cores run (TSan), exact after the join.
#include <hotshard/bounded_queue.hpp>
#include <hotshard/buffered_count_min_sketch.hpp>
#include <hotshard/coalescing_cache.hpp>
#include <hotshard/count_min_sketch.hpp>
#include <hotshard/heavy_hitters.hpp>
#include <hotshard/hot_key_detector.hpp>
#include <hotshard/per_thread_counter.hpp>
#include <hotshard/prometheus.hpp>
#include <hotshard/salted_counter_map.hpp>
#include <hotshard/single_flight.hpp>
#include <hotshard/striped_counter.hpp>
#include <hotshard/write_buffer.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <hotshard/test/support.hpp>

namespace {

using hotshard::prometheus_label;
using hotshard::prometheus_text;
using hotshard::detail::metric;
using hotshard::detail::metric_kind;

// ---- a strict reader of the text format -------------------------------------

struct parsed_sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped
  std::string value_text;
  double value = 0;
};
struct parsed_family {
  std::string help;  // unescaped
  std::string type;
  std::vector<parsed_sample> samples;
};
struct parsed {
  std::vector<std::string> order;  // family names, in order
  std::map<std::string, parsed_family> families;

  // The one sample of `family` whose labels are exactly `labels`.
  [[nodiscard]] const parsed_sample& sample(const std::string& family,
                                            const std::vector<std::pair<std::string, std::string>>& labels = {}) const {
    const auto it = families.find(family);
    if (it == families.end()) throw std::runtime_error("no family " + family);
    const parsed_sample* found = nullptr;
    for (const auto& s : it->second.samples)
      if (s.labels == labels) {
        if (found != nullptr) throw std::runtime_error("two samples in " + family);
        found = &s;
      }
    if (found == nullptr) throw std::runtime_error("no such sample in " + family);
    return *found;
  }
};

// Written out by hand, apart from the header's own checks (std::regex trips
// GCC 12's -Wmaybe-uninitialized in the ASan build).
// Every character of s is in `chars`, and the first one also in `first`.
bool made_of(std::string_view s, std::string_view first, std::string_view chars) {
  if (s.empty() || first.find(s[0]) == std::string_view::npos) return false;
  for (char c : s)
    if (chars.find(c) == std::string_view::npos) return false;
  return true;
}
constexpr std::string_view letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
constexpr std::string_view digits = "0123456789";
bool is_metric_name(std::string_view n) {  // [a-zA-Z_:][a-zA-Z0-9_:]*
  const std::string first = std::string(letters) + "_:";
  return made_of(n, first, first + std::string(digits));
}
bool is_label_name(std::string_view n) {  // [a-zA-Z_][a-zA-Z0-9_]*
  const std::string first = std::string(letters) + "_";
  return made_of(n, first, first + std::string(digits));
}
// -?[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?
bool is_number(std::string_view t) {
  std::size_t i = t.starts_with('-') ? 1 : 0;
  const auto run = [&] {
    const std::size_t from = i;
    while (i < t.size() && digits.find(t[i]) != std::string_view::npos) ++i;
    return i > from;
  };
  if (!run()) return false;
  if (i < t.size() && t[i] == '.' && (++i, !run())) return false;
  if (i < t.size() && t[i] == 'e') {
    if (++i >= t.size() || (t[i] != '-' && t[i] != '+')) return false;
    ++i;
    if (!run()) return false;
  }
  return i == t.size();
}

double parse_value(const std::string& t) {
  if (t == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (t == "+Inf") return std::numeric_limits<double>::infinity();
  if (t == "-Inf") return -std::numeric_limits<double>::infinity();
  if (!is_number(t)) throw std::runtime_error("value " + t);
  return std::strtod(t.c_str(), nullptr);
}

// Unescapes a help text (\\ and \n) or, with quote, a label value (\\ \" \n).
std::string unescape(std::string_view s, bool quote) {
  std::string r;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n') throw std::runtime_error("raw newline");
    if (s[i] == '"' && quote) throw std::runtime_error("raw quote in a label value");
    if (s[i] != '\\') {
      r += s[i];
      continue;
    }
    if (++i == s.size()) throw std::runtime_error("dangling backslash");
    if (s[i] == '\\') r += '\\';
    else if (s[i] == 'n') r += '\n';
    else if (s[i] == '"' && quote) r += '"';
    else throw std::runtime_error(std::string("bad escape \\") + s[i]);
  }
  return r;
}

// Throws std::runtime_error on anything the format does not allow.
parsed parse(const std::string& text) {
  parsed p;
  if (!text.empty() && text.back() != '\n') throw std::runtime_error("last line has no newline");
  std::string current;  // the family whose lines we are in
  std::set<std::string> closed;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const bool help = line[2] == 'H';
      const std::size_t sp = line.find(' ', 7);
      const std::string name = line.substr(7, sp == std::string::npos ? std::string::npos : sp - 7);
      const std::string rest = sp == std::string::npos ? "" : line.substr(sp + 1);
      if (!is_metric_name(name)) throw std::runtime_error("bad family name " + name);
      if (name != current) {
        if (p.families.contains(name)) throw std::runtime_error("family split or repeated: " + name);
        if (!current.empty()) closed.insert(current);
        current = name;
        p.order.push_back(name);
        p.families[name];
      }
      parsed_family& f = p.families[name];
      if (!f.samples.empty()) throw std::runtime_error("HELP/TYPE after samples: " + name);
      if (help) {
        if (!f.help.empty() || !f.type.empty()) throw std::runtime_error("second HELP or HELP after TYPE: " + name);
        f.help = unescape(rest, false);
        if (f.help.empty()) throw std::runtime_error("empty HELP: " + name);
      } else {
        if (!f.type.empty()) throw std::runtime_error("second TYPE: " + name);
        if (rest != "counter" && rest != "gauge") throw std::runtime_error("type " + rest);
        f.type = rest;
      }
      continue;
    }
    if (line.empty() || line[0] == '#') throw std::runtime_error("unexpected line: " + line);
    parsed_sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (!is_metric_name(s.name)) throw std::runtime_error("bad sample name " + s.name);
    if (s.name != current) throw std::runtime_error("sample outside its family's group: " + s.name);
    if (i < line.size() && line[i] == '{') {
      ++i;
      for (;;) {
        const std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) throw std::runtime_error("label without =");
        const std::string lname = line.substr(i, eq - i);
        if (!is_label_name(lname)) throw std::runtime_error("bad label name " + lname);
        if (line.at(eq + 1) != '"') throw std::runtime_error("unquoted label value");
        std::size_t j = eq + 2;
        while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
        if (j >= line.size()) throw std::runtime_error("unterminated label value");
        s.labels.emplace_back(lname, unescape(std::string_view(line).substr(eq + 2, j - eq - 2), true));
        i = j + 1;
        if (line.at(i) == ',') {
          ++i;
          continue;
        }
        if (line.at(i) != '}') throw std::runtime_error("expected } in " + line);
        ++i;
        break;
      }
    }
    if (line.at(i) != ' ') throw std::runtime_error("expected one space before the value: " + line);
    s.value_text = line.substr(i + 1);
    s.value = parse_value(s.value_text);
    parsed_family& f = p.families[current];
    if (f.help.empty() || f.type.empty()) throw std::runtime_error("sample before HELP and TYPE: " + line);
    for (const auto& other : f.samples)
      if (other.labels == s.labels) throw std::runtime_error("duplicate series: " + line);
    f.samples.push_back(std::move(s));
  }
  return p;
}

// ---- an exportable snapshot of our own ---------------------------------------

struct fake_stats {
  double hits = 0;
  double size = 0;
  template <class F>
  void for_each_metric(F&& f) const {
    f(metric{"hits_total", metric_kind::counter, hits, "Hits."});
    f(metric{"size", metric_kind::gauge, size, "Entries now."});
  }
};
static_assert(hotshard::detail::exportable_stats<fake_stats>);
static_assert(hotshard::detail::exportable_stats<hotshard::striped_counter_stats>);
static_assert(hotshard::detail::exportable_stats<hotshard::per_thread_counter_stats>);
static_assert(hotshard::detail::exportable_stats<hotshard::write_buffer_stats>);
static_assert(hotshard::detail::exportable_stats<hotshard::bounded_queue_stats>);
static_assert(hotshard::detail::exportable_stats<hotshard::salted_counter_map_stats>);
static_assert(hotshard::detail::exportable_stats<hotshard::count_min_sketch_stats>);
static_assert(hotshard::detail::exportable_stats<hotshard::buffered_count_min_sketch_stats>);
static_assert(hotshard::detail::exportable_stats<hotshard::heavy_hitters_stats>);
static_assert(hotshard::detail::exportable_stats<hotshard::hot_key_detector_stats>);
static_assert(hotshard::detail::exportable_stats<hotshard::single_flight_stats>);
static_assert(hotshard::detail::exportable_stats<hotshard::coalescing_cache_stats>);

// Every metric a snapshot names: a lower_snake_case suffix, ending in _total
// exactly when it is a counter, named once, with help.
template <class S>
void expect_metric_conventions(const S& s) {
  std::set<std::string> seen;
  s.for_each_metric([&](const metric& m) {
    const std::string n(m.name);
    EXPECT_TRUE(made_of(n, letters.substr(0, 26), std::string(letters.substr(0, 26)) + std::string(digits) + "_")) << n;
    EXPECT_EQ(n.ends_with("_total"), m.kind == metric_kind::counter) << n;
    EXPECT_FALSE(m.help.empty()) << n;
    EXPECT_TRUE(seen.insert(n).second) << n << " named twice";
  });
}

// ---- format ------------------------------------------------------------------

// The reader above is what the tests trust: it must reject what the format forbids.
TEST(prometheus, the_test_reader_rejects_malformed_expositions) {
  const std::string ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 1\n";
  EXPECT_NO_THROW((void)parse(ok));
  for (const std::string& bad : {
           std::string("# HELP a_total A.\n# TYPE a_total counter\na_total 1"),               // no final newline
           ok + "# HELP b B.\n# TYPE b gauge\nb 2\na_total{x=\"2\"} 3\n",                // family split
           ok + "# HELP a_total A.\n",                                                      // HELP twice
           std::string("# TYPE a gauge\n# HELP a A.\na 1\n"),                               // TYPE before HELP
           std::string("# HELP a A.\n# TYPE a histogram\na 1\n"),                           // unknown type
           std::string("# HELP a A.\n# TYPE a gauge\na 1e+06\na 2\n"),                     // duplicate series
           std::string("# HELP a A.\n# TYPE a gauge\na{x=\"a\"b\"} 1\n"),                 // raw quote
           std::string("# HELP a A.\n# TYPE a gauge\na{1x=\"a\"} 1\n"),                   // label name
           std::string("# HELP a-b A.\n# TYPE a-b gauge\na-b 1\n"),                        // metric name
           std::string("# HELP a A.\n# TYPE a gauge\na nan\n"),                             // NaN misspelt
           std::string("a 1\n"),                                                             // no HELP/TYPE
       })
    EXPECT_THROW((void)parse(bad), std::runtime_error) << bad;
}

TEST(prometheus, values_are_written_exactly) {
  const auto f = &prometheus_text::format_value;
  EXPECT_EQ(f(0), "0");
  EXPECT_EQ(f(-0.0), "0");
  EXPECT_EQ(f(1), "1");
  EXPECT_EQ(f(-1), "-1");
  EXPECT_EQ(f(1e6), "1000000");  // not 1e+06
  EXPECT_EQ(f(123456789012), "123456789012");
  EXPECT_EQ(f(9007199254740992.0), "9007199254740992");  // 2^53
  EXPECT_EQ(f(9007199254740991.0), "9007199254740991");  // 2^53 - 1
  EXPECT_EQ(f(-9007199254740992.0), "-9007199254740992");
  EXPECT_EQ(f(0.5), "0.5");
  EXPECT_EQ(f(0.1), "0.1");  // shortest form that reads back as the same double
  EXPECT_EQ(f(2.5e-7), "2.5e-07");
  EXPECT_EQ(f(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(f(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(f(-std::numeric_limits<double>::infinity()), "-Inf");
  // Beyond int64: still a valid float that reads back exactly.
  EXPECT_EQ(std::strtod(f(1e20).c_str(), nullptr), 1e20);
  // Every written value reads back as the same double.
  for (double v : {0.1, 1.0 / 3, 12345.678, 1e-300, 1.7976931348623157e308, 4611686018427387904.0})
    EXPECT_EQ(std::strtod(f(v).c_str(), nullptr), v) << f(v);
}

TEST(prometheus, instances_of_one_primitive_share_help_and_type_once) {
  prometheus_text out;
  out.add("hotshard_cache", fake_stats{1, 10}, {{"shard", "0"}});
  out.add("hotshard_other", fake_stats{7, 70});
  out.add("hotshard_cache", fake_stats{2, 20}, {{"shard", "1"}});
  out.add("hotshard_cache", fake_stats{3, 30}, {{"shard", "2"}, {"region", "eu"}});
  const std::string text = out.str();
  const parsed p = parse(text);  // throws if a family is split or HELP/TYPE repeat
  EXPECT_EQ(p.order, (std::vector<std::string>{"hotshard_cache_hits_total", "hotshard_cache_size",
                                               "hotshard_other_hits_total", "hotshard_other_size"}));
  const parsed_family& hits = p.families.at("hotshard_cache_hits_total");
  EXPECT_EQ(hits.type, "counter");
  EXPECT_EQ(hits.help, "Hits.");
  ASSERT_EQ(hits.samples.size(), 3u);
  EXPECT_EQ(p.families.at("hotshard_cache_size").type, "gauge");
  EXPECT_EQ(p.sample("hotshard_cache_hits_total", {{"shard", "1"}}).value, 2);
  EXPECT_EQ(p.sample("hotshard_cache_size", {{"shard", "2"}, {"region", "eu"}}).value, 30);
  EXPECT_EQ(p.sample("hotshard_other_size").value, 70);
  // Counted directly too: one HELP and one TYPE line per family.
  std::size_t helps = 0, types = 0;
  for (std::size_t at = 0; (at = text.find("# HELP hotshard_cache_size ", at)) != std::string::npos; ++at) ++helps;
  for (std::size_t at = 0; (at = text.find("# TYPE hotshard_cache_size ", at)) != std::string::npos; ++at) ++types;
  EXPECT_EQ(helps, 1u);
  EXPECT_EQ(types, 1u);
  EXPECT_NE(text.find("hotshard_cache_size{shard=\"2\",region=\"eu\"} 30\n"), std::string::npos) << text;
}

TEST(prometheus, label_values_and_help_are_escaped_and_read_back) {
  const std::string nasty = "a\\b\"c\nd} ,x=\"y\" é";
  prometheus_text out;
  out.add("t", fake_stats{5, 6}, {{"instance", nasty}, {"plain", "likes"}});
  out.add_gauge("t_custom", 0.25, "Line one\nback\\slash \"quoted\"", {{"k", "\\"}});
  const std::string text = out.str();
  EXPECT_NE(text.find("t_hits_total{instance=\"a\\\\b\\\"c\\nd} ,x=\\\"y\\\" é\",plain=\"likes\"} 5\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# HELP t_custom Line one\\nback\\\\slash \"quoted\"\n"), std::string::npos) << text;
  const parsed p = parse(text);
  EXPECT_EQ(p.sample("t_hits_total", {{"instance", nasty}, {"plain", "likes"}}).value, 5);
  EXPECT_EQ(p.sample("t_custom", {{"k", "\\"}}).value_text, "0.25");
  EXPECT_EQ(p.families.at("t_custom").help, "Line one\nback\\slash \"quoted\"");
}

TEST(prometheus, bad_names_throw_naming_the_name_and_add_nothing) {
  prometheus_text out;
  out.add("ok", fake_stats{1, 1});
  const std::string before = out.str();
  const auto throws_naming = [&](auto&& call, const std::string& name) {
    try {
      call();
      ADD_FAILURE() << "no throw for " << name;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("\"" + name + "\""), std::string::npos) << e.what();
    }
    EXPECT_EQ(out.str(), before) << "a call that threw added something (" << name << ")";
  };
  for (const std::string bad : {"", "1abc", "a-b", "a b", "caf\xc3\xa9", "x{y}", "a.b"})
    throws_naming([&] { out.add(bad, fake_stats{}); }, bad);
  throws_naming([&] { out.add_counter("9lives_total", 1, "h"); }, "9lives_total");
  for (const std::string bad : {"", "1x", "__reserved", "a-b", "a:b", "x y"})
    throws_naming([&] { out.add("good", fake_stats{}, {{bad, "v"}}); }, bad);
  throws_naming([&] { out.add("good", fake_stats{}, {{"shard", "1"}, {"shard", "2"}}); }, "shard");
  // Same family and labels again: a duplicate series.
  throws_naming([&] { out.add("ok", fake_stats{}); }, "ok_hits_total");
  // One family, two kinds.
  throws_naming([&] { out.add_gauge("ok_hits_total", 1, "h", {{"x", "y"}}); }, "ok_hits_total");
  // Valid names are taken, including ':' in family names and leading '_'.
  EXPECT_NO_THROW(out.add("ns:sub_system", fake_stats{}, {{"_l1", ""}, {"L_2", "v"}}));
  EXPECT_NO_THROW(out.add("_x", fake_stats{}));
  EXPECT_NO_THROW((void)parse(out.str()));
}

TEST(prometheus, every_primitive_snapshot_follows_the_naming_convention) {
  expect_metric_conventions(fake_stats{});
  expect_metric_conventions(hotshard::striped_counter_stats{});
  expect_metric_conventions(hotshard::per_thread_counter_stats{});
  expect_metric_conventions(hotshard::write_buffer_stats{});
  expect_metric_conventions(hotshard::bounded_queue_stats{});
  expect_metric_conventions(hotshard::salted_counter_map_stats{});
  expect_metric_conventions(hotshard::count_min_sketch_stats{});
  expect_metric_conventions(hotshard::buffered_count_min_sketch_stats{});
  expect_metric_conventions(hotshard::heavy_hitters_stats{});
  expect_metric_conventions(hotshard::hot_key_detector_stats{});
  expect_metric_conventions(hotshard::single_flight_stats{});
  expect_metric_conventions(hotshard::coalescing_cache_stats{});
}

TEST(prometheus, write_buffer_stats_export_every_field) {
  hotshard::write_buffer_stats s;
  s.accepted = 1001;
  s.rejected = 1002;
  s.combined = 1003;
  s.applied = 1004;
  s.applied_writes = 1005;
  s.sink_failures = 1006;
  s.failed = 1007;
  s.max_depth = 1008;
  s.lag = 1009;
  s.max_lag_ns = 1'500'000;
  s.batch_calls = std::uint64_t{1} << 53;
  prometheus_text out;
  out.add("wb", s, {{"buffer", "likes"}});
  const parsed p = parse(out.str());
  const std::map<std::string, std::string> want{
      {"wb_accepted_total", "1001"},      {"wb_rejected_total", "1002"},       {"wb_combined_total", "1003"},
      {"wb_applied_total", "1004"},       {"wb_applied_writes_total", "1005"}, {"wb_sink_failures_total", "1006"},
      {"wb_failed_total", "1007"},        {"wb_max_depth", "1008"},            {"wb_lag", "1009"},
      {"wb_max_lag_seconds", "0.0015"},   {"wb_batch_calls_total", "9007199254740992"}};
  EXPECT_EQ(p.families.size(), want.size());  // every field, nothing else
  for (const auto& [name, value] : want)
    EXPECT_EQ(p.sample(name, {{"buffer", "likes"}}).value_text, value) << name;
}

TEST(prometheus, counters_stats_report_their_state) {
  hotshard::striped_counter<> striped({.max_cells = 4});
  striped.add(1'000'000);
  striped.add(-3);
  hotshard::per_thread_counter<> per_thread({.capacity = 8});
  per_thread.add(42);
  std::jthread([&] { per_thread.add(8); }).join();
  prometheus_text out;
  out.add("s", striped.stats()).add("p", per_thread.stats());
  const parsed p = parse(out.str());
  EXPECT_EQ(p.sample("s_value").value_text, "999997");
  EXPECT_EQ(p.sample("s_max_cells").value, 4);
  EXPECT_EQ(p.sample("s_cells_in_use").value, striped.cells_in_use());
  EXPECT_EQ(p.sample("p_value").value, 50);
  EXPECT_EQ(p.sample("p_slots_in_use").value, 1);   // this thread's; the other one exited
  EXPECT_EQ(p.sample("p_slots_claimed").value, 2);  // both slots were claimed at some point
  EXPECT_EQ(p.sample("p_capacity").value, 8);
}

// A metrics thread scrapes every primitive on main while 8 writer threads
// (more than this machine's cores) add to them. Every scrape parses; every
// number lies within what was added and never goes backwards; after the join
// the export is exact. Under TSan this proves stats() races with nothing.
TEST(prometheus, scraping_while_writers_run_is_race_free_and_exact_after_join) {
  constexpr unsigned writers = 8;
  const std::int64_t per_writer = 20'000 / static_cast<std::int64_t>(hotshard::test::sanitizer_scale);
  const std::int64_t total = per_writer * writers;
  hotshard::striped_counter<> striped;
  hotshard::per_thread_counter<> per_thread;
  std::atomic<std::int64_t> sunk{0};
  hotshard::write_buffer<std::uint64_t, std::int64_t> buffer(
      [&](const std::uint64_t&, const std::int64_t& d) {
        sunk.fetch_add(d, std::memory_order_relaxed);
        return true;
      },
      {.capacity = 256});
  std::atomic<bool> done{false};
  unsigned scrapes = 0;
  std::thread metrics([&] {
    std::map<std::string, double> last;
    auto scrape = [&] {
      prometheus_text out;
      out.add("hotshard_requests", striped.stats(), {{"counter", "striped"}})
          .add("hotshard_bytes", per_thread.stats())
          .add("hotshard_writes", buffer.stats());
      const parsed p = parse(out.str());
      ++scrapes;
      for (const char* name : {"hotshard_requests_value", "hotshard_bytes_value", "hotshard_writes_accepted_total",
                               "hotshard_writes_applied_writes_total"}) {
        const parsed_family& f = p.families.at(name);
        ASSERT_EQ(f.samples.size(), 1u);
        const double v = f.samples[0].value;
        EXPECT_GE(v, last[name]) << name << " went backwards";  // positive adds only
        EXPECT_LE(v, static_cast<double>(total)) << name;
        last[name] = v;
      }
    };
    while (!done.load(std::memory_order_acquire)) scrape();
    scrape();
  });
  hotshard::test::run_threads(writers, [&](unsigned t) {
    for (std::int64_t i = 0; i < per_writer; ++i) {
      striped.increment();
      per_thread.add(1);
      if (!buffer.write(t * 16 + static_cast<std::uint64_t>(i % 16), 1)) std::abort();
    }
  });
  buffer.flush();
  done.store(true, std::memory_order_release);  // pairs with the acquire in the scraper's loop
  metrics.join();
  EXPECT_GE(scrapes, 2u);
  prometheus_text out;
  out.add("hotshard_requests", striped.stats())
      .add("hotshard_bytes", per_thread.stats())
      .add("hotshard_writes", buffer.stats());
  const parsed p = parse(out.str());
  const std::string exact = std::to_string(total);
  EXPECT_EQ(p.sample("hotshard_requests_value").value_text, exact);
  EXPECT_EQ(p.sample("hotshard_bytes_value").value_text, exact);
  EXPECT_EQ(p.sample("hotshard_bytes_slots_in_use").value, 0);  // the writers exited
  // Each writer held a slot; a writer that finished before another began may hand its slot on.
  EXPECT_GE(p.sample("hotshard_bytes_slots_claimed").value, 1);
  EXPECT_LE(p.sample("hotshard_bytes_slots_claimed").value, writers);
  EXPECT_EQ(p.sample("hotshard_writes_accepted_total").value_text, exact);
  EXPECT_EQ(p.sample("hotshard_writes_applied_writes_total").value_text, exact);
  EXPECT_EQ(p.sample("hotshard_writes_lag").value, 0);
  EXPECT_EQ(p.sample("hotshard_writes_failed_total").value, 0);
  EXPECT_EQ(sunk.load(), total);
}

}  // namespace
