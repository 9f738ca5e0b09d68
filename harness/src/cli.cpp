// hotshard-bench's argument checking, run engine and progress reporting.
#include "cli.hpp"

#include <hotshard/detail/hash.hpp>
#include <hotshard/harness/pairing.hpp>
#include <hotshard/workloads/spec.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace hotshard::harness::cli {

namespace fs = std::filesystem;

namespace {
std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

std::string minutes(double s) {
  char buf[32];
  const auto t = static_cast<long>(std::max(0.0, s) + 0.5);
  std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}
}  // namespace

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= text.size()) {
    const auto comma = text.find(',', at);
    const auto end = comma == std::string::npos ? text.size() : comma;
    out.push_back(text.substr(at, end - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

std::vector<unsigned> parse_threads(const std::string& flag, const std::string& text) {
  std::vector<unsigned> out;
  for (const auto& item : split_list(text)) {
    unsigned v = 0;
    const auto res = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || res.ec != std::errc{} || res.ptr != item.data() + item.size() || v == 0 || v > 4096)
      throw usage_error(flag + ": '" + item + "' is not a thread count; accepted: integers 1..4096, comma-separated (e.g. 1,2,4)");
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

double parse_positive_seconds(const std::string& flag, const std::string& text) {
  double v = 0;
  const auto res = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || res.ec != std::errc{} || res.ptr != text.data() + text.size() || !std::isfinite(v) || v <= 0)
    throw usage_error(flag + ": '" + text + "' is not a duration; accepted: seconds > 0 (e.g. 0.5)");
  return v;
}

double parse_non_negative(const std::string& flag, const std::string& text) {
  double v = 0;
  const auto res = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || res.ec != std::errc{} || res.ptr != text.data() + text.size() || !std::isfinite(v) || v < 0)
    throw usage_error(flag + ": '" + text + "' is not accepted; accepted: a number >= 0");
  return v;
}

std::uint64_t parse_count(const std::string& flag, const std::string& text, std::uint64_t min) {
  std::uint64_t v = 0;
  const auto res = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || res.ec != std::errc{} || res.ptr != text.data() + text.size() || v < min)
    throw usage_error(flag + ": '" + text + "' is not accepted; accepted: an integer >= " + std::to_string(min));
  return v;
}

const scenario& resolve_scenario(const std::string& name) {
  if (const auto* s = find_scenario(name)) return *s;
  const auto& designed = designed_scenario_names();
  if (std::find(designed.begin(), designed.end(), name) != designed.end())
    throw usage_error("scenario '" + name + "' is not built into this binary; `hotshard-bench list` shows what is built");
  std::vector<std::string> names = designed;
  for (const auto& s : registered_scenarios())
    if (std::find(names.begin(), names.end(), s.name) == names.end()) names.push_back(s.name);
  throw usage_error("unknown scenario '" + name + "'; accepted: " + joined(names));
}

std::vector<std::string> resolve_impls(const scenario& s, const std::string& text) {
  std::vector<std::string> all;
  for (const auto& i : s.impls) all.push_back(i.name);
  if (text.empty() || text == "all") return all;
  std::vector<std::string> out;
  for (const auto& name : split_list(text)) {
    if (std::find(all.begin(), all.end(), name) == all.end())
      throw usage_error("--impl: '" + name + "' is not an implementation of " + s.name + "; accepted: " +
                        joined(all) + ", all");
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return out;
}

std::map<std::string, std::string> resolve_knobs(const scenario& s, const std::vector<std::string>& sets) {
  std::map<std::string, std::string> out;
  std::vector<std::string> accepted;
  for (const auto& k : s.knobs) accepted.push_back(k.name);
  for (const auto& kv : sets) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw usage_error("--set: '" + kv + "' is not KEY=VALUE");
    const std::string key = kv.substr(0, eq);
    if (std::find(accepted.begin(), accepted.end(), key) == accepted.end())
      throw usage_error("--set: '" + key + "' is not a knob of " + s.name + "; accepted: " +
                        (accepted.empty() ? std::string("none (this scenario has no knobs)") : joined(accepted)));
    const std::string value = kv.substr(eq + 1);
    std::find_if(s.knobs.begin(), s.knobs.end(), [&](const knob_info& k) { return k.name == key; })->validate(value);
    out[key] = value;
  }
  return out;
}

std::string resolve_workload(const scenario& s, const std::string& text) {
  if (text.empty()) return s.default_workload.empty() ? std::string("none") : s.default_workload;
  try {
    return workloads::parse_spec(text).text;
  } catch (const workloads::spec_error& e) {
    throw usage_error(std::string("--workload: ") + e.what());
  }
}

progress::progress(bool quiet, std::size_t total_runs, double expected_seconds)
    : quiet_(quiet), total_(total_runs), expected_left_(expected_seconds), watcher_([this] { watch(); }) {}

progress::~progress() {
  {
    std::scoped_lock lock(mu_);
    finished_ = true;
  }
  cv_.notify_all();
  watcher_.join();
}

void progress::on_hang(std::function<void(const std::string&)> f) {
  std::scoped_lock lock(mu_);
  on_hang_ = std::move(f);
}

void progress::watch() {
  std::unique_lock lock(mu_);
  while (!finished_) {
    if (deadline_ == clock::time_point::max()) {
      cv_.wait(lock);
      continue;
    }
    if (cv_.wait_until(lock, deadline_) == std::cv_status::timeout && !finished_ && clock::now() >= deadline_) {
      const std::string what = current_;
      auto handler = on_hang_;
      lock.unlock();
      std::fprintf(stderr, "hotshard-bench: %s did not finish in time: it looks hung; giving up\n", what.c_str());
      if (handler) handler(what);
      std::fflush(nullptr);
      std::_Exit(1);  // the hung threads cannot be joined
    }
  }
}

void progress::begin(const std::string& what, double expected_seconds_of_this_run) {
  double limit = std::max(120.0, 20.0 * expected_seconds_of_this_run);
  if (const char* env = std::getenv("HOTSHARD_RUN_TIMEOUT")) {
    const double v = std::atof(env);
    if (v > 0) limit = v;
  }
  {
    std::scoped_lock lock(mu_);
    current_ = what;
    deadline_ = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(limit));
  }
  cv_.notify_all();
  if (quiet_) return;
  const double elapsed = std::chrono::duration<double>(clock::now() - started_).count();
  // Scale the plan by how long the finished runs really took against their plan.
  const double pace = expected_done_ > 0 ? elapsed / expected_done_ : 1.0;
  std::fprintf(stderr, "[%zu/%zu] %s  (elapsed %s, ~%s left)\n", done_ + 1, total_, what.c_str(),
               minutes(elapsed).c_str(), minutes(expected_left_ * pace).c_str());
}

void progress::end(double expected_seconds_of_this_run) {
  {
    std::scoped_lock lock(mu_);
    deadline_ = clock::time_point::max();
  }
  ++done_;
  expected_done_ += expected_seconds_of_this_run;
  expected_left_ = std::max(0.0, expected_left_ - expected_seconds_of_this_run);
}

void progress::note(const std::string& line) const {
  if (!quiet_) std::fprintf(stderr, "%s\n", line.c_str());
}

double expected_run_seconds(const run_options& o) {
  if (o.ops > 0) return 0.5;
  return o.duration_seconds + std::min(0.5, 0.1 * o.duration_seconds) + 0.02;
}

void execute(const scenario& s, const std::vector<std::string>& impls, const run_options& o, progress& p,
             std::vector<result_record>& sink, std::mutex& sink_mu) {
  const std::string workload = o.workload.empty() ? resolve_workload(s, "") : o.workload;
  const double expected = expected_run_seconds(o);
  // Paired: repetition k of every implementation before k + 1 (pairing.hpp).
  for (const run_slot& slot : paired_order(impls.size(), o.threads.size(), o.repetitions, o.seed)) {
    const std::string& impl = impls[slot.impl];
    const unsigned threads = o.threads[slot.threads];
    const unsigned rep = slot.repetition;
    run_request req{o, s.name, impl, threads, rep, workload,
                    o.seed + rep * 0x9e3779b97f4a7c15ULL,  // repetition 0 uses --seed itself
                    &s};
    p.begin(s.name + " impl=" + impl + " threads=" + std::to_string(threads) + " rep " + std::to_string(rep + 1) +
                "/" + std::to_string(o.repetitions) + " workload=" + workload +
                (o.knobs.empty() ? "" : " [" + knobs_text(o.knobs) + "]"),
            expected);
    result_record rec = s.run(req);
    p.end(expected);
    rec.scenario = s.name;
    rec.impl = impl;
    rec.threads = threads;
    rec.repetition = rep;
    if (rec.workload.empty()) rec.workload = workload;
    rec.knobs = o.knobs;
    std::scoped_lock lock(sink_mu);
    sink.push_back(std::move(rec));
  }
}

std::vector<result_record> calibration_near(const std::vector<std::string>& dirs) {
  std::vector<result_record> best;
  std::string best_started;
  for (const auto& d : dirs) {
    std::error_code ec;
    if (!fs::is_directory(d, ec)) continue;
    std::size_t seen = 0;
    for (const auto& entry : fs::directory_iterator(d, ec)) {
      if (++seen > 200) break;  // a results dir, not a file system crawl
      if (entry.path().extension() != ".json") continue;
      try {
        auto doc = read_results_file(entry.path().string());
        std::vector<result_record> cal;
        for (auto& r : doc.results)
          if (r.scenario == "calibrate") cal.push_back(std::move(r));
        if (!cal.empty() && doc.started > best_started) {
          best = std::move(cal);
          best_started = doc.started;
        }
      } catch (const std::exception&) {
        // Not a results file: ignore.
      }
    }
  }
  return best;
}

std::string limit_of(const std::string& scenario_name) {
  const auto* s = find_scenario(scenario_name);
  return s ? s->limit : std::string{};
}

results_document new_document(const invocation& inv, nlohmann::json config) {
  results_document d;
  d.tool = this_tool();
  d.machine = this_machine(inv.allocator);
  d.started = utc_now_iso8601();
  config["command_line"] = inv.command_line;
  d.config = std::move(config);
  return d;
}

}  // namespace hotshard::harness::cli
