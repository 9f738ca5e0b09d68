// `suite`: every registered scenario's plan (the fidelity self-check first,
// then calibrate), the real trace when ../shared/traces/web07.trace.xz is
// next to the source, optionally the reference drivers of other languages
// (--anchors: scripts/anchors.sh), then results.json, results.csv,
// summary.md and plots in one directory.
#include "cli.hpp"

#include <hotshard/harness/runner.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>

#ifndef HOTSHARD_SOURCE_DIR
#define HOTSHARD_SOURCE_DIR "."
#endif

namespace hotshard::harness::cli {

namespace fs = std::filesystem;

namespace {

struct step {
  const scenario* s;
  std::vector<std::string> impls;
  run_options options;
  bool optional = false;  // a failure is reported but does not fail the suite (external data)
};

// Runs the suite leaves out, each with its reason (config.excluded, and a
// section of summary.md): never a silent drop.
struct exclusion {
  std::string scenario, impl, reason;
  unsigned threads = 0;
  std::map<std::string, std::string> knobs;
};

unsigned suite_cores() { return std::max(2u, std::thread::hardware_concurrency()); }

// Why `impl` must not run at `threads` in this step, or "" if it may.
// ck_ring's producers each wait (spinning) for every earlier producer's commit:
// with more threads than cores a preempted producer stalls all later ones for
// a whole time slice, and a 16-producer bulk run has hung the suite for
// minutes. It runs only where producers + consumers fit on the cores (as
// harness/bench/bench_queues.cpp does).
std::string exclusion_reason(const std::string& scenario, const std::string& impl, unsigned threads,
                             const run_options& o) {
  if (scenario == "queue" && impl == "ck_ring") {
    const auto it = o.knobs.find("consumers");
    const unsigned consumers = it == o.knobs.end() ? 1u : static_cast<unsigned>(std::max(1L, std::atol(it->second.c_str())));
    if (threads + consumers > suite_cores())
      return "ck_ring's producers spin on every earlier producer's commit: with " + std::to_string(threads) +
             " producers + " + std::to_string(consumers) + " consumers on " + std::to_string(suite_cores()) +
             " cores a preempted producer stalls the others (a 16-producer bulk run hung the suite); measured only "
             "where its threads fit on the cores";
  }
  return {};
}

// Splits a step so that no (impl, threads) pair that must be left out runs:
// thread counts with the same exclusions stay together.
void add_step(std::vector<step>& steps, std::vector<exclusion>& excluded, step st) {
  std::vector<std::pair<std::vector<std::string>, std::vector<unsigned>>> groups;  // (impls, threads)
  for (unsigned t : st.options.threads) {
    std::vector<std::string> impls;
    for (const auto& impl : st.impls) {
      std::string why = exclusion_reason(st.s->name, impl, t, st.options);
      if (why.empty())
        impls.push_back(impl);
      else
        excluded.push_back({st.s->name, impl, std::move(why), t, st.options.knobs});
    }
    if (impls.empty()) continue;
    auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) { return x.first == impls; });
    if (g == groups.end())
      groups.push_back({impls, {t}});
    else
      g->second.push_back(t);
  }
  for (auto& [impls, threads] : groups) {
    step part = st;
    part.impls = std::move(impls);
    part.options.threads = std::move(threads);
    steps.push_back(std::move(part));
  }
}

// The real trace, when the shared data sits next to the checkout.
std::string real_trace_path() {
  if (const char* env = std::getenv("HOTSHARD_REAL_TRACE")) return env;  // "" disables the step
  const fs::path p = fs::path(HOTSHARD_SOURCE_DIR) / ".." / "shared" / "traces" / "web07.trace.xz";
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return {};
  const auto abs = fs::weakly_canonical(p, ec);
  return ec ? p.string() : abs.string();
}

std::string anchors_script() {
  if (const char* env = std::getenv("HOTSHARD_ANCHORS_SCRIPT")) return env;
  return std::string(HOTSHARD_SOURCE_DIR) + "/scripts/anchors.sh";
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The first interpreter that can import matplotlib: $HOTSHARD_PYTHON, python3, /usr/bin/python3
// (a pyenv shim may shadow the distribution's python, which has python3-matplotlib).
std::string find_python() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("HOTSHARD_PYTHON")) candidates.emplace_back(env);
  candidates.emplace_back("python3");
  candidates.emplace_back("/usr/bin/python3");
  for (const auto& c : candidates) {
    const std::string cmd = shell_quote(c) + " -c 'import matplotlib' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return c;
  }
  return {};
}

std::string plot_script() {
  if (const char* env = std::getenv("HOTSHARD_PLOT_SCRIPT")) return env;
  return std::string(HOTSHARD_SOURCE_DIR) + "/scripts/plot.py";
}

std::vector<step> plan(const suite_args& a, unsigned repetitions, std::vector<exclusion>& excluded) {
  std::vector<const scenario*> chosen;
  if (a.scenarios.empty()) {
    for (const auto& s : registered_scenarios()) chosen.push_back(&s);
  } else {
    for (const auto& name : split_list(a.scenarios)) {
      const scenario& s = resolve_scenario(name);
      if (std::find(chosen.begin(), chosen.end(), &s) == chosen.end()) chosen.push_back(&s);
    }
  }
  // The self-check first (is this run to be trusted?), then calibrate, so the
  // families' summaries can show % of limit.
  const auto rank = [](const scenario* s) { return s->name == "fidelity" ? 0 : s->name == "calibrate" ? 1 : 2; };
  std::stable_sort(chosen.begin(), chosen.end(), [&](const scenario* x, const scenario* y) { return rank(x) < rank(y); });
  std::vector<step> steps;
  for (const auto* s : chosen) {
    std::vector<run_options> opts = s->suite ? s->suite(a.full) : std::vector<run_options>{run_options{}};
    for (auto& o : opts) {
      if (o.threads.empty()) o.threads = {1, 2};
      o.repetitions = repetitions;
      o.quiet = a.quiet;
      add_step(steps, excluded, {s, resolve_impls(*s, "all"), o});
    }
  }
  // The real trace (web07) through the scenarios that replay key streams.
  // Optional: its reader may be missing from this build, or the data absent.
  if (const std::string trace = real_trace_path(); !trace.empty()) {
    for (const char* name : {"sketch", "hot-partition"}) {
      const scenario* s = find_scenario(name);
      if (!s || std::find(chosen.begin(), chosen.end(), s) == chosen.end()) continue;
      run_options o;
      o.threads = {1, 2};
      o.workload = "trace:path=" + trace;
      o.duration_seconds = a.full ? 1.0 : 0.25;
      o.repetitions = repetitions;
      o.quiet = a.quiet;
      add_step(steps, excluded, {s, resolve_impls(*s, "all"), o, true});
    }
  }
  return steps;
}

// --anchors: scripts/anchors.sh --out DIR/anchors --rounds R (R = the
// suite's repetitions: each driver round is followed by a re-run of ours on
// its groups, so driver ratios are paired; one repetition: the drivers' own
// default), then the records of every hotshard.results/1 file it wrote join
// the suite's results — those of the scenarios this suite ran (`ran`; a
// driver's plan covers every scenario it has, and summary.md and headline.md
// describe only the scenarios of the run); the others are left out with a
// note. Never fails the suite: an absent or failing script is reported and
// skipped.
void run_anchors(const std::string& out_dir, unsigned repetitions, const std::set<std::string>& ran,
                 results_document& doc, std::mutex& mu, const progress& p) {
  const std::string script = anchors_script();
  const fs::path dir = fs::path(out_dir) / "anchors";
  nlohmann::json info = {{"script", script}, {"rounds", std::max(1u, repetitions)}};
  std::error_code ec;
  if (!fs::is_regular_file(script, ec)) {
    p.note("suite: --anchors: " + script + " does not exist; no anchors (skipped)");
    info["status"] = "absent";
  } else {
    fs::create_directories(dir, ec);
    const std::string args = " --out " + shell_quote(dir.string()) +
                             (repetitions > 1 ? " --rounds " + std::to_string(repetitions) : std::string{});
    p.note("suite: --anchors: running " + script + args);
    const std::string cmd = "bash " + shell_quote(script) + args;
    const int raw = std::system(cmd.c_str());
    if (raw != 0) {
      p.note("suite: --anchors: " + script + " failed (status " + std::to_string(raw) +
             "); its results are not merged (skipped)");
      info["status"] = "failed";
      std::scoped_lock lock(mu);
      doc.errors.push_back({{"scenario", "anchors"}, {"message", "scripts/anchors.sh failed; skipped"}, {"optional", true}});
    } else {
      info["status"] = "ran";
      info["files"] = nlohmann::json::array();
      std::size_t merged = 0, seen = 0;
      std::map<std::string, std::size_t> left_out;  // scenario -> records of it the suite did not run
      for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (++seen > 1000) break;
        if (!it->is_regular_file() || it->path().extension() != ".json") continue;
        try {
          auto other = read_results_file(it->path().string());
          std::scoped_lock lock(mu);
          for (auto& r : other.results) {
            if (!ran.contains(r.scenario)) {
              ++left_out[r.scenario];
              continue;
            }
            ++merged;
            doc.results.push_back(std::move(r));
          }
          info["files"].push_back(fs::relative(it->path(), out_dir, ec).string());
        } catch (const std::exception& e) {
          p.note("suite: --anchors: " + it->path().string() + " is not a hotshard.results/1 file (" + e.what() +
                 "); ignored");
        }
      }
      info["records"] = merged;
      p.note("suite: --anchors: merged " + std::to_string(merged) + " records");
      if (!left_out.empty()) {
        std::string what;
        std::size_t n = 0;
        for (const auto& [scenario, count] : left_out) {
          what += (what.empty() ? "" : ", ") + scenario;
          n += count;
        }
        info["left_out"] = left_out;
        p.note("suite: --anchors: left out " + std::to_string(n) + " records of scenarios this suite did not run (" +
               what + ")");
      }
    }
  }
  std::scoped_lock lock(mu);
  doc.config["anchors"] = std::move(info);
}

double planned_seconds(const std::vector<step>& steps) {
  double total = 0;
  for (const auto& st : steps)
    total += static_cast<double>(st.impls.size() * st.options.threads.size() * st.options.repetitions) *
             expected_run_seconds(st.options);
  return total;
}

}  // namespace

int suite(const invocation& inv, const suite_args& a) {
  const unsigned repetitions = a.repetitions.empty()
                                   ? (a.full ? 5u : 3u)
                                   : static_cast<unsigned>(std::min<std::uint64_t>(
                                         parse_count("--repetitions", a.repetitions, 1), 100));
  std::vector<exclusion> excluded;
  auto steps = plan(a, repetitions, excluded);
  const double duration = a.duration.empty() ? 0.0 : parse_positive_seconds("--duration", a.duration);
  if (duration > 0)
    for (auto& st : steps)
      if (st.options.ops == 0) st.options.duration_seconds = duration;  // steps sized by op count keep theirs
  if (a.out.empty()) throw usage_error("--out: the directory is empty");
  std::error_code ec;
  fs::create_directories(a.out, ec);
  if (!fs::is_directory(a.out, ec)) throw usage_error("--out " + a.out + ": cannot create the directory");
  const std::string json_path = (fs::path(a.out) / "results.json").string();
  const std::string csv_path = (fs::path(a.out) / "results.csv").string();
  const std::string md_path = (fs::path(a.out) / "summary.md").string();
  for (const auto& p : {json_path, csv_path, md_path}) check_writable("--out", p);

  // --quick must leave room for the build in a newcomer's first scripts/bench.sh
  // (≤ 5 minutes on 2 cores, build included; bootstrap and build took ~2.3 minutes):
  // about 100 s of planned runs, which with each run's setup and untimed checks
  // came to ~2 minutes of wall time. Steps sized by op count keep their size;
  // the time-bound ones share what is left.
  constexpr double quick_budget_seconds = 100;
  double planned = planned_seconds(steps);
  if (!a.full && duration == 0 && planned > quick_budget_seconds) {  // an explicit --duration is kept
    std::vector<step> by_ops;
    for (const auto& st : steps)
      if (st.options.ops > 0) by_ops.push_back(st);
    const double fixed = planned_seconds(by_ops);
    const double factor = std::max(0.0, quick_budget_seconds - fixed) / std::max(1e-9, planned - fixed);
    for (auto& st : steps)
      if (st.options.ops == 0) st.options.duration_seconds = std::max(0.05, st.options.duration_seconds * factor);
    planned = planned_seconds(steps);
  }

  std::size_t runs = 0;
  for (const auto& st : steps) runs += st.impls.size() * st.options.threads.size() * st.options.repetitions;
  nlohmann::json config = {{"verb", "suite"},
                           {"mode", a.full ? "full" : "quick"},
                           {"duration_seconds", duration > 0 ? nlohmann::json(duration) : nlohmann::json()},  // null: the plan's
                           {"out", a.out},
                           {"repetitions", repetitions},
                           {"pairing", "interleaved"},  // rep k of every impl (seed-shuffled) before rep k+1
                           {"planned_seconds", planned},
                           {"harness_cost", harness_cost_method}};
  nlohmann::json plan_json = nlohmann::json::array();
  for (const auto& st : steps) {
    nlohmann::json j = {{"scenario", st.s->name},
                        {"impls", st.impls},
                        {"threads", st.options.threads},
                        {"workload", st.options.workload.empty() ? st.s->default_workload : st.options.workload},
                        {"knobs", st.options.knobs}};
    if (st.options.ops > 0)
      j["ops"] = st.options.ops;
    else
      j["duration_seconds"] = st.options.duration_seconds;
    plan_json.push_back(std::move(j));
  }
  config["steps"] = std::move(plan_json);
  nlohmann::json left_out = nlohmann::json::array();
  for (const auto& x : excluded)
    left_out.push_back(
        {{"scenario", x.scenario}, {"impl", x.impl}, {"threads", x.threads}, {"knobs", x.knobs}, {"reason", x.reason}});
  config["excluded"] = std::move(left_out);
  auto doc = new_document(inv, std::move(config));
  for (const auto& st : steps) doc.scenarios[st.s->name] = describe(*st.s);

  std::mutex results_mu;
  const auto save = [&] {
    results_document snapshot;
    {
      std::scoped_lock lock(results_mu);
      snapshot = doc;
    }
    const auto rows = summarize(snapshot.results, limit_of);
    write_text_file(json_path, to_json(snapshot).dump(2) + "\n");
    write_text_file(csv_path, to_csv(rows));
    write_text_file(md_path, to_markdown(snapshot, rows, inv.command_line));
    return rows;
  };
  progress p(a.quiet, runs, planned);
  p.on_hang([&](const std::string& what) {
    {
      std::scoped_lock lock(results_mu);
      doc.errors.push_back({{"scenario", what}, {"message", "hung: did not finish in time; suite aborted here"}});
    }
    try {
      (void)save();
      std::fprintf(stderr, "hotshard-bench: suite: partial results written to %s\n", a.out.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "hotshard-bench: suite: could not save partial results: %s\n", e.what());
    }
  });
  p.note("suite " + std::string(a.full ? "--full" : "--quick") + ": " + std::to_string(steps.size()) +
         " steps, " + std::to_string(runs) + " runs, planned ~" + std::to_string(static_cast<int>(planned)) + " s");
  // HOTSHARD_SUITE_PLAN_ONLY=1: write the plan (config.steps, config.excluded)
  // and summary.md without running anything (tests, and a look before a long run).
  if (const char* env = std::getenv("HOTSHARD_SUITE_PLAN_ONLY"); env && std::string(env) == "1") {
    (void)save();
    p.note("suite: plan only (HOTSHARD_SUITE_PLAN_ONLY=1): nothing run; plan in " + json_path);
    return 0;
  }
  for (const auto& x : excluded)
    p.note("suite: left out: " + x.scenario + "/" + x.impl + " at " + std::to_string(x.threads) + " threads (" +
           x.reason + ")");
  bool failed = false;
  for (const auto& st : steps) {
    try {
      execute(*st.s, st.impls, st.options, p, doc.results, results_mu);
    } catch (const std::exception& e) {
      // One family's failure must not throw away the others' minutes of work.
      failed = failed || !st.optional;
      const std::string what = st.optional ? st.s->name + " (" + st.options.workload + ")" : st.s->name;
      std::scoped_lock lock(results_mu);
      nlohmann::json err = {{"scenario", what}, {"message", e.what()}};
      if (st.optional) err["optional"] = true;
      doc.errors.push_back(std::move(err));
      std::fprintf(stderr, "hotshard-bench: suite: %s failed: %s (continuing%s)\n", what.c_str(), e.what(),
                   st.optional ? "; optional step, the suite does not fail for it" : "");
    }
  }
  if (a.anchors) {
    std::set<std::string> ran;
    for (const auto& st : steps) ran.insert(st.s->name);
    run_anchors(a.out, repetitions, ran, doc, results_mu, p);
  }

  const auto rows = save();
  if (!a.quiet) std::cout << to_text_table(rows);

  if (a.plots) {
    const std::string python = find_python();
    if (python.empty()) {
      std::fprintf(stderr, "hotshard-bench: suite: no python3 with matplotlib found (set HOTSHARD_PYTHON); no plots\n");
    } else {
      const std::string cmd = shell_quote(python) + " " + shell_quote(plot_script()) + " " + shell_quote(json_path) +
                              " --out " + shell_quote(a.out);
      if (std::system(cmd.c_str()) != 0)
        std::fprintf(stderr, "hotshard-bench: suite: plotting failed (%s); results are written\n", cmd.c_str());
    }
  }
  p.note("suite: results in " + a.out + "/ (results.json, results.csv, summary.md, plots)");
  return failed ? 1 : 0;
}

}  // namespace hotshard::harness::cli
