// The viral: workload: its phases, its determinism (the same ops as the
// hot-partition stream it replaced), its thread streams, its own op kinds,
// and a trace written from it that replays the same operations.
#include "trace_fixtures.hpp"

#include <hotshard/detail/hash.hpp>
#include <hotshard/workloads/rng.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>
#include <hotshard/workloads/viral.hpp>
#include <hotshard/workloads/zipf.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace {

using namespace trace_fixtures;
using wl::op_kind;
using wl::operation;
using wl::parse_spec;

wl::viral_schedule schedule_of(const std::string& spec, std::uint64_t seed, std::uint64_t length) {
  return {wl::viral_config_of(parse_spec(spec)), seed, length};
}

std::string spec_error_of(const std::string& text) {
  try {
    (void)wl::viral_config_of(parse_spec(text));
  } catch (const wl::spec_error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(viral_spec, fills_the_black_friday_defaults_and_names_a_bad_parameter) {
  const auto c = wl::viral_config_of(parse_spec("viral:n=1000"));
  EXPECT_EQ(c.n, 1000u);
  EXPECT_DOUBLE_EQ(c.s, 0.99);
  EXPECT_DOUBLE_EQ(c.reads, 0.8);
  EXPECT_DOUBLE_EQ(c.start, 0.3);
  EXPECT_DOUBLE_EQ(c.share, 0.5);
  EXPECT_DOUBLE_EQ(c.herd_start, 0.7);
  EXPECT_DOUBLE_EQ(c.herd_length, 0.03);
  EXPECT_EQ(c.herd_keys, 8u);
  EXPECT_EQ(spec_error_of("viral:n=10,share=1.5"), "viral: parameter 'share' must be a number in [0, 1] (got \"1.5\")");
  EXPECT_EQ(spec_error_of("viral:n=10,herd_keys=12"), "viral: parameter 'herd_keys' must be at most n + 1 = 11 (got 12)");
  EXPECT_EQ(spec_error_of("viral:share=0.5"), "viral: missing required parameter 'n' (an integer in [1, 2^63])");
  EXPECT_THROW((void)wl::viral_config_of(parse_spec("zipf:n=10")), wl::spec_error);
  EXPECT_EQ(wl::key_space_of(parse_spec("viral:n=10")), 11u) << "the viral key is n";
}

TEST(viral_stream, phases_are_fractions_of_the_run) {
  const std::uint64_t N = 100'000;
  const auto s = schedule_of("viral:n=100000", 7, N);
  ASSERT_EQ(s.herd().size(), 8u);
  EXPECT_EQ(s.herd().back(), s.viral_key());
  std::uint64_t viral_before = 0, viral_after = 0, after = 0, gets = 0, steady = 0;
  for (std::uint64_t g = 0; g < N; ++g) {
    const auto op = s.at(g);
    if (g >= s.herd_begin() && g < s.herd_end()) {
      EXPECT_EQ(op.op, op_kind::get);
      EXPECT_EQ(op.key, s.herd()[g % s.herd().size()]);
      continue;
    }
    if (g < N * 3 / 10) {
      viral_before += op.key == s.viral_key();
      gets += op.op == op_kind::get;
      ++steady;
    } else {
      ++after;
      viral_after += op.key == s.viral_key();
    }
  }
  EXPECT_EQ(s.viral_begin(), N * 3 / 10);
  EXPECT_EQ(s.herd_begin(), N * 7 / 10);
  EXPECT_EQ(s.herd_end(), N * 73 / 100);
  EXPECT_EQ(viral_before, 0u);
  EXPECT_NEAR(static_cast<double>(viral_after) / static_cast<double>(after), 0.5, 0.02);
  EXPECT_NEAR(static_cast<double>(gets) / static_cast<double>(steady), 0.8, 0.02);
}

TEST(viral_stream, is_the_same_for_the_same_seed_and_differs_by_seed) {
  const auto a = schedule_of("viral:n=1000000", 3, 1000), b = schedule_of("viral:n=1000000", 3, 1000);
  const auto c = schedule_of("viral:n=1000000", 4, 1000);
  int differences = 0;
  for (std::uint64_t g = 0; g < 1000; ++g) {
    EXPECT_EQ(a.at(g), b.at(g));
    differences += a.at(g).key != c.at(g).key;
  }
  EXPECT_GT(differences, 100);
}

// The op at g as harness/contenders/hot_partition_stream.hpp computed it
// before the stream became a spec: hot-partition runs repeat their old numbers.
operation black_friday_reference(const wl::viral_config& c, std::uint64_t seed, std::uint64_t g, std::uint64_t N) {
  const auto at = [N](double f) { return static_cast<std::uint64_t>(f * static_cast<double>(N)); };
  std::vector<std::uint64_t> herd;
  for (unsigned r = 0; r + 1 < c.herd_keys; ++r) herd.push_back(wl::scramble(r, c.n));
  herd.push_back(c.n);
  wl::xoshiro256ss rng(hotshard::detail::mix64(seed ^ hotshard::detail::mix64(g + 0x9e3779b97f4a7c15ULL)));
  if (g >= at(c.herd_start) && g < at(c.herd_start + c.herd_length)) return {herd[g % herd.size()], op_kind::get};
  const bool read = rng.uniform01() < c.reads;
  const auto op = read ? op_kind::get : op_kind::put;
  if (g >= at(c.start) && rng.uniform01() < c.share) return {c.n, op};
  return {wl::scramble(wl::zipf_generator(c.n, c.s)(rng), c.n), op};
}

TEST(viral_stream, replays_the_black_friday_stream_of_the_hot_partition_scenario) {
  for (const char* text : {"viral:n=1000000,s=0.99", "viral:n=5000,s=1.2,reads=0.5,share=0.3,herd_keys=3"}) {
    const auto c = wl::viral_config_of(parse_spec(text));
    const auto s = wl::viral_schedule(c, 9, 20'000);
    for (std::uint64_t g = 0; g < 20'000; ++g) ASSERT_EQ(s.at(g), black_friday_reference(c, 9, g, 20'000)) << text << " g=" << g;
  }
}

TEST(viral_stream, thread_t_takes_global_ops_t_t_plus_T_with_their_own_kinds) {
  const auto spec = parse_spec("viral:n=1000,herd_start=0.5,herd_length=0.1");
  const unsigned T = 3;
  const std::size_t per_thread = 4000;
  const auto s = wl::viral_schedule(wl::viral_config_of(spec), 5, per_thread * T);
  for (unsigned t = 0; t < T; ++t) {
    // read_fraction 0: a stream of keys only would be all puts; viral keeps its gets.
    const auto ops = wl::generate_operations(spec, 5, t, T, per_thread, 0.0);
    const auto keys = wl::generate_keys(spec, 5, t, T, per_thread);
    for (std::size_t i = 0; i < per_thread; ++i) {
      ASSERT_EQ(ops[i], s.at(i * T + t)) << "thread " << t << " op " << i;
      ASSERT_EQ(keys[i], ops[i].key);
    }
    EXPECT_GT(std::count_if(ops.begin(), ops.end(), [](const operation& o) { return o.op == op_kind::get; }), 0);
  }
}

TEST(viral_stream, make_stream_needs_the_runs_length) {
  const auto spec = parse_spec("viral:n=1000");
  try {
    (void)wl::make_stream(spec, 1, 0, 1);
    ADD_FAILURE() << "a viral stream without a length was made";
  } catch (const wl::spec_error& e) {
    EXPECT_NE(std::string(e.what()).find("run_length"), std::string::npos) << e.what();
  }
  const auto stream = wl::make_stream(spec, 1, 1, 2, 100);
  const auto s = wl::viral_schedule(wl::viral_config_of(spec), 1, 100);
  EXPECT_EQ(stream->next_operation(op_kind::put), s.at(1));
  EXPECT_EQ(stream->next(), s.at(3).key);
}

class viral_trace : public scratch {};

TEST_F(viral_trace, a_trace_written_from_the_stream_replays_its_operations) {
  // As `hotshard-bench trace gen` writes one: record g = i*T + t is thread t's i-th op.
  const auto spec = parse_spec("viral:n=500,herd_start=0.4,herd_length=0.2");
  const unsigned T = 2;
  const std::uint64_t N = 3000;
  std::vector<std::unique_ptr<wl::key_stream>> streams;
  for (unsigned t = 0; t < T; ++t) streams.push_back(wl::make_stream(spec, 8, t, T, N));
  const std::string path = write("viral.trace", "");
  wl::trace_writer w(path, wl::trace_format::binary);
  std::vector<operation> written;
  for (std::uint64_t g = 0; g < N; ++g) {
    written.push_back(streams[g % T]->next_operation(op_kind::put));
    w.write(written.back());
  }
  w.close();
  const auto s = wl::viral_schedule(wl::viral_config_of(spec), 8, N);
  for (std::uint64_t g = 0; g < N; ++g) ASSERT_EQ(written[g], s.at(g)) << g;
  EXPECT_EQ(wl::generate_operations(parse_spec("trace:path=" + path), 1, 0, 1, N, 0.5), written);
}
