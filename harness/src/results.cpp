// hotshard.results/1: JSON in and out, grouping into summary rows, file output.
#include <hotshard/harness/results.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

namespace hotshard::harness {

namespace fs = std::filesystem;

std::string knobs_text(const std::map<std::string, std::string>& knobs) {
  std::string out;
  for (const auto& [k, v] : knobs) {
    if (!out.empty()) out += ',';
    out += k + '=' + v;
  }
  return out;
}

nlohmann::json to_json(const result_record& r) {
  nlohmann::json j = {{"scenario", r.scenario},
                      {"impl", r.impl},
                      {"threads", r.threads},
                      {"workload", r.workload},
                      {"repetition", r.repetition},
                      {"ops", r.ops},
                      {"seconds", r.seconds},
                      {"ops_per_sec", r.ops_per_sec},
                      {"latency_ns",
                       {{"p50", r.latency.p50},
                        {"p90", r.latency.p90},
                        {"p99", r.latency.p99},
                        {"p999", r.latency.p999},
                        {"max", r.latency.max},
                        {"samples", r.latency.samples},
                        {"mean_gap", r.latency.mean_gap},
                        {"timer_cost_ns", r.latency.timer_cost_ns},
                        {"timer_resolution_ns", r.latency.timer_resolution_ns},
                        {"mean_ns", r.latency.mean_ns},
                        {"below_timer", r.latency.below_timer}}},
                      {"metrics", r.metrics.is_null() ? nlohmann::json::object() : r.metrics}};
  if (!r.knobs.empty()) j["knobs"] = r.knobs;
  return j;
}

nlohmann::json to_json(const results_document& d) {
  nlohmann::json results = nlohmann::json::array();
  for (const auto& r : d.results) results.push_back(to_json(r));
  nlohmann::json j = {
      {"schema", results_schema},
      {"tool", {{"name", d.tool.name}, {"version", d.tool.version}, {"git", d.tool.git}, {"build", d.tool.build}}},
      {"machine",
       {{"cpu", d.machine.cpu},
        {"cores", d.machine.cores},
        {"os", d.machine.os},
        {"compiler", d.machine.compiler},
        {"allocator", d.machine.allocator}}},
      {"started", d.started},
      {"config", d.config},
      {"results", std::move(results)}};
  if (!d.errors.empty()) j["errors"] = d.errors;
  if (!d.scenarios.empty()) j["scenarios"] = d.scenarios;
  return j;
}

namespace {
template <class T>
T field(const nlohmann::json& j, const char* name, const std::string& where) {
  if (!j.is_object() || !j.contains(name)) throw usage_error(where + ": field '" + name + "' is missing");
  try {
    return j.at(name).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw usage_error(where + ": field '" + name + "' has the wrong type");
  }
}
}  // namespace

result_record record_from_json(const nlohmann::json& j) {
  const std::string where = "result record";
  result_record r;
  r.scenario = field<std::string>(j, "scenario", where);
  r.impl = field<std::string>(j, "impl", where);
  r.threads = field<unsigned>(j, "threads", where);
  r.workload = field<std::string>(j, "workload", where);
  r.repetition = field<unsigned>(j, "repetition", where);
  r.ops = field<std::uint64_t>(j, "ops", where);
  r.seconds = field<double>(j, "seconds", where);
  r.ops_per_sec = field<double>(j, "ops_per_sec", where);
  const auto lat = field<nlohmann::json>(j, "latency_ns", where);
  r.latency.p50 = field<std::uint64_t>(lat, "p50", "latency_ns");
  r.latency.p90 = field<std::uint64_t>(lat, "p90", "latency_ns");
  r.latency.p99 = field<std::uint64_t>(lat, "p99", "latency_ns");
  r.latency.p999 = field<std::uint64_t>(lat, "p999", "latency_ns");
  r.latency.max = field<std::uint64_t>(lat, "max", "latency_ns");
  // Added after the first files were written: optional.
  r.latency.samples = lat.value("samples", std::uint64_t{0});
  r.latency.mean_gap = lat.value("mean_gap", 0.0);
  r.latency.timer_cost_ns = lat.value("timer_cost_ns", 0.0);
  r.latency.timer_resolution_ns = lat.value("timer_resolution_ns", 0.0);
  r.latency.mean_ns = lat.value("mean_ns", 0.0);
  r.latency.below_timer = lat.value("below_timer", false);
  r.metrics = j.value("metrics", nlohmann::json::object());
  if (j.contains("knobs")) r.knobs = j.at("knobs").get<std::map<std::string, std::string>>();
  return r;
}

results_document document_from_json(const nlohmann::json& j) {
  const std::string where = "results file";
  const auto schema = field<std::string>(j, "schema", where);
  if (schema != results_schema)
    throw usage_error("results file: schema '" + schema + "' is not " + results_schema);
  results_document d;
  const auto tool = field<nlohmann::json>(j, "tool", where);
  d.tool.name = field<std::string>(tool, "name", "tool");
  d.tool.version = field<std::string>(tool, "version", "tool");
  d.tool.git = field<std::string>(tool, "git", "tool");
  d.tool.build = tool.value("build", "");
  const auto m = field<nlohmann::json>(j, "machine", where);
  d.machine.cpu = field<std::string>(m, "cpu", "machine");
  d.machine.cores = field<unsigned>(m, "cores", "machine");
  d.machine.os = field<std::string>(m, "os", "machine");
  d.machine.compiler = field<std::string>(m, "compiler", "machine");
  d.machine.allocator = field<std::string>(m, "allocator", "machine");
  d.started = field<std::string>(j, "started", where);
  d.config = field<nlohmann::json>(j, "config", where);
  for (const auto& r : field<nlohmann::json>(j, "results", where)) d.results.push_back(record_from_json(r));
  if (j.contains("errors")) d.errors = j.at("errors");
  if (j.contains("scenarios")) d.scenarios = j.at("scenarios");
  return d;
}

results_document read_results_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw usage_error("'" + path + "' cannot be read");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    throw usage_error("'" + path + "' is not valid JSON: " + e.what());
  }
  try {
    return document_from_json(j);
  } catch (const usage_error& e) {
    throw usage_error("'" + path + "': " + e.what());
  }
}

namespace {
double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
std::uint64_t median_u64(std::vector<std::uint64_t> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[(v.size() - 1) / 2];
}

// A calibrate record bounds other runs only where its threads each had a
// core: above the core count it measures the scheduler, not the machine.
bool within_cores(const result_record& r) {
  if (!r.metrics.is_object() || !r.metrics.contains("cores") || !r.metrics.at("cores").is_number()) return true;
  return r.threads <= r.metrics.at("cores").get<unsigned>();
}

// Median ops_per_sec of calibrate/<impl> per thread count.
std::map<unsigned, double> limits_for(const std::string& impl, const std::vector<result_record>& own,
                                      const std::vector<result_record>& external) {
  std::map<unsigned, std::vector<double>> by_threads;
  for (const auto* src : {&own, &external}) {
    if (!by_threads.empty()) break;  // the run's own calibration wins
    for (const auto& r : *src)
      if (r.scenario == "calibrate" && r.impl == impl && within_cores(r))
        by_threads[r.threads].push_back(r.ops_per_sec);
  }
  std::map<unsigned, double> out;
  for (auto& [t, v] : by_threads) out[t] = median_of(v);
  return out;
}

// Only a limit measured at this very thread count: a 4-thread limit says
// nothing about 16 threads.
std::optional<double> limit_at(const std::map<unsigned, double>& limits, unsigned threads) {
  const auto it = limits.find(threads);
  if (it == limits.end()) return std::nullopt;
  return it->second;
}

// Each number in the repetitions' metrics: its median over the repetitions
// that have it (integers stay integers); anything else from repetition 0.
nlohmann::json median_metrics(const std::vector<const result_record*>& recs) {
  const nlohmann::json& first = recs.front()->metrics;
  if (!first.is_object()) return first;
  nlohmann::json out = first;
  for (auto& [k, v] : out.items()) {
    if (!v.is_number()) continue;
    std::vector<double> xs;
    bool integral = true;
    for (const auto* r : recs) {
      if (!r->metrics.is_object() || !r->metrics.contains(k) || !r->metrics.at(k).is_number()) continue;
      const auto& x = r->metrics.at(k);
      integral = integral && x.is_number_integer();
      xs.push_back(x.get<double>());
    }
    if (xs.size() < 2) continue;
    std::sort(xs.begin(), xs.end());
    if (integral) {
      const double m = xs[(xs.size() - 1) / 2];  // lower median: an observed value
      v = v.is_number_unsigned() ? nlohmann::json(static_cast<std::uint64_t>(m))
                                 : nlohmann::json(static_cast<std::int64_t>(m));
    } else {
      v = median_of(xs);
    }
  }
  return out;
}
}  // namespace

std::vector<summary_row> summarize(const std::vector<result_record>& records, const limit_lookup& limit_of,
                                   const std::vector<result_record>& calibration) {
  using key = std::tuple<std::string, std::string, std::string, unsigned, std::string>;  // scenario, workload, knobs, threads, impl
  std::map<key, std::vector<const result_record*>> groups;
  std::vector<key> order;
  for (const auto& r : records) {
    key k{r.scenario, r.workload, knobs_text(r.knobs), r.threads, r.impl};
    auto [it, fresh] = groups.try_emplace(k);
    if (fresh) order.push_back(k);
    it->second.push_back(&r);
  }
  std::map<std::string, std::map<unsigned, double>> limit_cache;
  std::vector<summary_row> rows;
  for (const auto& k : order) {
    auto recs = groups[k];
    std::stable_sort(recs.begin(), recs.end(),
                     [](const result_record* a, const result_record* b) { return a->repetition < b->repetition; });
    summary_row row;
    std::tie(row.scenario, row.workload, row.knobs, row.threads, row.impl) = k;
    std::vector<std::uint64_t> p50, p90, p99, p999, mx;
    std::vector<double> timer_cost, timer_res, mean_ns, gap;
    for (const auto* r : recs) {
      timer_cost.push_back(r->latency.timer_cost_ns);
      timer_res.push_back(r->latency.timer_resolution_ns);
      mean_ns.push_back(r->latency.mean_ns);
      gap.push_back(r->latency.mean_gap);
      row.ops_per_sec.push_back(r->ops_per_sec);
      p50.push_back(r->latency.p50);
      p90.push_back(r->latency.p90);
      p99.push_back(r->latency.p99);
      p999.push_back(r->latency.p999);
      mx.push_back(r->latency.max);
    }
    row.median = median_of(row.ops_per_sec);
    row.min = *std::min_element(row.ops_per_sec.begin(), row.ops_per_sec.end());
    row.max = *std::max_element(row.ops_per_sec.begin(), row.ops_per_sec.end());
    row.latency = {median_u64(p50), median_u64(p90), median_u64(p99), median_u64(p999), median_u64(mx)};
    row.latency.timer_cost_ns = median_of(timer_cost);
    row.latency.timer_resolution_ns = median_of(timer_res);
    row.latency.mean_ns = median_of(mean_ns);
    row.latency.mean_gap = median_of(gap);
    row.latency.below_timer = row.latency.mean_ns > 0 && row.latency.timer_cost_ns > 0 &&
                              row.latency.mean_ns < below_timer_factor * row.latency.timer_cost_ns;
    row.metrics = median_metrics(recs);
    row.limit = row.scenario == "calibrate" || !limit_of ? std::string{} : limit_of(row.scenario);
    if (!row.limit.empty()) {
      auto [it, fresh] = limit_cache.try_emplace(row.limit);
      if (fresh) it->second = limits_for(row.limit, records, calibration);
      if (const auto lim = limit_at(it->second, row.threads); lim && *lim > 0)
        row.percent_of_limit = 100.0 * row.median / *lim;
    }
    rows.push_back(std::move(row));
  }
  // Ratio to the best contender among rows that differ only by impl.
  std::map<std::tuple<std::string, std::string, std::string, unsigned>, double> best;
  for (const auto& r : rows) {
    auto& b = best[{r.scenario, r.workload, r.knobs, r.threads}];
    b = std::max(b, r.median);
  }
  for (auto& r : rows) {
    const double b = best[{r.scenario, r.workload, r.knobs, r.threads}];
    r.ratio_to_best = b > 0 ? r.median / b : 0;
  }
  return rows;
}

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw run_failure("cannot open '" + tmp + "' for writing");
    out << text;
    out.flush();
    if (!out) throw run_failure("cannot write '" + tmp + "'");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw run_failure("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
}

void check_writable(const std::string& flag, const std::string& path) {
  if (path.empty()) throw usage_error(flag + ": the path is empty");
  const fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) throw usage_error(flag + " " + path + ": is a directory, not a file");
  fs::path dir = p.parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec))
    throw usage_error(flag + " " + path + ": directory '" + dir.string() + "' does not exist");
  // The report is written next to the target and renamed, so the directory must be writable.
  if (::access(dir.c_str(), W_OK) != 0)
    throw usage_error(flag + " " + path + ": directory '" + dir.string() + "' is not writable");
  if (fs::exists(p, ec) && ::access(p.c_str(), W_OK) != 0)
    throw usage_error(flag + " " + path + ": the file exists and is not writable");
}

}  // namespace hotshard::harness
