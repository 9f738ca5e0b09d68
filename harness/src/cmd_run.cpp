// `list`, `run` and `compare`.
#include "cli.hpp"

#include <hotshard/harness/runner.hpp>

#include <hotshard/workloads/spec.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

namespace hotshard::harness::cli {

namespace fs = std::filesystem;

int list(bool json) {
  const auto& designed = designed_scenario_names();
  std::vector<std::string> names = designed;
  for (const auto& s : registered_scenarios())
    if (std::find(names.begin(), names.end(), s.name) == names.end()) names.push_back(s.name);
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& name : names) {
      const auto* s = find_scenario(name);
      nlohmann::json j = {{"name", name}, {"built", s != nullptr}};
      if (s) j.update(describe(*s));
      out.push_back(std::move(j));
    }
    std::cout << nlohmann::json{{"scenarios", out}, {"workloads", workloads::spec_help()}}.dump(2) << '\n';
    return 0;
  }
  std::cout << "Scenarios:\n";
  for (const auto& name : names) {
    const auto* s = find_scenario(name);
    if (!s) {
      std::cout << "  " << name << "  (not built yet)\n";
      continue;
    }
    std::cout << "  " << name << "  [" << s->family << "] " << s->description << '\n';
    if (!s->default_workload.empty()) std::cout << "      default workload: " << s->default_workload << '\n';
    if (!s->limit.empty()) std::cout << "      limit: calibrate " << s->limit << '\n';
    for (const auto& i : s->impls)
      std::cout << "      impl " << i.name << (i.ours ? " (ours)" : "") << " — " << i.description << '\n';
    for (const auto& k : s->knobs)
      std::cout << "      --set " << k.name << "=… (" << k.accepted() << "; default "
                << (k.default_value.empty() ? k.default_note : k.default_value) << ") — " << k.description << '\n';
    const auto& common = runner_metrics();
    for (const auto& m : s->metrics)
      if (std::none_of(common.begin(), common.end(), [&](const metric_info& c) { return c.name == m.name; }))
        std::cout << "      metric " << m.name << (m.unit.empty() ? "" : " [" + m.unit + "]")
                << (m.must_be_zero ? " (must be 0)" : "") << " — " << m.meaning << '\n';
  }
  std::cout << "\nEvery scenario's records may also carry the runner's metrics:\n";
  for (const auto& m : runner_metrics())
    std::cout << "  metric " << m.name << (m.unit.empty() ? "" : " [" + m.unit + "]") << " — " << m.meaning << '\n';
  std::cout << "\nWorkloads (--workload SPEC):\n" << workloads::spec_help() << '\n';
  return 0;
}

namespace {
std::vector<std::string> output_dirs(const run_args& a) {
  std::vector<std::string> dirs;
  for (const auto* p : {&a.json, &a.csv, &a.md})
    if (!p->empty()) {
      auto d = fs::path(*p).parent_path().string();
      dirs.push_back(d.empty() ? "." : d);
    }
  return dirs;
}
}  // namespace

int run(const invocation& inv, const run_args& a) {
  const scenario& s = resolve_scenario(a.scenario);
  run_options o;
  const auto impls = resolve_impls(s, a.impl);
  if (!a.threads.empty()) o.threads = parse_threads("--threads", a.threads);
  o.workload = resolve_workload(s, a.workload);
  if (!a.duration.empty() && !a.ops.empty())
    throw usage_error("--duration and --ops exclude each other; give one (time-bound or count-bound run)");
  if (!a.duration.empty()) o.duration_seconds = parse_positive_seconds("--duration", a.duration);
  if (!a.ops.empty()) o.ops = parse_count("--ops", a.ops, 1);
  if (!a.repetitions.empty())
    o.repetitions = static_cast<unsigned>(std::min<std::uint64_t>(parse_count("--repetitions", a.repetitions, 1), 1000));
  if (!a.seed.empty()) o.seed = parse_count("--seed", a.seed, 0);
  if (!a.rate.empty()) o.rate = parse_non_negative("--rate", a.rate);
  o.knobs = resolve_knobs(s, a.sets);
  o.quiet = a.quiet;
  // Check the outputs before minutes of work, not after.
  if (!a.json.empty()) check_writable("--json", a.json);
  if (!a.csv.empty()) check_writable("--csv", a.csv);
  if (!a.md.empty()) check_writable("--md", a.md);

  nlohmann::json config = {{"verb", "run"},
                           {"scenario", s.name},
                           {"impls", impls},
                           {"threads", o.threads},
                           {"workload", o.workload},
                           {"repetitions", o.repetitions},
                           {"pairing", "interleaved"},  // rep k of every impl (seed-shuffled) before rep k+1
                           {"seed", o.seed},
                           {"rate", o.rate},
                           {"knobs", o.knobs}};
  if (o.ops > 0)
    config["ops"] = o.ops;
  else
    config["duration_seconds"] = o.duration_seconds;
  config["harness_cost"] = harness_cost_method;
  auto doc = new_document(inv, std::move(config));
  doc.scenarios[s.name] = describe(s);

  const std::size_t runs = impls.size() * o.threads.size() * o.repetitions;
  std::mutex results_mu;
  progress p(a.quiet, runs, static_cast<double>(runs) * expected_run_seconds(o));
  try {
    execute(s, impls, o, p, doc.results, results_mu);
  } catch (const usage_error&) {
    throw;
  } catch (const std::exception& e) {
    throw run_failure(s.name + ": " + e.what());
  }

  const auto rows = summarize(doc.results, limit_of, calibration_near(output_dirs(a)));
  std::cout << to_text_table(rows);
  if (!a.json.empty()) write_text_file(a.json, to_json(doc).dump(2) + "\n");
  if (!a.csv.empty()) write_text_file(a.csv, to_csv(rows));
  if (!a.md.empty()) write_text_file(a.md, to_markdown(doc, rows, inv.command_line));
  return 0;
}

int compare_files(const std::string& old_path, const std::string& new_path) {
  const auto a = read_results_file(old_path);
  const auto b = read_results_file(new_path);
  std::cout << "old: " << old_path << " (" << a.started << ", git " << a.tool.git << ")\n"
            << "new: " << new_path << " (" << b.started << ", git " << b.tool.git << ")\n";
  if (a.machine.cpu != b.machine.cpu || a.machine.cores != b.machine.cores)
    std::cout << "warning: the two files come from different machines; ratios mix hardware and code\n";
  std::cout << to_text(compare(a, b));
  return 0;
}

}  // namespace hotshard::harness::cli
