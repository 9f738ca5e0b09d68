// The spec parser: defaults, number forms, and an error naming the parameter
// and what is accepted for every kind of bad spec.
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

#include <hotshard/workloads/rng.hpp>

#include <gtest/gtest.h>

#include <string>

namespace {

using hotshard::workloads::parse_spec;
using hotshard::workloads::spec_error;

std::string error_of(const std::string& text) {
  try {
    (void)parse_spec(text);
  } catch (const spec_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(parse_spec, fills_in_defaults_and_keeps_the_text) {
  const auto spec = parse_spec("zipf:n=1000000");
  EXPECT_EQ(spec.kind, "zipf");
  EXPECT_EQ(spec.text, "zipf:n=1000000");
  EXPECT_EQ(spec.integer("n"), 1'000'000U);
  EXPECT_DOUBLE_EQ(spec.number("s"), 0.99);
  EXPECT_EQ(spec.integer("scramble"), 0U);
}

TEST(parse_spec, reads_every_kind_of_the_design) {
  EXPECT_DOUBLE_EQ(parse_spec("zipf:n=10,s=1.2,scramble=1").number("s"), 1.2);
  EXPECT_EQ(parse_spec("uniform:n=5").integer("n"), 5U);
  EXPECT_DOUBLE_EQ(parse_spec("hotspot:n=100,hot=0.1,ops=0.9").number("ops"), 0.9);
  EXPECT_EQ(parse_spec("latest:n=7").integer("n"), 7U);
  EXPECT_EQ(parse_spec("shift:n=100,s=1,every=500").integer("every"), 500U);
  EXPECT_EQ(parse_spec("herd:keys=4,waves=3").integer("waves"), 3U);
  EXPECT_EQ(parse_spec("trace:path=/tmp/x.trace").value("path"), "/tmp/x.trace");
}

TEST(parse_spec, accepts_scientific_and_power_of_two_integers) {
  EXPECT_EQ(parse_spec("uniform:n=1e9").integer("n"), 1'000'000'000U);
  EXPECT_EQ(parse_spec("uniform:n=2^20").integer("n"), 1U << 20);
  EXPECT_EQ(parse_spec("zipf:n=2^63").integer("n"), std::uint64_t{1} << 63);
  EXPECT_DOUBLE_EQ(parse_spec("uniform:n=2^20").number("n"), 1048576.0);
}

TEST(parse_spec, tolerates_spaces_around_tokens) {
  const auto spec = parse_spec("  zipf : n = 100 , s = 0.5 ");
  EXPECT_EQ(spec.kind, "zipf");
  EXPECT_EQ(spec.integer("n"), 100U);
  EXPECT_DOUBLE_EQ(spec.number("s"), 0.5);
}

TEST(parse_spec, keeps_commas_in_a_trace_path) {
  EXPECT_EQ(parse_spec("trace:path=/tmp/a,b.trace").value("path"), "/tmp/a,b.trace");
}

TEST(parse_spec, names_the_exponent_and_what_it_accepts) {
  EXPECT_EQ(error_of("zipf:n=10,s=-1"), "zipf: parameter 's' must be a number > 0 (got \"-1\")");
  EXPECT_EQ(error_of("zipf:n=10,s=0"), "zipf: parameter 's' must be a number > 0 (got \"0\")");
  EXPECT_EQ(error_of("shift:n=10,s=abc"), "shift: parameter 's' must be a number > 0 (got \"abc\")");
}

TEST(parse_spec, rejects_zero_or_malformed_n) {
  EXPECT_EQ(error_of("uniform:n=0"), "uniform: parameter 'n' must be an integer in [1, 2^63] (got \"0\")");
  EXPECT_EQ(error_of("zipf:n=1.5"), "zipf: parameter 'n' must be an integer in [1, 2^63] (got \"1.5\")");
  EXPECT_EQ(error_of("zipf:n=-3"), "zipf: parameter 'n' must be an integer in [1, 2^63] (got \"-3\")");
  EXPECT_EQ(error_of("zipf:n=2^64"), "zipf: parameter 'n' must be an integer in [1, 2^63] (got \"2^64\")");
  EXPECT_NE(error_of("zipf:n=1e30").find("parameter 'n'"), std::string::npos);
}

TEST(parse_spec, rejects_fractions_outside_the_unit_interval) {
  EXPECT_EQ(error_of("hotspot:n=10,hot=1.5"), "hotspot: parameter 'hot' must be a number in [0, 1] (got \"1.5\")");
  EXPECT_EQ(error_of("hotspot:n=10,ops=-0.1"), "hotspot: parameter 'ops' must be a number in [0, 1] (got \"-0.1\")");
  EXPECT_NE(error_of("hotspot:n=10,ops=nan").find("parameter 'ops'"), std::string::npos);
}

TEST(parse_spec, rejects_zero_every_and_bad_flags) {
  EXPECT_EQ(error_of("shift:n=10,every=0"), "shift: parameter 'every' must be an integer >= 1 (got \"0\")");
  EXPECT_EQ(error_of("zipf:n=10,scramble=yes"), "zipf: parameter 'scramble' must be 0 or 1 (got \"yes\")");
  EXPECT_EQ(error_of("herd:keys=0"), "herd: parameter 'keys' must be an integer >= 1 (got \"0\")");
}

TEST(parse_spec, names_an_unknown_kind_and_lists_the_kinds) {
  EXPECT_EQ(error_of("zipfian:n=10"),
            "unknown workload kind 'zipfian' in \"zipfian:n=10\"; accepted: uniform, zipf, hotspot, latest, shift, "
            "herd, trace, viral");
  EXPECT_NE(error_of("").find("empty workload spec"), std::string::npos);
}

TEST(parse_spec, names_an_unknown_parameter_and_lists_the_accepted_ones) {
  EXPECT_EQ(error_of("zipf:n=10,theta=0.9"), "zipf: unknown parameter 'theta'; accepted: n, s, scramble");
  EXPECT_EQ(error_of("uniform:n=10,s=1"), "uniform: unknown parameter 's'; accepted: n");
}

TEST(parse_spec, names_a_missing_required_parameter) {
  EXPECT_EQ(error_of("zipf:s=0.9"), "zipf: missing required parameter 'n' (an integer in [1, 2^63])");
  EXPECT_EQ(error_of("uniform"), "uniform: missing required parameter 'n' (an integer in [1, 2^63])");
  EXPECT_EQ(error_of("trace:"), "trace: missing required parameter 'path' (a file path)");
}

TEST(parse_spec, rejects_duplicates_missing_values_and_stray_commas) {
  EXPECT_EQ(error_of("zipf:n=10,n=20"), "zipf: parameter 'n' given twice");
  EXPECT_EQ(error_of("zipf:n"), "zipf: parameter 'n' needs a value (an integer in [1, 2^63])");
  EXPECT_NE(error_of("zipf:n=10,").find("empty parameter"), std::string::npos);
}

TEST(parse_spec, number_of_an_absent_parameter_is_an_error) {
  const auto spec = parse_spec("uniform:n=10");
  EXPECT_THROW((void)spec.number("s"), spec_error);
}

TEST(make_stream, validates_and_completes_a_spec_assembled_by_hand) {
  hotshard::workloads::workload_spec by_hand{"zipf", {{"n", "1000"}}, ""};
  EXPECT_EQ(hotshard::workloads::generate_keys(by_hand, 3, 0, 1, 100),
            hotshard::workloads::generate_keys(parse_spec("zipf:n=1000,s=0.99"), 3, 0, 1, 100));
  EXPECT_EQ(hotshard::workloads::key_space_of(by_hand), 1000U);
  hotshard::workloads::workload_spec bad{"zipf", {{"n", "0"}}, ""};
  EXPECT_THROW((void)hotshard::workloads::make_stream(bad, 1, 0, 1), spec_error);
  EXPECT_THROW((void)hotshard::workloads::key_space_of(bad), spec_error);
}

TEST(herd_of, reads_the_plan_and_refuses_other_kinds) {
  const auto plan = hotshard::workloads::herd_of(parse_spec("herd:keys=8,waves=5"));
  EXPECT_EQ(plan.keys, 8U);
  EXPECT_EQ(plan.waves, 5U);
  const auto defaults = hotshard::workloads::herd_of(parse_spec("herd"));
  EXPECT_EQ(defaults.keys, 1U);
  EXPECT_EQ(defaults.waves, 10U);
  EXPECT_THROW((void)hotshard::workloads::herd_of(parse_spec("zipf:n=10")), spec_error);
}

TEST(key_space_of, is_n_keys_or_unknown) {
  using hotshard::workloads::key_space_of;
  EXPECT_EQ(key_space_of(parse_spec("zipf:n=1000")), 1000U);
  EXPECT_EQ(key_space_of(parse_spec("latest:n=77")), 77U);
  EXPECT_EQ(key_space_of(parse_spec("hotspot:n=5")), 5U);
  EXPECT_EQ(key_space_of(parse_spec("shift:n=9")), 9U);
  EXPECT_EQ(key_space_of(parse_spec("uniform:n=3")), 3U);
  EXPECT_EQ(key_space_of(parse_spec("herd:keys=4")), 4U);
  EXPECT_EQ(key_space_of(parse_spec("trace:path=x")), 0U);
}

// Random strings over the spec alphabet: a spec or a spec_error, nothing else;
// whatever parses must name a known kind and build a stream.
TEST(parse_spec, random_text_parses_or_gives_a_spec_error) {
  constexpr std::string_view alphabet = "zipfunformhotspl:=,.0123456789e^-snkeyw ";
  const std::string prefixes[] = {"", "zipf:", "uniform:", "hotspot:", "shift:", "herd:", "latest:"};
  hotshard::workloads::xoshiro256ss rng(77);
  int parsed = 0;
  for (int round = 0; round < 20'000; ++round) {
    std::string text = prefixes[rng.below(std::size(prefixes))];
    for (std::uint64_t i = 0, len = rng.below(16); i < len; ++i) text += alphabet[rng.below(alphabet.size())];
    try {
      const auto spec = parse_spec(text);
      ++parsed;
      EXPECT_GE(hotshard::workloads::key_space_of(spec), 1U) << text;
      const auto stream = hotshard::workloads::make_stream(spec, 1, 0, 1);
      EXPECT_LT(stream->next(), hotshard::workloads::key_space_of(spec)) << text;
    } catch (const spec_error& e) {
      EXPECT_GT(std::string(e.what()).size(), 10U);
    }
  }
  EXPECT_GT(parsed, 10);
}

}  // namespace
