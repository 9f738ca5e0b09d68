// hotshard-bench: the scenario driver (DESIGN.md "The harness").
// Exit status: 0 success; 2 usage error (stderr names the flag or value and
// what is accepted); 1 failure while running.
#include "cli.hpp"

#include <hotshard/version.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

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
                  "after the C++ steps, run scripts/anchors.sh --out OUT/anchors and merge its results "
                  "(skipped with a message if absent or failing)");

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
