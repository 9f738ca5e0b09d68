// hotshard.results/1: every field of the format, summaries (median, ratio to
// best, % of limit), compare ratios, the registry and knob parsing.
#include <hotshard/harness/results.hpp>
#include <hotshard/harness/scenario.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace hotshard::harness;

namespace {
result_record rec(std::string scenario, std::string impl, unsigned threads, unsigned rep, double ops_per_sec) {
  result_record r;
  r.scenario = std::move(scenario);
  r.impl = std::move(impl);
  r.threads = threads;
  r.workload = "zipf:n=1000,s=0.99";
  r.repetition = rep;
  r.ops = 1000;
  r.seconds = 1000 / ops_per_sec;
  r.ops_per_sec = ops_per_sec;
  r.latency = {10, 20, 30, 40, 50};
  r.metrics = {{"expected", 1000}, {"observed", 1000}};
  return r;
}

results_document doc_of(std::vector<result_record> rs) {
  results_document d;
  d.tool = this_tool();
  d.machine = this_machine("jemalloc");
  d.started = utc_now_iso8601();
  d.config = {{"verb", "run"}};
  d.results = std::move(rs);
  return d;
}
}  // namespace

TEST(results_json, carries_every_field_of_the_format) {
  const auto j = to_json(doc_of({rec("counter", "striped", 2, 0, 5e6)}));
  EXPECT_EQ(j["schema"], "hotshard.results/1");
  for (const char* k : {"name", "version", "git"}) EXPECT_TRUE(j["tool"][k].is_string()) << k;
  EXPECT_EQ(j["tool"]["name"], "hotshard-bench");
  for (const char* k : {"cpu", "os", "compiler", "allocator"}) EXPECT_TRUE(j["machine"][k].is_string()) << k;
  EXPECT_TRUE(j["machine"]["cores"].is_number_unsigned());
  EXPECT_EQ(j["machine"]["allocator"], "jemalloc");
  EXPECT_TRUE(j["started"].is_string());
  EXPECT_EQ(j["started"].get<std::string>().size(), 20u);  // 2026-11-22T10:00:00Z
  EXPECT_TRUE(j["config"].is_object());
  const auto& r = j["results"].at(0);
  for (const char* k : {"scenario", "impl", "workload"}) EXPECT_TRUE(r[k].is_string()) << k;
  for (const char* k : {"threads", "repetition", "ops"}) EXPECT_TRUE(r[k].is_number_unsigned()) << k;
  for (const char* k : {"seconds", "ops_per_sec"}) EXPECT_TRUE(r[k].is_number()) << k;
  for (const char* k : {"p50", "p90", "p99", "p999", "max"}) EXPECT_TRUE(r["latency_ns"][k].is_number()) << k;
  EXPECT_TRUE(r["metrics"].is_object());
}

TEST(results_json, a_document_survives_a_round_trip) {
  auto a = rec("counter", "striped", 2, 1, 5e6);
  a.knobs = {{"cells", "8"}};
  a.latency.timer_cost_ns = 21.5;
  a.latency.below_timer = true;
  const auto d = doc_of({a});
  const auto back = document_from_json(nlohmann::json::parse(to_json(d).dump()));
  ASSERT_EQ(back.results.size(), 1u);
  EXPECT_EQ(back.results[0].impl, "striped");
  EXPECT_EQ(back.results[0].repetition, 1u);
  EXPECT_EQ(back.results[0].latency.p999, 40u);
  EXPECT_EQ(back.results[0].knobs.at("cells"), "8");
  EXPECT_DOUBLE_EQ(back.results[0].latency.timer_cost_ns, 21.5);
  EXPECT_TRUE(back.results[0].latency.below_timer);
  EXPECT_EQ(back.machine.allocator, "jemalloc");
}

TEST(results_json, a_missing_field_or_wrong_schema_is_a_usage_error) {
  auto j = to_json(doc_of({rec("counter", "a", 1, 0, 1)}));
  auto no_ops = j;
  no_ops["results"][0].erase("ops");
  EXPECT_THROW((void)document_from_json(no_ops), usage_error);
  auto wrong = j;
  wrong["schema"] = "other/2";
  EXPECT_THROW((void)document_from_json(wrong), usage_error);
}

TEST(results_summary, gives_median_min_max_ratio_to_best_and_percent_of_limit) {
  std::vector<result_record> rs = {
      rec("counter", "fast", 1, 0, 10), rec("counter", "fast", 1, 1, 30), rec("counter", "fast", 1, 2, 20),
      rec("counter", "slow", 1, 0, 5),  rec("counter", "slow", 1, 1, 5),  rec("counter", "slow", 1, 2, 5),
      rec("calibrate", "private_increment", 1, 0, 200), rec("calibrate", "private_increment", 1, 1, 100),
      rec("calibrate", "private_increment", 1, 2, 400)};
  const auto rows = summarize(rs, [](const std::string& s) { return s == "counter" ? "private_increment" : ""; });
  ASSERT_EQ(rows.size(), 3u);
  const auto& fast = rows[0];
  EXPECT_EQ(fast.impl, "fast");
  EXPECT_DOUBLE_EQ(fast.median, 20);
  EXPECT_DOUBLE_EQ(fast.min, 10);
  EXPECT_DOUBLE_EQ(fast.max, 30);
  EXPECT_DOUBLE_EQ(fast.ratio_to_best, 1.0);
  ASSERT_TRUE(fast.percent_of_limit.has_value());
  EXPECT_DOUBLE_EQ(*fast.percent_of_limit, 10.0);  // 20 of a 200 median
  EXPECT_DOUBLE_EQ(rows[1].ratio_to_best, 0.25);
  EXPECT_FALSE(rows[2].percent_of_limit.has_value());  // calibrate is not a fraction of itself
}

TEST(results_summary, the_limit_comes_from_elsewhere_when_the_run_has_none) {
  const std::vector<result_record> rs = {rec("counter", "a", 2, 0, 50)};
  const std::vector<result_record> cal = {rec("calibrate", "contended_rmw", 2, 0, 100),
                                          rec("calibrate", "contended_rmw", 8, 0, 1000)};
  const auto rows = summarize(rs, [](const std::string&) { return "contended_rmw"; }, cal);
  ASSERT_TRUE(rows[0].percent_of_limit.has_value());
  EXPECT_DOUBLE_EQ(*rows[0].percent_of_limit, 50.0);
}

TEST(results_summary, a_limit_is_never_borrowed_from_another_thread_count) {
  // Limits at 2 and 8 threads say nothing about 4 or 16.
  const std::vector<result_record> rs = {rec("counter", "a", 4, 0, 50), rec("counter", "a", 16, 0, 50)};
  const std::vector<result_record> cal = {rec("calibrate", "contended_rmw", 2, 0, 100),
                                          rec("calibrate", "contended_rmw", 8, 0, 1000)};
  const auto rows = summarize(rs, [](const std::string&) { return "contended_rmw"; }, cal);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[0].percent_of_limit.has_value());
  EXPECT_FALSE(rows[1].percent_of_limit.has_value());
}

TEST(results_summary, a_limit_measured_with_more_threads_than_cores_is_not_shown) {
  auto over = rec("calibrate", "private_increment", 4, 0, 100);
  over.metrics["cores"] = 2;
  auto within = rec("calibrate", "private_increment", 2, 0, 100);
  within.metrics["cores"] = 2;
  const auto rows = summarize({rec("counter", "a", 4, 0, 50), rec("counter", "a", 2, 0, 50), over, within},
                              [](const std::string& s) { return s == "counter" ? "private_increment" : ""; });
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].threads, 4u);
  EXPECT_FALSE(rows[0].percent_of_limit.has_value());
  ASSERT_TRUE(rows[1].percent_of_limit.has_value());
  EXPECT_DOUBLE_EQ(*rows[1].percent_of_limit, 50.0);
}

TEST(results_summary, metrics_are_medians_over_repetitions_not_repetition_0) {
  std::vector<result_record> rs;
  const double lost[] = {9, 1, 2};
  const double lat_cost[] = {20, 30, 25};
  for (unsigned rep = 0; rep < 3; ++rep) {
    auto r = rec("queue", "q", 1, rep, 100);
    r.metrics = {{"max_depth", std::uint64_t{100} * (rep + 1)}, {"ratio", lost[rep]}, {"name", "rep" + std::to_string(rep)}};
    r.latency.timer_cost_ns = lat_cost[rep];
    r.latency.mean_ns = 50;
    rs.push_back(r);
  }
  const auto rows = summarize(rs, [](const std::string&) { return ""; });
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].metrics["max_depth"].get<std::uint64_t>(), 200u);
  EXPECT_DOUBLE_EQ(rows[0].metrics["ratio"].get<double>(), 2.0);
  EXPECT_EQ(rows[0].metrics["name"], "rep0");  // not a number: repetition 0's
  EXPECT_DOUBLE_EQ(rows[0].latency.timer_cost_ns, 25.0);
  EXPECT_TRUE(rows[0].latency.below_timer);  // a 50 ns mean is under 3 reads of a 25 ns clock
}

TEST(results_compare, gives_new_over_old_per_group_and_marks_absent_rows) {
  const auto old_doc = doc_of({rec("counter", "a", 1, 0, 100), rec("counter", "b", 1, 0, 10)});
  const auto new_doc = doc_of({rec("counter", "a", 1, 0, 150), rec("counter", "c", 1, 0, 7)});
  const auto rows = compare(old_doc, new_doc);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_DOUBLE_EQ(*rows[0].ratio(), 1.5);
  EXPECT_FALSE(rows[1].ratio().has_value());  // b only in old
  EXPECT_FALSE(rows[1].new_median.has_value());
  EXPECT_FALSE(rows[2].old_median.has_value());  // c only in new
  EXPECT_NE(to_text(rows).find("1.500"), std::string::npos);
}

TEST(results_csv_and_markdown, come_from_the_same_rows) {
  const auto d = doc_of({rec("counter", "a", 1, 0, 100), rec("counter", "a", 1, 1, 300)});
  const auto rows = summarize(d.results, {});
  const auto csv = to_csv(rows);
  EXPECT_NE(csv.find("counter,a,1,"), std::string::npos);
  EXPECT_NE(csv.find(",200,100,300,"), std::string::npos);  // median, min, max
  const auto md = to_markdown(d, rows, "hotshard-bench run counter");
  EXPECT_NE(md.find("`hotshard-bench run counter`"), std::string::npos);
  EXPECT_NE(md.find(d.machine.cpu), std::string::npos);
  EXPECT_NE(md.find("## counter"), std::string::npos);
}

TEST(results_files, an_output_in_a_missing_directory_is_a_usage_error) {
  EXPECT_THROW(check_writable("--json", "/nonexistent-dir-hotshard/x.json"), usage_error);
  EXPECT_THROW(check_writable("--json", std::filesystem::temp_directory_path().string()), usage_error);
  const auto p = (std::filesystem::temp_directory_path() / "hotshard_test_results_out.json").string();
  EXPECT_NO_THROW(check_writable("--json", p));
  write_text_file(p, "{}\n");
  std::ifstream in(p);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "{}");
  std::filesystem::remove(p);
}

// A scenario's knobs, declared once: validation names the knob, the value and
// what is accepted; typed reads give the --set value or the declared default.
TEST(registry, knobs_are_validated_and_read_typed_with_their_declared_defaults) {
  scenario s;
  s.name = "typed";
  s.knobs = {integer_knob("n", 7, 1, 100, "an integer"), real_knob("f", 0.25, 0, 1, "a real"),
             choice_knob("mode", "a", {"a", "b"}, "a choice"), flag_knob("on", false, "a flag"),
             integer_knob("auto", 1, 1, 9, "computed").computed("depends on the workload")};
  const auto error_of = [&](const std::string& knob, const std::string& value) -> std::string {
    const auto k = std::find_if(s.knobs.begin(), s.knobs.end(), [&](const knob_info& x) { return x.name == knob; });
    try {
      k->validate(value);
    } catch (const usage_error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of("n", "42"), "");
  EXPECT_EQ(error_of("n", "0"), "--set n=0: '0' is not accepted; accepted: an integer in [1, 100]");
  EXPECT_NE(error_of("n", "x1").find("'x1' is not accepted"), std::string::npos);
  EXPECT_NE(error_of("n", "-1"), "");
  EXPECT_NE(error_of("f", "1.5").find("a number in [0, 1]"), std::string::npos);
  EXPECT_NE(error_of("f", "nan"), "");
  EXPECT_NE(error_of("mode", "c").find("one of a, b"), std::string::npos);
  EXPECT_NE(error_of("on", "yes"), "");
  EXPECT_EQ(error_of("on", "true"), "");

  run_options o;
  o.knobs = {{"n", "42"}, {"on", "true"}};
  const run_request r{o, s.name, "impl", 1, 0, "none", 1, &s};
  EXPECT_EQ(r.integer("n"), 42u);
  EXPECT_DOUBLE_EQ(r.real("f"), 0.25);  // the declared default
  EXPECT_EQ(r.text("mode"), "a");
  EXPECT_TRUE(r.flag("on"));
  EXPECT_FALSE(r.integer_if_set("auto").has_value());  // computed: the scenario chooses
  EXPECT_THROW((void)r.integer("auto"), std::logic_error);
  EXPECT_THROW((void)r.real("n"), std::logic_error);       // declared integer
  EXPECT_THROW((void)r.integer("nope"), std::logic_error);  // not declared
  o.knobs["auto"] = "3";
  EXPECT_EQ(r.integer_if_set("auto"), 3u);
  o.knobs["n"] = "1000";  // a plan that skipped the CLI is still checked
  EXPECT_THROW((void)r.integer("n"), usage_error);
}

TEST(registry, knob_declarations_reject_a_default_outside_their_range) {
  EXPECT_THROW((void)integer_knob("n", 0, 1, 10, ""), std::logic_error);
  EXPECT_THROW((void)real_knob("f", 2, 0, 1, ""), std::logic_error);
  EXPECT_THROW((void)choice_knob("c", "z", {"a"}, ""), std::logic_error);
  scenario s;
  s.name = "test-only-twice";
  s.knobs = {flag_knob("x", false, ""), flag_knob("x", true, "")};
  EXPECT_THROW(register_scenario(s), std::logic_error);
}

TEST(registry, duplicate_names_are_rejected_and_designed_names_are_fixed) {
  scenario s;
  s.name = "test-only-scenario";
  register_scenario(s);
  EXPECT_NE(find_scenario("test-only-scenario"), nullptr);
  EXPECT_THROW(register_scenario(s), std::logic_error);
  const auto& names = designed_scenario_names();
  EXPECT_EQ(names.size(), 9u);
  EXPECT_EQ(names.back(), "calibrate");
}

// ---- pairing order -------------------------------------------------------
#include <hotshard/harness/pairing.hpp>

#include <set>
#include <tuple>

TEST(pairing, every_run_appears_once_and_repetition_k_of_every_impl_precedes_k_plus_1) {
  const auto order = paired_order(5, 3, 4, 1);
  ASSERT_EQ(order.size(), 5u * 3u * 4u);
  std::set<std::tuple<std::size_t, std::size_t, unsigned>> seen;
  unsigned last_rep = 0;
  for (const auto& s : order) {
    EXPECT_TRUE(seen.insert({s.impl, s.threads, s.repetition}).second);
    EXPECT_GE(s.repetition, last_rep);  // never back to an earlier repetition
    last_rep = s.repetition;
  }
  // At one (repetition, thread count), the 5 impls run back to back.
  for (std::size_t block = 0; block < order.size(); block += 5)
    for (std::size_t j = 1; j < 5; ++j) {
      EXPECT_EQ(order[block + j].repetition, order[block].repetition);
      EXPECT_EQ(order[block + j].threads, order[block].threads);
    }
}

TEST(pairing, the_impl_order_is_shuffled_by_seed_and_repetition_and_reproducible) {
  const auto a = paired_order(6, 1, 8, 1);
  EXPECT_EQ(a.size(), 48u);
  std::set<std::vector<std::size_t>> orders;
  std::set<std::size_t> firsts;
  for (unsigned rep = 0; rep < 8; ++rep) {
    std::vector<std::size_t> o;
    for (std::size_t j = 0; j < 6; ++j) o.push_back(a[rep * 6 + j].impl);
    orders.insert(o);
    firsts.insert(o.front());
  }
  EXPECT_GT(orders.size(), 4u);  // the repetitions do not share one order
  EXPECT_GT(firsts.size(), 1u);  // no impl always goes first
  const auto again = paired_order(6, 1, 8, 1);
  const auto other = paired_order(6, 1, 8, 2);
  bool same = true, differs = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    same = same && a[i].impl == again[i].impl;
    differs = differs || a[i].impl != other[i].impl;
  }
  EXPECT_TRUE(same);
  EXPECT_TRUE(differs);
}

TEST(pairing, one_impl_or_one_repetition_degenerates_cleanly) {
  EXPECT_EQ(paired_order(1, 2, 3, 7).size(), 6u);
  EXPECT_TRUE(paired_order(0, 2, 3, 7).empty());
  EXPECT_TRUE(paired_order(3, 2, 0, 7).empty());
}
