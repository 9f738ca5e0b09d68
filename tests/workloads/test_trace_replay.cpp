// Replaying any trace through the workload layer: trace:path=FILE[,format=NAME]
// is parsed, the format detected or named, compressed files decompressed, the
// ops of traces that have them kept and those of key-only traces drawn from
// read_fraction.
#include "trace_fixtures.hpp"

#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

namespace {

using namespace trace_fixtures;
using wl::parse_spec;

class trace_replay : public scratch {};

std::string spec_error_of(const std::string& text) {
  try {
    (void)parse_spec(text);
  } catch (const wl::spec_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(trace_replay, the_spec_takes_an_optional_format_before_or_after_the_path) {
  EXPECT_EQ(parse_spec("trace:path=/t/a,b.xz").value("path"), "/t/a,b.xz");
  EXPECT_EQ(parse_spec("trace:path=/t/a,b.xz").value("format"), "auto");
  const auto after = parse_spec("trace:path=/t/a,b.xz,format=cache2k");
  EXPECT_EQ(after.value("path"), "/t/a,b.xz");
  EXPECT_EQ(after.value("format"), "cache2k");
  const auto before = parse_spec("trace:format=twitter,path=/t/a,b");
  EXPECT_EQ(before.value("path"), "/t/a,b");
  EXPECT_EQ(before.value("format"), "twitter");
  EXPECT_EQ(spec_error_of("trace:path=x,format=csv"),
            "trace: parameter 'format' must be auto or one of text, binary, cache2k, caffeine, arc, twitter, "
            "libcachesim (got \"csv\")");
  EXPECT_EQ(spec_error_of("trace:format=arc"), "trace: missing required parameter 'path' (a file path)");
}

TEST_F(trace_replay, threads_replay_a_compressed_twitter_trace_with_its_ops) {
  std::string csv;
  std::vector<wl::operation> expected;
  const char* ops[] = {"get", "set", "delete", "gets", "incr"};
  for (int i = 0; i < 10; ++i) {
    const std::string key = "k" + std::to_string(i);
    csv += std::to_string(i) + "," + key + ",2,1,1," + ops[i % 5] + ",0\n";
    const wl::op_kind op = i % 5 == 2 ? wl::op_kind::del : (i % 5 == 0 || i % 5 == 3) ? wl::op_kind::get : wl::op_kind::put;
    expected.push_back({fnv1a64(key), op});
  }
  const std::string path = compress(write("tw.csv", csv), "zstd");
  const auto spec = parse_spec("trace:path=" + path);
  for (unsigned t = 0; t < 3; ++t) {
    const auto got = wl::generate_operations(spec, 1, t, 3, 8, 0.0);
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[(t + 3 * i) % 10]) << t << " " << i;
    const auto keys = wl::generate_keys(spec, 1, t, 3, 8);
    for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(keys[i], expected[(t + 3 * i) % 10].key);
  }
  const auto info = wl::trace_info_of(spec);
  EXPECT_EQ(info.records, 10U);
  EXPECT_EQ(info.format, wl::trace_format::twitter);
  EXPECT_EQ(info.compression, wl::trace_compression::zstd);
  EXPECT_TRUE(info.has_operations);
}

TEST_F(trace_replay, a_key_only_trace_keeps_its_keys_and_takes_ops_from_read_fraction) {
  std::string bytes;
  for (std::uint32_t k = 0; k < 1000; ++k) put_be(bytes, 0x01000000U + k, 4);
  const std::string path = compress(write("keys", bytes), "gzip");
  const auto spec = parse_spec("trace:path=" + path + ",format=cache2k");
  const auto info = wl::trace_info_of(spec);
  EXPECT_FALSE(info.has_operations);
  EXPECT_EQ(info.records, 1000U);
  const auto all_reads = wl::generate_operations(spec, 9, 0, 1, 1000, 1.0);
  const auto all_writes = wl::generate_operations(spec, 9, 0, 1, 1000, 0.0);
  const auto half = wl::generate_operations(spec, 9, 0, 1, 1000, 0.5);
  std::size_t gets = 0;
  for (std::size_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(all_reads[i].key, 0x01000000U + i);
    EXPECT_EQ(half[i].key, all_reads[i].key);
    EXPECT_EQ(all_reads[i].op, wl::op_kind::get);
    EXPECT_EQ(all_writes[i].op, wl::op_kind::put);
    gets += half[i].op == wl::op_kind::get ? 1 : 0;
  }
  EXPECT_GT(gets, 400U);
  EXPECT_LT(gets, 600U);
  EXPECT_THROW((void)wl::generate_operations(spec, 9, 0, 1, 10, 1.5), wl::spec_error);
}

TEST_F(trace_replay, a_named_format_overrides_detection_and_a_wrong_one_fails_cleanly) {
  std::string bytes;
  for (std::uint64_t k = 1; k <= 4; ++k) put_be(bytes, k, 8);  // 64-bit ids: detected as caffeine
  const std::string path = write("ids", bytes);
  EXPECT_EQ(wl::generate_keys(parse_spec("trace:path=" + path), 1, 0, 1, 4), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(wl::generate_keys(parse_spec("trace:path=" + path + ",format=cache2k"), 1, 0, 1, 4),
            (std::vector<std::uint64_t>{0, 1, 0, 2}));
  EXPECT_THROW((void)wl::make_stream(parse_spec("trace:path=" + path + ",format=libcachesim"), 1, 0, 1), wl::trace_error);
  EXPECT_THROW((void)wl::make_stream(parse_spec("trace:path=" + path + ",format=text"), 1, 0, 1), wl::trace_error);
}

}  // namespace
