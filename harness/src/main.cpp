// hotshard-bench: the scenario driver (DESIGN.md "The harness").
// Exit status: 0 success; 2 usage error (stderr names the flag or value and
// what is accepted); 1 failure while running.
#include "cli.hpp"
#include "contenders/peer_tsan_suppressions.hpp"  // the peers' fence-based hand-offs, under TSan only

#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/store.hpp>
#include <hotshard/version.hpp>
#if HOTSHARD_HAVE_HIREDIS
#include <hotshard/harness/redis_store.hpp>
#endif

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

extern char** environ;

#ifndef HOTSHARD_ALLOCATOR
#define HOTSHARD_ALLOCATOR "unknown"
#endif

namespace {

using namespace hotshard::harness;

constexpr const char* verbs[] = {"list", "run", "suite", "trace", "compare"};

int usage(const std::string& message) {
  std::fprintf(stderr, "hotshard-bench: error: %s\n", message.c_str());
  return 2;
}

// `run --processes N`: N application servers against one store. This binary
// is started N times (posix_spawn of /proc/self/exe) with the same arguments
// and seed — each process its own cache, single-flight table and write buffer,
// all seeing the same key stream — each writing its JSON to a temporary
// directory; then their one result is merged into one record:
//  - integer metrics and integer arrays (backend_calls, reads, node ops per
//    node...) are summed; ratios are recomputed from the sums
//    (backend_calls_per_read, max_over_median); every process's own metrics
//    stay under `per_process`;
//  - on a Redis Cluster the processes share their keys (the environment
//    variable HOTSHARD_REDIS_SHARED_PREFIX, redis_store.hpp): this process
//    sends CONFIG RESETSTAT once before starting them and reads INFO
//    commandstats once after the last ended (node_ops, node_max_over_median),
//    and checks nothing was lost: the values read back under the shared
//    prefix must add up to every process's accepted writes (exit 1 if not).
// A plan of one run only: one --impl, one --threads value, --repetitions 1.
// Any process that fails makes the whole run fail with its exit status.
int run_processes(int argc, char** argv, const cli::run_args& ra, unsigned n) {
  namespace fs = std::filesystem;
  if (ra.impl == "all" || ra.impl.find(',') != std::string::npos || ra.threads.find(',') != std::string::npos ||
      (!ra.repetitions.empty() && ra.repetitions != "1"))
    throw usage_error("--processes: the processes merge one run: give one --impl, one --threads value and "
                      "--repetitions 1");
  if (!ra.csv.empty() || !ra.md.empty()) throw usage_error("--processes: the merged run is written by --json only");
  std::string store = "sim";
  for (const auto& kv : ra.sets)
    if (kv.rfind("store=", 0) == 0) store = kv.substr(6);

  // The children's arguments: ours without --processes and the outputs.
  std::vector<std::string> args{"/proc/self/exe"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    bool drop = false, with_value = false;
    for (const std::string f : {"--processes", "--json", "--csv", "--md"}) {
      with_value = with_value || a == f;
      drop = drop || a == f || a.rfind(f + "=", 0) == 0;
    }
    if (with_value) ++i;
    if (!drop) args.push_back(a);
  }
  if (ra.repetitions.empty()) args.insert(args.end(), {"--repetitions", "1"});
  args.push_back("--quiet");

  std::random_device rd;
  const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(rd());
  const fs::path tmp = fs::temp_directory_path() / ("hotshard-processes-" + tag);
  fs::create_directories(tmp);
  struct cleanup {
    fs::path p;
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } remove_tmp{tmp};

  std::unique_ptr<store_backend> parent;
  if (store != "sim") {
    ::setenv("HOTSHARD_REDIS_SHARED_PREFIX", ("hs:" + tag + ":").c_str(), 1);
    parent = open_store_backend(store);
  }
#if HOTSHARD_HAVE_HIREDIS
  auto* redis = dynamic_cast<redis_store*>(parent.get());
  if (redis) redis->reset_server_counts();
#endif

  // The children's own tables would interleave: their stdout goes to /dev/null (stderr stays).
  posix_spawn_file_actions_t quiet_stdout;
  ::posix_spawn_file_actions_init(&quiet_stdout);
  ::posix_spawn_file_actions_addopen(&quiet_stdout, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  struct destroy_actions {
    posix_spawn_file_actions_t* a;
    ~destroy_actions() { ::posix_spawn_file_actions_destroy(a); }
  } destroy{&quiet_stdout};
  std::vector<pid_t> pids;
  for (unsigned i = 0; i < n; ++i) {
    std::vector<std::string> a = args;
    a.insert(a.end(), {"--json", (tmp / ("p" + std::to_string(i) + ".json")).string()});
    std::vector<char*> cargv;
    for (auto& s : a) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    ::setenv("HOTSHARD_PROCESS_INDEX", std::to_string(i).c_str(), 1);
    pid_t pid = 0;
    if (const int e = ::posix_spawn(&pid, "/proc/self/exe", &quiet_stdout, nullptr, cargv.data(), environ); e != 0) {
      for (auto p : pids) ::waitpid(p, nullptr, 0);
      throw run_failure("--processes: could not start process " + std::to_string(i) + ": " + std::strerror(e));
    }
    pids.push_back(pid);
  }
  int worst = 0;
  for (unsigned i = 0; i < n; ++i) {
    int status = 0;
    ::waitpid(pids[i], &status, 0);
    const int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (rc != 0) std::fprintf(stderr, "hotshard-bench: --processes: process %u exited %d\n", i, rc);
    if (rc != 0 && worst != 2) worst = rc;
  }
  if (worst != 0) return worst;

  std::vector<nlohmann::json> docs;
  for (unsigned i = 0; i < n; ++i) {
    std::ifstream in(tmp / ("p" + std::to_string(i) + ".json"));
    docs.push_back(nlohmann::json::parse(in));
    if (docs.back()["results"].size() != 1)
      throw run_failure("--processes: process " + std::to_string(i) + " wrote " +
                        std::to_string(docs.back()["results"].size()) + " results, not 1");
  }
  nlohmann::json per = nlohmann::json::array();
  for (const auto& d : docs) per.push_back(d["results"][0]["metrics"]);
  // Sum what is a count in every process: integers, and integer arrays of one length.
  nlohmann::json merged = nlohmann::json::object();
  for (const auto& [key, v0] : per[0].items()) {
    bool ints = v0.is_number_integer(), arrays = v0.is_array() && !v0.empty();
    for (const auto& e : v0) arrays = arrays && e.is_number_integer();
    for (const auto& m : per) {
      ints = ints && m.contains(key) && m[key].is_number_integer();
      arrays = arrays && m.contains(key) && m[key].is_array() && m[key].size() == v0.size();
    }
    if (ints) {
      std::int64_t sum = 0;
      for (const auto& m : per) sum += m[key].get<std::int64_t>();
      merged[key] = sum;
    } else if (arrays) {
      std::vector<std::uint64_t> sum(v0.size(), 0);
      for (const auto& m : per)
        for (std::size_t j = 0; j < sum.size(); ++j) sum[j] += m[key][j].get<std::uint64_t>();
      merged[key] = sum;
    }
  }
  const auto ratio = [&](const char* a, const char* b) {
    const double d = merged.value(b, std::int64_t{0});
    return d > 0 ? static_cast<double>(merged.value(a, std::int64_t{0})) / d : 0.0;
  };
  if (merged.contains("reads")) {
    if (merged.contains("backend_reads")) {
      merged["backend_calls_per_read"] = ratio("backend_reads", "reads");
    } else {
      // The cache counts its loads apart by stretch (window, warm-up, after the run); the ratio is over all of them.
      std::int64_t loads = 0;
      for (const char* k : {"backend_calls", "backend_calls_warmup", "backend_calls_after_run"})
        loads += merged.value(k, std::int64_t{0});
      const double reads = merged.value("reads", std::int64_t{0});
      merged["backend_calls_per_read"] = reads > 0 ? static_cast<double>(loads) / reads : 0.0;
    }
  }
  if (merged.contains("partition_ops"))
    merged["max_over_median"] = max_over_median_of(merged["partition_ops"].get<std::vector<std::uint64_t>>());
  merged["store"] = store;
  merged["processes"] = n;
#if HOTSHARD_HAVE_HIREDIS
  if (redis) {
    redis->read_server_counts();
    const auto server = redis->metrics();
    for (const char* k : {"node_ops", "node_ops_by_command", "node_max_over_median", "nodes", "redis_version"})
      merged[k] = server[k];
    // Nothing lost: every process's accepted writes are in Redis, read back under the shared prefix.
    const std::int64_t applied = parent->total();
    std::int64_t expected = 0, unknown = merged.value("writes_unknown", std::int64_t{0});
    bool writes = true;
    if (merged.contains("writes_accepted"))  // hot-partition: each write +1
      expected = merged["writes_accepted"].get<std::int64_t>() - merged.value("buffer_failed", std::int64_t{0});
    else if (merged.contains("writes_accepted_sum"))  // write-buffer: the accepted deltas
      expected = merged["writes_accepted_sum"].get<std::int64_t>();
    else
      writes = false;
    if (writes) {
      const std::int64_t missing = expected - applied;
      merged["writes_applied"] = applied;
      merged["lost"] = missing < 0 && -missing <= unknown ? 0 : missing;
    }
  }
#endif
  nlohmann::json doc = docs[0];
  doc["config"]["processes"] = n;
  doc["results"][0]["metrics"] = merged;
  doc["results"][0]["per_process"] = std::move(per);
  if (!ra.json.empty()) {
    std::ofstream out(ra.json);
    out << doc.dump(2) << "\n";
    if (!out) throw run_failure("--json: could not write " + ra.json);
  }
  std::cout << "processes " << n << " (" << ra.scenario << "/" << ra.impl << ", store " << store << ")";
  for (const char* k : {"reads", "backend_calls", "backend_calls_warmup", "backend_calls_after_run", "backend_reads",
                        "backend_calls_per_read", "node_ops",
                        "node_max_over_median", "writes_accepted", "writes_applied", "lost"})
    if (merged.contains(k)) std::cout << "\n  " << k << ": " << merged[k].dump();
  std::cout << "\n";
  const std::int64_t lost = merged.value("lost", std::int64_t{0});
  if (lost != 0) throw run_failure("--processes: " + std::to_string(lost) + " accepted writes are not in the store");
  return 0;
}

int drive(int argc, char** argv) {
  cli::invocation inv;
  inv.allocator = HOTSHARD_ALLOCATOR;
  for (int i = 0; i < argc; ++i) inv.command_line += (i ? " " : "") + std::string(argv[i]);

  CLI::App app{"hotshard-bench: benchmark scenarios for hot-key primitives (DESIGN.md)", "hotshard-bench"};
  app.set_version_flag("--version", std::string(hotshard::version_string));
  app.require_subcommand(1);

  bool list_json = false;
  auto* list = app.add_subcommand("list", "scenarios, implementations, knobs and workload specs");
  list->add_flag("--json", list_json, "machine-readable output");

  cli::run_args ra;
  auto* run = app.add_subcommand("run", "run one scenario");
  run->add_option("scenario", ra.scenario, "scenario name (see `list`)")->required();
  run->add_option("--impl", ra.impl, "implementations: NAME[,NAME...] or all (default all)");
  run->add_option("--threads", ra.threads, "thread counts, comma-separated (default 1,2)");
  run->add_option("--workload", ra.workload, "workload spec, e.g. zipf:n=1000000,s=0.99 (default: the scenario's)");
  run->add_option("--duration", ra.duration, "seconds per run (default 1); excludes --ops");
  run->add_option("--ops", ra.ops, "operations per run, split over threads; excludes --duration");
  run->add_option("--repetitions", ra.repetitions, "repetitions per (impl, threads) (default 3)");
  run->add_option("--seed", ra.seed, "seed of the workload streams (default 1)");
  run->add_option("--rate", ra.rate, "open loop: total ops/s scheduled at fixed intervals (default 0 = closed loop)");
  run->add_option("--json", ra.json, "write hotshard.results/1 JSON here");
  run->add_option("--csv", ra.csv, "write the CSV summary here");
  run->add_option("--md", ra.md, "write the Markdown summary here");
  run->add_option("--set", ra.sets, "scenario knob KEY=VALUE (repeatable)");
  run->add_flag("--quiet", ra.quiet, "no progress on stderr");
  std::string processes;
  run->add_option("--processes", processes,
                  "N client processes (N application servers, each its own cache/single-flight/buffer) against the "
                  "same store, their one run merged (default 1)");

  cli::suite_args sa;
  bool quick = false;
  auto* suite = app.add_subcommand("suite", "every scenario: results.json, results.csv, summary.md and plots");
  auto* quick_flag = suite->add_flag("--quick", quick, "short plans, about 3 minutes here (default)");
  suite->add_flag("--full", sa.full, "the full plans")->excludes(quick_flag);
  suite->add_option("--out", sa.out, "output directory (default results/latest)");
  suite->add_option("--scenarios", sa.scenarios, "only these scenarios, comma-separated (calibrate runs first)");
  suite->add_option("--repetitions", sa.repetitions, "repetitions per run (default 3 quick, 5 full)");
  suite->add_option("--duration", sa.duration,
                    "seconds per run of every time-bound step (default: the plan's, 1 s in --full; "
                    "--quick may shrink it to fit its budget)");
  suite->add_flag("--quiet", sa.quiet, "no progress on stderr");
  bool no_plots = false;
  suite->add_flag("--no-plots", no_plots, "skip scripts/plot.py");
  suite->add_flag("--anchors", sa.anchors,
                  "after the C++ steps, run scripts/anchors.sh --out OUT/anchors --rounds R (R = --repetitions: "
                  "each driver round is followed by a re-run of ours, for paired ratios) and merge its records of "
                  "the scenarios this suite ran (skipped with a message if absent or failing)");

  auto* trace = app.add_subcommand("trace", "write or analyse a key trace");
  trace->require_subcommand(1);
  cli::trace_gen_args ga;
  auto* gen = trace->add_subcommand("gen", "write a trace from a workload spec");
  gen->add_option("spec", ga.spec, "workload spec, e.g. zipf:n=1000000,s=0.99")->required();
  gen->add_option("--ops", ga.ops, "number of records (required)");
  gen->add_option("--seed", ga.seed, "seed (default 1)");
  gen->add_option("--threads", ga.threads, "thread streams, interleaved record by record (default 1)");
  gen->add_option("--format", ga.format, "text or binary (default text)");
  gen->add_option("--read-fraction", ga.read_fraction, "probability of get, else put (default 0.5)");
  gen->add_option("--out", ga.out, "output file (required)");
  std::string stats_file, stats_top = "10", stats_format, stats_window = "10000";
  bool stats_json = false;
  auto* stats = trace->add_subcommand("stats", "requests, op mix, head shares, Zipf fit, hottest key over time");
  stats->add_option("file", stats_file, "trace file (any readable format, compressed or not)")->required();
  stats->add_option("--top", stats_top, "how many top keys (default 10)");
  stats->add_option("--format", stats_format, "trace format (default: detected)");
  stats->add_option("--window", stats_window, "requests per window of the hottest-key series (default 10000)");
  stats->add_flag("--json", stats_json, "machine-readable output");
  std::string import_in, import_format, import_out;
  auto* import = trace->add_subcommand("import", "convert a trace to the suite's binary form");
  import->add_option("in", import_in, "trace file (any readable format, compressed or not)")->required();
  import->add_option("--format", import_format, "trace format (default: detected)");
  import->add_option("--out", import_out, "output file (required)");

  std::string old_path, new_path;
  auto* compare = app.add_subcommand("compare", "ratios new/old per scenario, impl, threads and workload");
  compare->add_option("old", old_path, "older results JSON")->required();
  compare->add_option("new", new_path, "newer results JSON")->required();

  // An unknown verb deserves its own message, not CLI11's "arguments not expected".
  if (argc > 1 && argv[1][0] != '-') {
    const std::string verb = argv[1];
    bool known = false;
    for (const char* v : verbs) known = known || verb == v;
    if (!known) return usage("unknown verb '" + verb + "'; accepted: list, run, suite, trace, compare");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    if (trace->parsed() && !gen->parsed() && !stats->parsed() && !import->parsed())
      msg = "trace needs a sub-verb; accepted: gen, stats, import";
    else if (app.get_subcommands().empty())
      msg = "a verb is required; accepted: list, run, suite, trace, compare";
    return usage(msg + " (see --help)");
  }
  sa.plots = !no_plots;

  if (*list) return cli::list(list_json);
  if (*run && !processes.empty()) {
    unsigned n = 0;
    const auto res = std::from_chars(processes.data(), processes.data() + processes.size(), n);
    if (res.ec != std::errc{} || res.ptr != processes.data() + processes.size() || n < 1 || n > 64)
      return usage("--processes: '" + processes + "' is not a process count in 1..64");
    if (n > 1) return run_processes(argc, argv, ra, n);
  }
  if (*run) return cli::run(inv, ra);
  if (*suite) return cli::suite(inv, sa);
  if (*gen) return cli::trace_gen(ga);
  if (*stats) return cli::trace_stats(stats_file, stats_top, stats_json, stats_format, stats_window);
  if (*import) return cli::trace_import(import_in, import_format, import_out);
  if (*compare) return cli::compare_files(old_path, new_path);
  return usage("a verb is required; accepted: list, run, suite, trace, compare");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return drive(argc, argv);
  } catch (const usage_error& e) {
    return usage(e.what());
  } catch (const run_failure& e) {
    std::fprintf(stderr, "hotshard-bench: failed: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hotshard-bench: failed: %s\n", e.what());
    return 1;
  }
}
