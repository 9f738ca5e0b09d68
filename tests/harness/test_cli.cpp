// hotshard-bench as a user runs it: every bad input exits 2 with a message
// naming the bad flag or value; good runs write valid files.
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#ifndef HOTSHARD_BENCH_BIN
#error "HOTSHARD_BENCH_BIN must name the hotshard-bench binary"
#endif

namespace fs = std::filesystem;

namespace {

struct outcome {
  int status = -1;
  std::string output;  // what the command wrote to stdout (bench: stdout and stderr)
};

// A shell command's exit status and standard output.
outcome run_shell(const std::string& cmd) {
  outcome o;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return o;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.output.append(buf, n);
  const int raw = pclose(p);
  o.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return o;
}

// hotshard-bench with `args`; output is stdout and stderr together.
outcome bench(const std::string& args, const std::string& env = "") {
  return run_shell(env + " '" + HOTSHARD_BENCH_BIN + "' " + args + " 2>&1");
}

fs::path scratch(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("hotshard_cli_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

void expect_usage_error(const std::string& args, const std::string& needle) {
  const auto o = bench(args);
  EXPECT_EQ(o.status, 2) << args << "\n" << o.output;
  EXPECT_NE(o.output.find(needle), std::string::npos) << args << "\nmissing '" << needle << "' in:\n" << o.output;
}

}  // namespace

TEST(cli_usage, an_unknown_verb_exits_2_naming_it) {
  expect_usage_error("frobnicate", "unknown verb 'frobnicate'");
  expect_usage_error("", "accepted: list, run, suite, trace, compare");
}

TEST(cli_usage, an_unknown_scenario_exits_2_naming_it) {
  expect_usage_error("run nosuchscenario", "unknown scenario 'nosuchscenario'");
}

TEST(cli_usage, a_designed_scenario_that_is_not_built_says_so) {
  const auto o = bench("list --json");
  ASSERT_EQ(o.status, 0) << o.output;
  const auto j = nlohmann::json::parse(o.output);
  EXPECT_EQ(j["scenarios"].size(), 10u);  // DESIGN.md's 9 + the harness's own fidelity self-check
  for (const auto& s : j["scenarios"])
    if (!s["built"].get<bool>()) {
      expect_usage_error("run " + s["name"].get<std::string>(), "not built into this binary");
      return;
    }
  GTEST_SKIP() << "every designed scenario is built in this binary";
}

TEST(cli_usage, an_unknown_impl_exits_2_listing_the_accepted_ones) {
  expect_usage_error("run calibrate --impl bogus", "--impl: 'bogus' is not an implementation of calibrate");
  expect_usage_error("run calibrate --impl null,bogus", "accepted: private_increment");
}

TEST(cli_usage, bad_thread_counts_exit_2) {
  expect_usage_error("run calibrate --threads 0", "--threads: '0'");
  expect_usage_error("run calibrate --threads two", "--threads: 'two'");
  expect_usage_error("run calibrate --threads 1,,2", "--threads: ''");
}

TEST(cli_usage, bad_durations_and_counts_exit_2) {
  expect_usage_error("run calibrate --duration=-1", "--duration: '-1'");
  expect_usage_error("run calibrate --duration 0", "--duration: '0'");
  expect_usage_error("run calibrate --duration 1 --ops 10", "--duration and --ops");
  expect_usage_error("run calibrate --ops 0", "--ops: '0'");
  expect_usage_error("run calibrate --repetitions x", "--repetitions: 'x'");
  expect_usage_error("suite --duration 0 --out /tmp/hotshard-never", "--duration: '0'");
}

TEST(cli_usage, bad_write_buffer_sizes_exit_2_naming_the_knob) {
  // Issue 16: the scenario used to round capacity up and raise batch=0 to 1 silently.
  const std::string run = "run write-buffer --impl combining --threads 1 --ops 100 ";
  expect_usage_error(run + "--set batch=0", "--set batch=0");
  expect_usage_error(run + "--set capacity=64 --set batch=65", "--set batch=65");
  expect_usage_error(run + "--set capacity=100", "--set capacity=100");
  expect_usage_error(run + "--set capacity=1", "--set capacity=1");
}

TEST(cli_usage, a_bad_workload_spec_exits_2) {
  expect_usage_error("run calibrate --workload zipf:s=0.9", "--workload");
  expect_usage_error("run calibrate --workload nosuchkind:n=3", "--workload");
}

TEST(cli_usage, an_unknown_knob_exits_2) {
  expect_usage_error("run calibrate --set foo=1", "--set: 'foo' is not a knob of calibrate");
  expect_usage_error("run calibrate --set novalue", "--set: 'novalue' is not KEY=VALUE");
}

TEST(cli_usage, a_salt_below_2_or_above_the_partitions_exits_2_naming_the_knob) {
  // salted_counter_map rejects max_salt = 1: the scenario must say so before a run, not throw mid-run.
  expect_usage_error("run hot-partition --impl salting --set salt=1 --ops 100 --quiet", "--set salt=1");
  expect_usage_error("run hot-partition --impl mitigated --set partitions=8 --set salt=9 --ops 100 --quiet",
                     "--set salt: must be in [2, partitions]");
}

TEST(cli_usage, an_unwritable_output_exits_2_before_running) {
  expect_usage_error("run calibrate --json /nonexistent-hotshard-dir/r.json", "--json");
  expect_usage_error("run calibrate --md " + fs::temp_directory_path().string(), "--md");
}

TEST(cli_usage, an_unknown_flag_exits_2_naming_it) {
  expect_usage_error("run calibrate --bogus-flag 1", "--bogus-flag");
}

TEST(cli_usage, help_works_on_every_verb) {
  for (const char* verb : {"", "list", "run", "suite", "trace", "trace gen", "trace stats", "compare"}) {
    const auto o = bench(std::string(verb) + " --help");
    EXPECT_EQ(o.status, 0) << verb;
    EXPECT_NE(o.output.find("Usage"), std::string::npos) << verb << "\n" << o.output;
  }
}

TEST(cli_list, shows_every_designed_scenario) {
  const auto o = bench("list");
  ASSERT_EQ(o.status, 0);
  for (const char* s : {"counter", "keyed-counter", "sketch", "herd", "cache", "queue", "write-buffer",
                        "hot-partition", "calibrate"})
    EXPECT_NE(o.output.find(std::string("  ") + s + "  "), std::string::npos) << s;
}

TEST(cli_run, calibrate_writes_a_valid_results_file_and_compare_reads_it) {
  const auto json = scratch("cal.json"), csv = scratch("cal.csv"), md = scratch("cal.md");
  const auto o = bench("run calibrate --ops 4000 --repetitions 2 --threads 1,2 --quiet --json " + json.string() +
                       " --csv " + csv.string() + " --md " + md.string());
  ASSERT_EQ(o.status, 0) << o.output;
  std::ifstream in(json);
  const auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["schema"], "hotshard.results/1");
  EXPECT_EQ(j["tool"]["name"], "hotshard-bench");
  // The commit the binary was built from, stamped at build time (not at configure time).
  const std::string git = j["tool"]["git"];
  const auto head = run_shell("git -C '" HOTSHARD_SOURCE_DIR "' rev-parse --short HEAD 2>/dev/null");
  if (head.status == 0 && !head.output.empty()) {
    EXPECT_EQ(git.substr(0, git.find('-')), head.output.substr(0, head.output.find('\n'))) << git;
  } else {
    EXPECT_EQ(git, "unknown");
  }
  EXPECT_FALSE(j["machine"]["allocator"].get<std::string>().empty());
  EXPECT_EQ(j["config"]["ops"], 4000);
  ASSERT_EQ(j["results"].size(), 5u * 2u * 2u);  // impls x threads x repetitions
  for (const auto& r : j["results"]) {
    EXPECT_EQ(r["ops"], 4000) << r.dump();
    EXPECT_GT(r["ops_per_sec"].get<double>(), 0.0);
    for (const char* k : {"p50", "p90", "p99", "p999", "max"}) EXPECT_TRUE(r["latency_ns"].contains(k));
  }
  EXPECT_TRUE(fs::file_size(csv) > 0 && fs::file_size(md) > 0);

  const auto c = bench("compare " + json.string() + " " + json.string());
  EXPECT_EQ(c.status, 0) << c.output;
  EXPECT_NE(c.output.find("1.000"), std::string::npos) << c.output;
  expect_usage_error("compare " + json.string() + " /nonexistent-hotshard.json", "/nonexistent-hotshard.json");
}

TEST(cli_suite, writes_results_csv_and_summary_into_the_out_dir) {
  const auto dir = scratch("suite");
  const auto o = bench("suite --quick --scenarios calibrate --repetitions 1 --no-plots --quiet --out " + dir.string());
  ASSERT_EQ(o.status, 0) << o.output;
  for (const char* f : {"results.json", "results.csv", "summary.md"}) EXPECT_TRUE(fs::exists(dir / f)) << f;
  std::ifstream md(dir / "summary.md");
  const std::string text((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("Machine limits"), std::string::npos);
  EXPECT_NE(text.find("suite --quick"), std::string::npos);  // the exact command line
}

TEST(cli_trace, gen_then_stats_round_trips_the_record_count) {
  for (const char* format : {"text", "binary"}) {
    const auto file = scratch(std::string("t.") + format);
    const auto g = bench("trace gen zipf:n=1000,s=1.1 --ops 20000 --threads 2 --seed 3 --format " +
                         std::string(format) + " --out " + file.string());
    ASSERT_EQ(g.status, 0) << g.output;
    const auto s = bench("trace stats --json " + file.string());
    ASSERT_EQ(s.status, 0) << s.output;
    const auto j = nlohmann::json::parse(s.output);
    EXPECT_EQ(j["records"], 20000);
    EXPECT_LE(j["distinct_keys"].get<int>(), 1000);
  }
}

// hot-partition on a trace replays the trace's own keys and ops, in order,
// with no phases on top: every op reaches the unmitigated store once, and the
// reads are exactly the trace's gets (not read_fraction's share).
TEST(cli_trace, hot_partition_replays_a_traces_own_keys_and_ops) {
  const auto file = scratch("hp.trace");
  const auto g = bench("trace gen zipf:n=1000,s=1.2 --ops 20000 --threads 1 --seed 3 --format text --out " +
                       file.string());
  ASSERT_EQ(g.status, 0) << g.output;
  std::ifstream in(file);
  std::uint64_t gets = 0;
  for (std::string line; std::getline(in, line);) gets += line.rfind("get ", 0) == 0 ? 1 : 0;
  ASSERT_GT(gets, 0u);
  const auto out = scratch("hp.json");
  const auto r = bench("run hot-partition --impl unmitigated --threads 1 --ops 20000 --repetitions 1 --quiet "
                       "--workload trace:path=" + file.string() + " --json " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream f(out);
  const auto m = nlohmann::json::parse(f)["results"][0]["metrics"];
  std::uint64_t offered = 0;
  for (const auto& n : m["partition_ops"]) offered += n.get<std::uint64_t>();
  EXPECT_EQ(offered, 20000u);
  EXPECT_EQ(m["reads"].get<std::uint64_t>(), gets);
  EXPECT_EQ(m["lost"].get<std::int64_t>(), 0);
  EXPECT_TRUE(m["phases"].is_string()) << m["phases"];
}

TEST(cli_trace, bad_trace_input_exits_2) {
  expect_usage_error("trace stats /nonexistent-hotshard.trace", "trace stats");
  expect_usage_error("trace gen zipf:n=10 --ops 5 --format xml --out " + scratch("x").string(), "--format: 'xml'");
  expect_usage_error("trace gen zipf:n=10 --out " + scratch("x").string(), "--ops");
  expect_usage_error("trace gen bogus:n=1 --ops 5 --out " + scratch("x").string(), "SPEC");
  expect_usage_error("trace", "gen, stats");
}

TEST(cli_suite, a_run_that_overstays_is_reported_as_hung_and_partial_results_are_kept) {
  const auto dir = scratch("hung");
  // A 0.05 s allowance for 2 s runs: the watchdog must fire on the first one.
  const auto o = bench("suite --quick --scenarios calibrate --repetitions 1 --no-plots --quiet --out " + dir.string(),
                       "HOTSHARD_RUN_TIMEOUT=0.05");
  EXPECT_EQ(o.status, 1) << o.output;
  EXPECT_NE(o.output.find("calibrate impl="), std::string::npos) << o.output;  // the first run (impls are shuffled)
  EXPECT_NE(o.output.find("did not finish in time"), std::string::npos) << o.output;
  std::ifstream in(dir / "results.json");
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j["errors"].size(), 1u);
  EXPECT_NE(j["errors"][0]["message"].get<std::string>().find("hung"), std::string::npos);
}

namespace {
std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST(cli_suite, runs_the_fidelity_self_check_and_shows_its_verdict_per_check) {
  const auto dir = scratch("fidelity");
  const auto o = bench("suite --quick --scenarios calibrate,fidelity --repetitions 1 --no-plots --quiet --out " +
                           dir.string(),
                       "HOTSHARD_REAL_TRACE=");
  ASSERT_EQ(o.status, 0) << o.output;
  const auto j = nlohmann::json::parse(read_all(dir / "results.json"));
  ASSERT_FALSE(j["results"].empty());
  EXPECT_EQ(j["results"][0]["scenario"], "fidelity");  // first, before calibrate
  EXPECT_EQ(j["config"]["pairing"], "interleaved");
  std::size_t checks = 0;
  for (const auto& r : j["results"])
    if (r["scenario"] == "fidelity") {
      for (const auto& c : r["metrics"]["checks"]) {
        EXPECT_TRUE(c["pass"].is_boolean());
        EXPECT_GT(c["tolerance"].get<double>(), -1.0);
        ++checks;
      }
      EXPECT_GT(r["latency_ns"]["timer_cost_ns"].get<double>(), 0.0);  // beside the percentiles
    }
  EXPECT_GE(checks, 4u * 1 + 1);
  const std::string md = read_all(dir / "summary.md");
  EXPECT_NE(md.find("## Fidelity self-check: "), std::string::npos) << md;
  EXPECT_NE(md.find("spin/throughput @1"), std::string::npos) << md;
  EXPECT_NE(md.find("tiny/below_timer @1"), std::string::npos) << md;
  EXPECT_NE(md.find("Repetitions are paired"), std::string::npos);
  EXPECT_NE(md.find("timer cost / resolution"), std::string::npos);
}

TEST(cli_suite, anchors_merge_the_results_files_the_script_writes_and_never_fail_the_suite) {
  // A stand-in anchors.sh: copies two results files into the directory it is
  // given, one of a scenario the suite runs (calibrate: merged) and one of a
  // scenario it does not (the same record as `herd`: left out, since summary.md
  // and headline.md describe only the scenarios of the run).
  const auto one = scratch("anchor-one.json");
  ASSERT_EQ(bench("run calibrate --impl null --threads 1 --ops 2000 --repetitions 1 --quiet --json " + one.string())
                .status,
            0);
  auto other_doc = nlohmann::json::parse(read_all(one));
  other_doc["results"][0]["scenario"] = "herd";
  const auto other = scratch("anchor-other.json");
  std::ofstream(other) << other_doc.dump();
  const auto good = scratch("anchors-good.sh");
  std::ofstream(good) << "#!/bin/bash\n[ \"$1\" = --out ] || exit 9\nmkdir -p \"$2\"\ncp '" << one.string()
                      << "' \"$2/java.json\"\ncp '" << other.string() << "' \"$2/go.json\"\n"
                      << "echo not-json > \"$2/notes.json\"\n";
  const auto bad = scratch("anchors-bad.sh");
  std::ofstream(bad) << "#!/bin/bash\nexit 3\n";
  const std::string args =
      "suite --quick --scenarios calibrate --repetitions 1 --duration 0.02 --no-plots --anchors --out ";

  const auto dir = scratch("anchored");
  const auto o = bench(args + dir.string(), "HOTSHARD_REAL_TRACE= HOTSHARD_ANCHORS_SCRIPT='" + good.string() + "'");
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_NE(o.output.find("merged 1 records"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("left out 1 records of scenarios this suite did not run (herd)"), std::string::npos)
      << o.output;
  const auto j = nlohmann::json::parse(read_all(dir / "results.json"));
  EXPECT_EQ(j["config"]["anchors"]["status"], "ran");
  EXPECT_EQ(j["config"]["anchors"]["records"], 1);
  EXPECT_EQ(j["config"]["anchors"]["left_out"], nlohmann::json({{"herd", 1}}));
  for (const auto& r : j["results"]) EXPECT_NE(r["scenario"], "herd");

  const auto failing = bench(args + scratch("anchored-bad").string(),
                             "HOTSHARD_REAL_TRACE= HOTSHARD_ANCHORS_SCRIPT='" + bad.string() + "'");
  EXPECT_EQ(failing.status, 0) << failing.output;
  EXPECT_NE(failing.output.find("failed"), std::string::npos) << failing.output;

  const auto absent = bench(args + scratch("anchored-none").string(),
                            "HOTSHARD_REAL_TRACE= HOTSHARD_ANCHORS_SCRIPT=/nonexistent/anchors.sh");
  EXPECT_EQ(absent.status, 0) << absent.output;
  EXPECT_NE(absent.output.find("does not exist"), std::string::npos) << absent.output;
}

TEST(cli_suite, anchors_run_one_round_per_repetition_so_driver_ratios_are_paired) {
  // A stand-in anchors.sh that writes down how it was called.
  const auto called = scratch("anchors-args.txt");
  const auto script = scratch("anchors-args.sh");
  std::ofstream(script) << "#!/bin/bash\necho \"$*\" > '" << called.string() << "'\n";
  const auto dir = scratch("anchored-rounds");
  const auto o = bench("suite --quick --scenarios calibrate --repetitions 2 --duration 0.02 --no-plots --anchors --out " +
                           dir.string(),
                       "HOTSHARD_REAL_TRACE= HOTSHARD_ANCHORS_SCRIPT='" + script.string() + "'");
  ASSERT_EQ(o.status, 0) << o.output;
  EXPECT_EQ(read_all(called), "--out " + (dir / "anchors").string() + " --rounds 2\n");
  EXPECT_EQ(nlohmann::json::parse(read_all(dir / "results.json"))["config"]["anchors"]["rounds"], 2);
}

TEST(cli_suite, a_failing_real_trace_step_is_reported_and_the_suite_goes_on) {
  // A trace path that cannot be read stands in for a reader that is missing.
  const auto dir = scratch("trace-step");
  const auto o = bench("suite --quick --scenarios calibrate,sketch --repetitions 1 --duration 0.02 --no-plots --quiet "
                       "--out " + dir.string(),
                       "HOTSHARD_REAL_TRACE=/nonexistent/web07.trace.xz HOTSHARD_RUN_TIMEOUT=300");
  const auto j = nlohmann::json::parse(read_all(dir / "results.json"));
  bool reported = false;
  for (const auto& e : j.value("errors", nlohmann::json::array()))
    reported = reported || (e.value("optional", false) &&
                            e["scenario"].get<std::string>().find("trace:path=/nonexistent") != std::string::npos);
  EXPECT_TRUE(reported) << o.output;
  EXPECT_EQ(o.status, 0) << o.output;  // optional: the C++ suite does not fail for it
  bool sketch_ran = false;
  for (const auto& r : j["results"]) sketch_ran = sketch_ran || r["scenario"] == "sketch";
  EXPECT_TRUE(sketch_ran);
}

TEST(cli_suite, duration_sets_every_time_bound_step_and_is_recorded) {
  const auto dir = scratch("suite-duration");
  const auto o = bench("suite --quick --scenarios calibrate --repetitions 1 --duration 0.02 --no-plots --quiet --out " +
                       dir.string());
  ASSERT_EQ(o.status, 0) << o.output;
  const auto j = nlohmann::json::parse(read_all(dir / "results.json"));
  EXPECT_DOUBLE_EQ(j["config"]["duration_seconds"].get<double>(), 0.02);
  ASSERT_FALSE(j["config"]["steps"].empty());
  for (const auto& st : j["config"]["steps"]) {
    if (st.contains("duration_seconds")) {
      EXPECT_DOUBLE_EQ(st["duration_seconds"].get<double>(), 0.02) << st.dump();
    }
  }
}

TEST(cli_suite, ck_ring_is_left_out_where_its_threads_exceed_the_cores_and_the_summary_says_why) {
  // HOTSHARD_SUITE_PLAN_ONLY=1: the plan is written, nothing runs.
  const auto dir = scratch("suite-plan");
  const auto o = bench("suite --quick --scenarios queue --no-plots --quiet --out " + dir.string(),
                       "HOTSHARD_SUITE_PLAN_ONLY=1 HOTSHARD_REAL_TRACE=");
  ASSERT_EQ(o.status, 0) << o.output;
  const auto j = nlohmann::json::parse(read_all(dir / "results.json"));
  EXPECT_TRUE(j["results"].empty());
  const unsigned cores = std::max(2u, std::thread::hardware_concurrency());
  const auto consumers_of = [](const nlohmann::json& knobs) {
    return knobs.contains("consumers") ? static_cast<unsigned>(std::stoul(knobs["consumers"].get<std::string>())) : 1u;
  };
  bool planned_16p = false;
  for (const auto& st : j["config"]["steps"]) {
    const bool has_ck = std::find(st["impls"].begin(), st["impls"].end(), "ck_ring") != st["impls"].end();
    for (const auto& t : st["threads"]) {
      if (has_ck) {
        EXPECT_LE(t.get<unsigned>() + consumers_of(st["knobs"]), cores) << st.dump();
      }
      planned_16p = planned_16p || (t.get<unsigned>() == 16 && !has_ck);
    }
  }
  EXPECT_TRUE(planned_16p);  // the others still run 16 producers
  const auto& left = j["config"]["excluded"];
  bool left_16p = false;
  for (const auto& x : left) {
    EXPECT_EQ(x["impl"], "ck_ring");
    EXPECT_GT(x["threads"].get<unsigned>() + consumers_of(x["knobs"]), cores) << x.dump();
    EXPECT_NE(x["reason"].get<std::string>().find("earlier producer"), std::string::npos);
    left_16p = left_16p || x["threads"] == 16;
  }
  if (cores < 17) {
    EXPECT_TRUE(left_16p) << left.dump();
  }
  const std::string md = read_all(dir / "summary.md");
  EXPECT_EQ(md.find("## Left out of this run") != std::string::npos, !left.empty()) << md;
  EXPECT_EQ(j["config"]["harness_cost"].get<std::string>().rfind("subtracted", 0), 0u);
}

TEST(cli_run, queue_reports_producers_consumers_paths_and_whether_depth_exceeded_capacity) {
  // bounded_queue: bulk API, true capacity; tbb_bounded: no bulk API (its
  // adapter loops); moodycamel: capacity a minimum, so only the flag's
  // consistency with max_depth is certain.
  // (Bulk: the two paths only; moodycamel's is the same as bounded_queue's.)
  for (const char* bulk : {"0", "8"}) {
    const bool single = std::string(bulk) == "0";
    const auto json = scratch(std::string("queue") + bulk + ".json");
    const auto o = bench(std::string("run queue --impl bounded_queue,tbb_bounded") + (single ? ",moodycamel" : "") +
                         " --threads 2 --set consumers=2 --set capacity=64 --set bulk=" + bulk +
                         " --ops 1000 --repetitions 1 --quiet --json " + json.string());
    ASSERT_EQ(o.status, 0) << o.output;
    const auto j = nlohmann::json::parse(read_all(json));
    ASSERT_EQ(j["results"].size(), single ? 3u : 2u);
    const std::uint64_t batch = single ? 1 : 8;
    for (const auto& r : j["results"]) {
      const auto& m = r["metrics"];
      const std::string impl = r["impl"];
      EXPECT_EQ(m["producers"], 2) << impl;
      EXPECT_EQ(m["consumers"], 2) << impl;
      EXPECT_EQ(m["threads_total"], 4) << impl;
      EXPECT_EQ(r["ops"], 1000 * batch) << impl;  // items, measured
      EXPECT_EQ(m["popped"], m["items"]) << impl;
      const std::string path = batch == 1 ? "single" : impl == "tbb_bounded" ? "single_loop" : "bulk";
      EXPECT_EQ(m["push_path"], path) << impl;
      EXPECT_EQ(m["pop_path"], path) << impl;
      const auto depth = m["max_depth"].get<std::uint64_t>();
      EXPECT_LE(depth, m["items"].get<std::uint64_t>()) << impl;
      const std::uint64_t slack = (2 - 1) * batch;
      EXPECT_EQ(m["exceeded_capacity"].get<bool>(), depth > m["capacity"].get<std::uint64_t>() + slack) << impl;
      if (impl == "bounded_queue" || impl == "tbb_bounded") {
        EXPECT_FALSE(m["exceeded_capacity"].get<bool>()) << impl << " depth " << depth;
      }
    }
  }
}

namespace {
// One 50 ms run of coalescing_cache on one key at 2 threads, β = 0, with
// `knobs` and refresh=`mode`: its one record.
nlohmann::json one_key_cache_record(const std::string& name, const std::string& knobs, const std::string& mode) {
  const auto json = scratch(name + "_" + mode + ".json");
  const auto o = bench("run cache --impl coalescing_cache --workload uniform:n=1 --threads 2 --set beta=0 " + knobs +
                       " --set refresh=" + mode + " --duration 0.05 --repetitions 1 --quiet --json " + json.string());
  EXPECT_EQ(o.status, 0) << o.output;
  if (o.status != 0) return nlohmann::json::object();
  const auto j = nlohmann::json::parse(read_all(json));
  EXPECT_EQ(j["results"].size(), 1u);
  return j["results"].empty() ? nlohmann::json::object() : j["results"][0];
}
}  // namespace

// refresh=async is Caffeine's refreshAfterWrite contract (the JVM driver's
// records are labelled with it): every refresh is handed to the refresh
// pool, none runs on a reading thread; inline hands none (and starts no
// pool). TTL 200 µs over a 50 ms run so that refreshes happen (nothing about
// their timing is asserted).
TEST(cli_run, cache_refresh_async_hands_every_refresh_to_the_refresh_pool) {
  expect_usage_error("run cache --set refresh=later --ops 10",
                     "--set refresh=later: 'later' is not accepted; accepted: one of inline, async");
  for (const std::string mode : {"inline", "async"}) {
    const auto r = one_key_cache_record("cache", "--set ttl_us=200 --set grace_us=10000000 --set loader_us=50", mode);
    ASSERT_TRUE(r.contains("metrics")) << mode;
    const auto& m = r["metrics"];
    EXPECT_EQ(m["refresh"], mode);
    const auto refreshes = m["refreshes"].get<std::uint64_t>();
    EXPECT_GT(refreshes, 0u) << mode;
    EXPECT_EQ(m["refresh_tasks"].get<std::uint64_t>(), mode == "async" ? refreshes : 0u) << mode;
    EXPECT_EQ(m["refresh_task_failures"], 0) << mode;
    if (mode == "async") {
      EXPECT_GE(m["refresh_threads"].get<std::uint64_t>(), 1u);
      EXPECT_LE(m["refresh_threads"].get<std::uint64_t>(), refreshes);
    } else {
      EXPECT_EQ(m["refresh_threads"], 0);
    }
    // One key that never leaves its grace: every load is the first miss's or a refresh's (an
    // async refresh still queued when the run ended loads after it: backend_calls_after_run).
    // Not every refresh loads: one that starts while the previous load's flight is still
    // registered (the entry stored, the flight not yet retired: more than the 200 µs TTL under
    // TSan) joins that flight, as single-flight should. So the loads are at most the gets that
    // asked for one, and at least one.
    const auto loads = m["backend_calls_warmup"].get<std::uint64_t>() + m["backend_calls"].get<std::uint64_t>() +
                       m["backend_calls_after_run"].get<std::uint64_t>();
    EXPECT_LE(loads, refreshes + m["misses"].get<std::uint64_t>()) << mode;
    EXPECT_GE(loads, 1u) << mode;
    if (mode == "inline") {
      EXPECT_EQ(m["backend_calls_after_run"], 0);
    }
  }
}

// backend_calls counts the measured window only, so that a driver whose
// warm-up is longer (the JVM's) is compared over the same span: one key whose
// TTL outlives the run is loaded once, in the warm-up, and never in the window.
TEST(cli_run, cache_counts_backend_calls_in_the_measured_window_only) {
  for (const std::string mode : {"inline", "async"}) {
    const auto r = one_key_cache_record("cache_window", "--set ttl_us=100000000 --set loader_us=10", mode);
    ASSERT_TRUE(r.contains("metrics")) << mode;
    const auto& m = r["metrics"];
    EXPECT_EQ(m["backend_calls"], 0) << mode;
    EXPECT_EQ(m.value("backend_calls_warmup", -1), 1) << mode;
    EXPECT_EQ(m.value("backend_calls_per_second", -1.0), 0.0) << mode;
    EXPECT_GT(r["ops"].get<std::uint64_t>(), 0u) << mode;
  }
}

TEST(cli_run, herd_accounts_for_every_call_and_its_late_arrivals) {
  // One thread: nobody can arrive after a flight of its own wave, so every
  // key is loaded exactly once and nothing is late.
  const auto one = scratch("herd1.json");
  auto o = bench("run herd --threads 1 --workload herd:keys=3,waves=4 --set loader_us=50 --repetitions 1 --quiet --json " +
                 one.string());
  ASSERT_EQ(o.status, 0) << o.output;
  auto j = nlohmann::json::parse(read_all(one));
  ASSERT_FALSE(j["results"].empty());
  for (const auto& r : j["results"]) {
    const auto& m = r["metrics"];
    EXPECT_EQ(m["late_arrivals"], 0) << r["impl"];
    EXPECT_EQ(m["late_leaders"], 0) << r["impl"];
    EXPECT_EQ(m["late_arrivals_per_wave"], nlohmann::json::array({0, 0, 0, 0})) << r["impl"];
    EXPECT_EQ(m["backend_calls"], 12) << r["impl"];
    EXPECT_DOUBLE_EQ(m["calls_per_wave"].get<double>(), 1.0) << r["impl"];
  }
  // More threads than cores: who is late varies, the accounting must not.
  const auto six = scratch("herd6.json");
  o = bench("run herd --threads 6 --workload herd:keys=3,waves=4 --set loader_us=2000 --repetitions 1 --quiet --json " +
            six.string());
  ASSERT_EQ(o.status, 0) << o.output;
  j = nlohmann::json::parse(read_all(six));
  for (const auto& r : j["results"]) {
    const auto& m = r["metrics"];
    const auto late = m["late_arrivals"].get<std::uint64_t>();
    const auto calls = m["backend_calls"].get<std::uint64_t>();
    ASSERT_EQ(m["late_arrivals_per_wave"].size(), 4u) << r["impl"];
    std::uint64_t sum = 0;
    for (const auto& w : m["late_arrivals_per_wave"]) sum += w.get<std::uint64_t>();
    EXPECT_EQ(sum, late) << r["impl"];
    EXPECT_LE(m["late_leaders"].get<std::uint64_t>(), late) << r["impl"];
    // Every call either ran the loader or was served by another's load.
    EXPECT_EQ(calls + m["waiters"].get<std::uint64_t>(), 6u * 4u * 3u) << r["impl"];
    // Each key's first flight is led by a caller that was not late, so the
    // loads beyond one per key are at least the late leaders.
    EXPECT_GE(calls, 12u + m["late_leaders"].get<std::uint64_t>()) << r["impl"];
  }
}

// Each scenario describes itself (scenario::metrics): a short run of every
// implementation of every built scenario may report only declared metrics,
// every must-be-zero metric is 0 (false), and the results document carries
// the same description as `list --json`. A metric added to a scenario's
// records without its declaration fails here.
// Issue 14: every sketch's memory and read cost beside its add throughput, so
// cms_per_thread's price (a sketch per thread, summed on every estimate) shows.
TEST(cli_run, sketch_reports_every_implementations_memory_and_estimate_cost) {
  const auto json = scratch("sketch_costs.json");
  const auto o = bench("run sketch --impl all --threads 2 --repetitions 1 --ops 4000 --quiet --json " + json.string());
  ASSERT_EQ(o.status, 0) << o.output;
  const auto doc = nlohmann::json::parse(read_all(json));
  std::set<std::string> impls;
  for (const auto& r : doc["results"]) {
    const std::string impl = r["impl"];
    impls.insert(impl);
    ASSERT_TRUE(r["metrics"].contains("memory_bytes") && r["metrics"].contains("estimate_ns")) << r.dump();
    EXPECT_GT(r["metrics"]["memory_bytes"].get<double>(), 0.0) << impl;
    EXPECT_GT(r["metrics"]["estimate_ns"].get<double>(), 0.0) << impl;
  }
  EXPECT_TRUE(impls.count("cms_per_thread") && impls.count("cms") && impls.count("hot_key_detector"));
}

TEST(cli_run, every_scenario_reports_only_declared_metrics_and_its_invariants_hold) {
  const auto listing = bench("list --json");
  ASSERT_EQ(listing.status, 0) << listing.output;
  const auto list = nlohmann::json::parse(listing.output);
  // Per scenario: what keeps a run of every implementation short.
  const std::map<std::string, std::string> fast = {
      {"herd", "--workload zipf:n=1000,s=0.99 --set loader_us=0 --ops 4000"},
      {"cache", "--ops 4000"},
      {"hot-partition", "--ops 4000"},
      {"queue", "--ops 2000"},
      {"write-buffer", "--ops 2000"},
      {"fidelity", "--ops 2000"}};
  for (const auto& s : list["scenarios"]) {
    if (!s["built"].get<bool>()) continue;
    const std::string name = s["name"];
    const auto it = fast.find(name);
    const auto json = scratch("described_" + name + ".json");
    const auto o = bench("run " + name + " --impl all --threads 2 --repetitions 1 --quiet " +
                         (it == fast.end() ? std::string("--ops 4000") : it->second) + " --json " + json.string());
    ASSERT_EQ(o.status, 0) << name << "\n" << o.output;
    const auto doc = nlohmann::json::parse(read_all(json));
    ASSERT_TRUE(doc.contains("scenarios") && doc["scenarios"].contains(name)) << name;
    auto described = s;
    described.erase("built");
    EXPECT_EQ(doc["scenarios"][name], described) << name;
    std::map<std::string, nlohmann::json> declared;
    for (const auto& m : s["metrics"]) declared[m["name"].get<std::string>()] = m;
    std::set<std::string> impls;
    for (const auto& r : doc["results"]) {
      const std::string impl = r["impl"];
      impls.insert(impl);
      for (const auto& [key, value] : r["metrics"].items()) {
        const auto d = declared.find(key);
        if (d == declared.end()) {
          ADD_FAILURE() << name << "/" << impl << " reports metric '" << key << "', which " << name
                        << " does not declare";
          continue;
        }
        if (d->second["must_be_zero"].get<bool>()) {
          EXPECT_TRUE(value == 0 || value == false) << name << "/" << impl << ": " << key << " = " << value.dump();
        }
      }
    }
    EXPECT_EQ(impls.size(), s["impls"].size()) << name;
  }
}
