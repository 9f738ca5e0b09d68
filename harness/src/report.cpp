// Human-facing reports made from summary rows: CSV, Markdown, the stdout
// table of `run`, and `compare`.
#include <hotshard/harness/results.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <vector>

namespace hotshard::harness {

namespace {
std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// 12.3M, 456k, 7.89: throughput readable at a glance.
std::string human(double v) {
  const double a = std::fabs(v);
  if (a >= 1e9) return fmt("%.2fG", v / 1e9);
  if (a >= 1e6) return fmt("%.2fM", v / 1e6);
  if (a >= 1e3) return fmt("%.1fk", v / 1e3);
  return fmt("%.2f", v);
}

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + '"';
}

// The scenario's declared metrics (scenario::metrics), or none when the
// scenario is not built into this binary (e.g. reading an older file).
const std::vector<metric_info>& declared_metrics(const std::string& scenario) {
  static const std::vector<metric_info> none;
  const auto* s = find_scenario(scenario);
  return s ? s->metrics : none;
}

std::string metric_text(const std::string& k, const nlohmann::json& v) {
  if (v.is_number_float()) return k + "=" + fmt("%.4g", v.get<double>());
  if (v.is_string()) return k + "=" + v.get<std::string>();
  return k + "=" + v.dump();
}

// Scalar scenario metrics worth a glance in a table: the format's named ones
// first, then others (arrays and objects go to JSON only).
std::string key_metrics(const std::string& scenario, const nlohmann::json& m, std::size_t limit = 8) {
  if (!m.is_object()) return {};
  std::vector<std::string> parts;
  std::set<std::string> used;
  const auto scalar = [](const nlohmann::json& v) { return v.is_number() || v.is_boolean() || v.is_string(); };
  for (const auto& d : declared_metrics(scenario)) {
    if (!m.contains(d.name) || !scalar(m.at(d.name))) continue;
    const auto& v = m.at(d.name);
    const bool broken = d.must_be_zero && ((v.is_number() && v.get<double>() != 0) || (v.is_boolean() && v.get<bool>()));
    if (!d.key && !broken) continue;
    parts.push_back(metric_text(d.name, v) + (broken ? " (must be 0!)" : ""));
    used.insert(d.name);
  }
  std::size_t skipped = 0;
  for (const auto& [k, v] : m.items()) {
    if (used.count(k) || !scalar(v)) continue;
    if ((k == "spins_per_op" || k == "waits_per_op" || k == "cas_failures_per_op") && v.is_number() &&
        v.get<double>() == 0)
      continue;
    if (k == "harness_ns_per_op" || k == "net_ns_per_op") continue;  // in the timer cell where it matters
    if (parts.size() < limit)
      parts.push_back(metric_text(k, v));
    else
      ++skipped;
  }
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ", ";
    out += p;
  }
  if (skipped) out += ", … (" + std::to_string(skipped) + " more in JSON)";
  return out;
}

std::string limit_cell(const summary_row& r) {
  return r.percent_of_limit ? fmt("%.1f%%", *r.percent_of_limit) : std::string("–");
}

// A percentile, or "< timer" where the op is cheaper than a few clock reads
// (the percentile would be the clock's own cost).
std::string latency_cell(const summary_row& r, std::uint64_t v) {
  if (r.latency.below_timer) return "< timer";
  return std::to_string(v);
}

double metric_or(const summary_row& r, const char* k, double otherwise) {
  if (!r.metrics.is_object() || !r.metrics.contains(k) || !r.metrics.at(k).is_number()) return otherwise;
  return r.metrics.at(k).get<double>();
}

std::string timer_cell(const summary_row& r) {
  if (r.latency.timer_cost_ns <= 0) return "–";
  std::string out = fmt("%.1f", r.latency.timer_cost_ns) + " / " + fmt("%.0f", r.latency.timer_resolution_ns);
  if (r.latency.below_timer) {
    out += "; op mean " + fmt("%.3g", r.latency.mean_ns) + " ns (throughput)";
    // Where the harness's loop is a visible share of the op, its net cost beside it.
    const double harness = metric_or(r, "harness_ns_per_op", -1);
    if (harness >= 0 && harness >= 0.01 * r.latency.mean_ns)
      out += ", net of harness " + fmt("%.3g", metric_or(r, "net_ns_per_op", 0)) + " ns";
  }
  return out;
}

// What each calibrate limit measures and which operations it bounds.
const char* limit_explanation(const std::string& limit) {
  if (limit == "private_increment")
    return "each thread increments a counter on its own cache line (a load and a store, no atomic RMW): no "
           "operation that writes at least one line per op can go faster, so it bounds every counter add";
  if (limit == "contended_rmw")
    return "every thread fetch_adds one shared cache line: the rate of an operation that must perform one atomic "
           "RMW on a line every thread writes";
  if (limit == "line_round_trip") return "pairs of threads bounce one cache line: one transfer there and back";
  return "a calibrate figure";
}
}  // namespace

std::string to_csv(const std::vector<summary_row>& rows) {
  std::ostringstream out;
  out << "scenario,impl,threads,workload,knobs,repetitions,median_ops_per_sec,min_ops_per_sec,max_ops_per_sec,"
         "ratio_to_best,limit,percent_of_limit,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,ops_per_sec_per_repetition,"
         "timer_cost_ns,timer_resolution_ns,mean_ns,below_timer\n";
  for (const auto& r : rows) {
    std::string reps;
    for (double v : r.ops_per_sec) {
      if (!reps.empty()) reps += ';';
      reps += fmt("%.6g", v);
    }
    out << csv_quote(r.scenario) << ',' << csv_quote(r.impl) << ',' << r.threads << ',' << csv_quote(r.workload)
        << ',' << csv_quote(r.knobs) << ',' << r.ops_per_sec.size() << ',' << fmt("%.6g", r.median) << ','
        << fmt("%.6g", r.min) << ',' << fmt("%.6g", r.max) << ',' << fmt("%.4f", r.ratio_to_best) << ','
        << r.limit << ',' << (r.percent_of_limit ? fmt("%.3f", *r.percent_of_limit) : std::string{}) << ','
        << r.latency.p50 << ',' << r.latency.p90 << ',' << r.latency.p99 << ',' << r.latency.p999 << ','
        << r.latency.max << ',' << reps << ',' << fmt("%.3f", r.latency.timer_cost_ns) << ','
        << fmt("%.0f", r.latency.timer_resolution_ns) << ',' << fmt("%.4g", r.latency.mean_ns) << ','
        << (r.latency.below_timer ? "true" : "false") << '\n';
  }
  return out.str();
}

std::string to_text_table(const std::vector<summary_row>& rows) {
  const auto label = [](const summary_row& r) { return r.knobs.empty() ? r.impl : r.impl + " [" + r.knobs + "]"; };
  int impl_w = 24;
  for (const auto& r : rows) impl_w = std::max(impl_w, static_cast<int>(label(r).size()));
  std::ostringstream out;
  char line[1024];
  std::snprintf(line, sizeof line, "%-14s %-*s %7s %10s %10s %10s %7s %8s %8s %9s  %s\n", "scenario", impl_w, "impl",
                "threads", "median/s", "min/s", "max/s", "x best", "% limit", "p50 ns", "p99 ns", "workload");
  out << line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line, "%-14s %-*s %7u %10s %10s %10s %7.2f %8s %8s %9s  %s\n",
                  r.scenario.c_str(), impl_w, label(r).c_str(), r.threads, human(r.median).c_str(),
                  human(r.min).c_str(), human(r.max).c_str(), r.ratio_to_best, limit_cell(r).c_str(),
                  latency_cell(r, r.latency.p50).c_str(), latency_cell(r, r.latency.p99).c_str(), r.workload.c_str());
    out << line;
  }
  return out.str();
}

namespace {
bool synthetic(const std::string& scenario) { return scenario == "calibrate" || scenario == "fidelity"; }

void calibrate_section(std::ostringstream& out, const std::vector<summary_row>& rows) {
  std::vector<const summary_row*> cal;
  for (const auto& r : rows)
    if (r.scenario == "calibrate") cal.push_back(&r);
  if (cal.empty()) return;
  out << "## Machine limits (calibrate)\n\n"
      << "| impl | threads | median ops/s | min | max | ns per op | sampled p50 ns | timer cost / resolution ns |\n"
      << "|---|---:|---:|---:|---:|---:|---:|---|\n";
  const summary_row* null1 = nullptr;
  const summary_row* inc1 = nullptr;
  for (const auto* r : cal) {
    // Per thread, except a round trip, which is per pair of threads.
    const bool trip = r->impl == "line_round_trip";
    const double units = trip ? std::max(1.0, static_cast<double>(r->threads / 2)) : static_cast<double>(r->threads);
    const double ns = r->median > 0 ? 1e9 * units / r->median : 0;
    out << "| " << r->impl << " | " << r->threads << " | " << human(r->median) << " | " << human(r->min) << " | "
        << human(r->max) << " | " << fmt("%.2f", ns) << (trip ? " per round trip" : "") << " | "
        << latency_cell(*r, r->latency.p50) << " | " << timer_cell(*r) << " |\n";
    if (r->threads == 1 && r->impl == "null") null1 = r;
    if (r->threads == 1 && r->impl == "private_increment") inc1 = r;
  }
  out << "\n`timer` is the clock every latency is read with: one op = one read. Latency percentiles include about "
         "one timer cost; an op whose mean (from throughput) is under "
      << fmt("%.0f", below_timer_factor)
      << " timer costs shows `< timer` instead of percentiles that would be the clock's own cost.\n";
  if (null1 && inc1 && null1->median > 0 && inc1->median > 0) {
    const double null_ns = 1e9 / null1->median, inc_ns = 1e9 / inc1->median;
    out << "\nHarness cost per op (`null`, 1 thread): " << fmt("%.3f", null_ns) << " ns = "
        << fmt("%.1f", 100.0 * null_ns / inc_ns) << "% of a private increment (" << fmt("%.3f", inc_ns)
        << " ns, which includes it). Method: **subtracted**. Every closed-loop run times batches of empty ops "
           "through its own untimed loop (`harness_ns_per_op`, best of 5 batches of 65 536) and reports the op's "
           "mean net of it (`net_ns_per_op`, shown as `net of harness` beside `< timer` means). Throughput columns "
           "stay gross (they include the loop). The subtraction assumes the two costs add: where the core overlaps "
           "the loop with the op, the net figure is a lower bound of the op's own cost.";
    const double null_net = metric_or(*null1, "net_ns_per_op", -1);
    if (null_net >= 0) out << " Check: `null` net of harness = " << fmt("%.3f", null_net) << " ns (ideally 0).";
    out << '\n';
    // The issue's goal: harness cost <= 10% of the cheapest operation the suite measured.
    const summary_row* cheapest = nullptr;
    for (const auto& r : rows)
      if (!synthetic(r.scenario) && r.threads == 1 && r.median > 0 && (!cheapest || r.median > cheapest->median))
        cheapest = &r;
    if (cheapest) {
      const double op_ns = 1e9 / cheapest->median;
      const double harness = metric_or(*cheapest, "harness_ns_per_op", null_ns);
      out << "Cheapest operation measured (1 thread): " << cheapest->scenario << "/" << cheapest->impl << " at "
          << fmt("%.3f", op_ns) << " ns gross; the harness's loop is " << fmt("%.1f", 100.0 * harness / op_ns)
          << "% of it (goal <= 10%)";
      if (cheapest->metrics.is_object() && cheapest->metrics.contains("net_ns_per_op")) {
        out << ", so its net cost is " << fmt("%.3f", metric_or(*cheapest, "net_ns_per_op", 0))
            << " ns: subtracted, what remains of the harness there is the subtraction's error";
        if (null_net >= 0) out << " (about `null`'s net, " << fmt("%.1f", 100.0 * null_net / op_ns) << "% of it)";
      }
      out << ".\n";
    }
  }
  out << "\nLimits (the `% limit` column): shown only where the scenario declares that the limit bounds its "
         "operation, and only at a thread count calibrate measured (never above the core count, never borrowed "
         "from another thread count).\n";
  std::set<std::string> limits;
  for (const auto& r : rows)
    if (!r.limit.empty()) limits.insert(r.limit);
  for (const auto& l : limits) out << "- `" << l << "`: " << limit_explanation(l) << ".\n";
  out << '\n';
}

// The fidelity self-check: every check of every repetition, and the verdict
// on the median over repetitions.
void fidelity_section(std::ostringstream& out, const results_document& d) {
  struct check {
    std::string what, unit;
    double expected = 0, tolerance = 0;
    std::vector<double> measured;
    unsigned passed = 0;
  };
  std::vector<std::pair<std::string, check>> checks;  // (impl/name, check), in first-seen order
  for (const auto& r : d.results) {
    if (r.scenario != "fidelity" || !r.metrics.is_object() || !r.metrics.contains("checks")) continue;
    for (const auto& c : r.metrics.at("checks")) {
      const std::string key = r.impl + "/" + c.value("name", "?") + " @" + std::to_string(r.threads);
      auto it = std::find_if(checks.begin(), checks.end(), [&](const auto& p) { return p.first == key; });
      if (it == checks.end()) {
        checks.push_back({key, {}});
        it = std::prev(checks.end());
        it->second.what = c.value("what", "");
        it->second.unit = c.value("unit", "");
        it->second.expected = c.value("expected", 0.0);
        it->second.tolerance = c.value("tolerance", 0.0);
      }
      it->second.measured.push_back(c.value("measured", 0.0));
      it->second.passed += c.value("pass", false) ? 1u : 0u;
    }
  }
  if (checks.empty()) return;
  std::size_t failed = 0;
  std::ostringstream table;
  table << "| check | what | known | tolerance | measured (median) | reps passing | verdict |\n"
        << "|---|---|---:|---:|---:|---:|---|\n";
  for (auto& [key, c] : checks) {
    auto v = c.measured;
    std::sort(v.begin(), v.end());
    const double med = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    const bool pass = std::fabs(med - c.expected) <= c.tolerance * std::fabs(c.expected);
    failed += pass ? 0 : 1;
    table << "| " << key << " | " << c.what << " | " << fmt("%.4g", c.expected) << ' ' << c.unit << " | ±"
          << fmt("%.0f", 100 * c.tolerance) << "% | " << fmt("%.4g", med) << ' ' << c.unit << " | " << c.passed << "/"
          << c.measured.size() << " | " << (pass ? "pass" : "**FAIL**") << " |\n";
  }
  out << "## Fidelity self-check: " << (failed == 0 ? "PASS" : "FAIL (" + std::to_string(failed) + " checks)")
      << "\n\nSynthetic operations of known cost, measured by the same runner as everything below (scenario "
         "`fidelity`). If a check fails, the figures of this run are suspect (or the machine was too busy to "
         "measure).\n\n"
      << table.str() << '\n';
}
// Runs the suite's plan left out (config.excluded), each with its reason.
void excluded_section(std::ostringstream& out, const results_document& d) {
  if (!d.config.is_object() || !d.config.contains("excluded") || !d.config.at("excluded").is_array() ||
      d.config.at("excluded").empty())
    return;
  out << "## Left out of this run\n\n| scenario | impl | threads | knobs | reason |\n|---|---|---:|---|---|\n";
  for (const auto& x : d.config.at("excluded")) {
    std::string knobs;
    if (x.contains("knobs") && x.at("knobs").is_object())
      for (const auto& [k, v] : x.at("knobs").items())
        knobs += (knobs.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    out << "| " << x.value("scenario", "?") << " | " << x.value("impl", "?") << " | " << x.value("threads", 0u)
        << " | " << (knobs.empty() ? "–" : knobs) << " | " << x.value("reason", "?") << " |\n";
  }
  out << '\n';
}
}  // namespace

std::string to_markdown(const results_document& d, const std::vector<summary_row>& rows,
                        const std::string& command_line) {
  std::ostringstream out;
  out << "# hotshard results\n\n"
      << "- command: `" << command_line << "`\n"
      << "- started: " << d.started << "\n"
      << "- tool: " << d.tool.name << ' ' << d.tool.version << " (git " << d.tool.git << ", " << d.tool.build
      << " build)\n"
      << "- machine: " << d.machine.cpu << ", " << d.machine.cores << " cores, " << d.machine.os << "\n"
      << "- compiler: " << d.machine.compiler << "; allocator: " << d.machine.allocator << "\n\n"
      << "Throughput is the median of repetitions (min and max beside it); `x best` is the ratio to the best "
         "contender at the same threads and workload; `% limit` is the median as a fraction of the calibrate "
         "limit the scenario declares, measured at the same thread count (see the limits below). Repetitions "
         "are paired: repetition k of every implementation (in an order shuffled by the seed) runs before "
         "repetition k+1 of any, so rep k of two implementations ran seconds apart. Latency is sampled at "
         "random gaps (every op position equally likely to be timed; open loop: every op, from its intended "
         "start); percentiles, timer figures and metrics are medians over repetitions (each repetition is in "
         "results.json).\n\n";
  fidelity_section(out, d);
  calibrate_section(out, rows);
  std::vector<std::string> scenarios;
  for (const auto& r : rows)
    if (!synthetic(r.scenario) && std::find(scenarios.begin(), scenarios.end(), r.scenario) == scenarios.end())
      scenarios.push_back(r.scenario);
  for (const auto& s : scenarios) {
    out << "## " << s << "\n\n";
    std::string lim;
    for (const auto& r : rows)
      if (r.scenario == s && !r.limit.empty()) lim = r.limit;
    if (!lim.empty()) out << "Limit: calibrate `" << lim << "` (" << limit_explanation(lim) << ").\n\n";
    out << "| impl | threads | workload | median ops/s | min | max | x best | % limit | p50 ns | p99 ns | timer ns "
           "(cost / res) | metrics (median of reps) |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n";
    for (const auto& r : rows) {
      if (r.scenario != s) continue;
      const std::string impl = r.knobs.empty() ? r.impl : r.impl + " [" + r.knobs + "]";
      out << "| " << impl << " | " << r.threads << " | `" << r.workload << "` | " << human(r.median) << " | "
          << human(r.min) << " | " << human(r.max) << " | " << fmt("%.2f", r.ratio_to_best) << " | "
          << limit_cell(r) << " | " << latency_cell(r, r.latency.p50) << " | " << latency_cell(r, r.latency.p99)
          << " | " << timer_cell(r) << " | " << key_metrics(r.scenario, r.metrics) << " |\n";
    }
    out << '\n';
  }
  excluded_section(out, d);
  if (!d.errors.empty()) {
    out << "## Failures\n\n";
    for (const auto& e : d.errors)
      out << "- `" << e.value("scenario", "?") << "`: " << e.value("message", "?") << "\n";
    out << '\n';
  }
  return out.str();
}

std::vector<compare_row> compare(const results_document& old_doc, const results_document& new_doc) {
  const auto none = [](const std::string&) { return std::string{}; };
  const auto a = summarize(old_doc.results, none);
  const auto b = summarize(new_doc.results, none);
  using key = std::tuple<std::string, std::string, unsigned, std::string, std::string>;
  std::map<key, compare_row> rows;
  std::vector<key> order;
  const auto add = [&](const summary_row& r, bool is_new) {
    key k{r.scenario, r.impl, r.threads, r.workload, r.knobs};
    auto [it, fresh] = rows.try_emplace(k);
    if (fresh) {
      order.push_back(k);
      it->second = {r.scenario, r.impl, r.workload, r.knobs, r.threads, std::nullopt, std::nullopt};
    }
    (is_new ? it->second.new_median : it->second.old_median) = r.median;
  };
  for (const auto& r : a) add(r, false);
  for (const auto& r : b) add(r, true);
  std::vector<compare_row> out;
  for (const auto& k : order) out.push_back(rows[k]);
  return out;
}

std::string to_text(const std::vector<compare_row>& rows) {
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof line, "%-14s %-24s %7s %12s %12s %8s  %s\n", "scenario", "impl", "threads",
                "old median/s", "new median/s", "new/old", "workload");
  out << line;
  for (const auto& r : rows) {
    const std::string impl = r.knobs.empty() ? r.impl : r.impl + " [" + r.knobs + "]";
    const auto ratio = r.ratio();
    std::snprintf(line, sizeof line, "%-14s %-24s %7u %12s %12s %8s  %s\n", r.scenario.c_str(), impl.c_str(),
                  r.threads, r.old_median ? human(*r.old_median).c_str() : "(absent)",
                  r.new_median ? human(*r.new_median).c_str() : "(absent)",
                  ratio ? fmt("%.3f", *ratio).c_str() : "–", r.workload.c_str());
    out << line;
  }
  return out.str();
}

}  // namespace hotshard::harness
