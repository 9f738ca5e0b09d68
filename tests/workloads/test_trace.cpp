// Traces: round trips in both forms, errors that name the line or byte offset,
// randomized corruption (a clean trace_error or a clean read, never a crash),
// and the statistics of analyze_trace.
#include <hotshard/workloads/rng.hpp>
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>
#include <hotshard/workloads/trace.hpp>
#include <hotshard/test/support.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

namespace wl = hotshard::workloads;

constexpr int corruption_rounds = 600 / static_cast<int>(hotshard::test::sanitizer_scale);

class trace : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = (std::filesystem::temp_directory_path() /
             ("hotshard_trace_" + std::string(info->name()) + "_" + std::to_string(::getpid()) + ".trace"))
                .string();
  }
  void TearDown() override { std::filesystem::remove(path_); }

  void write_bytes(const std::string& bytes) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  std::string read_bytes() const {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  std::vector<wl::operation> sample_ops(std::size_t count) const {
    wl::xoshiro256ss rng(17);
    std::vector<wl::operation> ops;
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint64_t key = i % 5 == 0 ? ~std::uint64_t{0} - i : rng.below(1'000'000);
      ops.push_back({key, static_cast<wl::op_kind>(rng.below(4))});
    }
    return ops;
  }
  void write_ops(const std::vector<wl::operation>& ops, wl::trace_format format) const {
    wl::trace_writer writer(path_, format);
    for (const auto& op : ops) writer.write(op);
    EXPECT_EQ(writer.records(), ops.size());
    writer.close();
  }
  std::vector<wl::operation> read_all(std::size_t chunk = 65536) const {
    wl::trace_reader reader(path_, chunk);
    std::vector<wl::operation> all, part;
    while (reader.next_chunk(part)) {
      EXPECT_LE(part.size(), chunk);
      all.insert(all.end(), part.begin(), part.end());
    }
    return all;
  }
  std::string error_of_reading() const {
    try {
      (void)read_all(7);
    } catch (const wl::trace_error& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::string path_;
};

TEST_F(trace, text_round_trip_keeps_every_operation) {
  const auto ops = sample_ops(10'000);
  write_ops(ops, wl::trace_format::text);
  EXPECT_EQ(wl::trace_reader(path_).format(), wl::trace_format::text);
  EXPECT_EQ(read_all(), ops);
  EXPECT_EQ(read_all(333), ops);
}

TEST_F(trace, binary_round_trip_keeps_every_operation_across_chunks) {
  const auto ops = sample_ops(10'000);
  write_ops(ops, wl::trace_format::binary);
  EXPECT_EQ(wl::trace_reader(path_).format(), wl::trace_format::binary);
  EXPECT_EQ(wl::trace_reader(path_).declared_records(), ops.size());
  EXPECT_EQ(read_all(), ops);
  EXPECT_EQ(read_all(7), ops);
  EXPECT_EQ(read_bytes().size(), wl::trace_header_bytes + ops.size() * wl::trace_record_bytes);
}

TEST_F(trace, binary_layout_is_the_documented_little_endian_one) {
  write_ops({{0x0102030405060708ULL, wl::op_kind::del}}, wl::trace_format::binary);
  const std::string expected("HSTRACE\0\x01\0\0\0\x01\0\0\0\0\0\0\0\x08\x07\x06\x05\x04\x03\x02\x01\x03", 29);
  EXPECT_EQ(read_bytes(), expected);
}

TEST_F(trace, text_accepts_comments_blank_lines_tabs_and_crlf) {
  write_bytes("# a comment\n\n  get 1\r\nput\t2   # trailing comment\n\t\ndel 18446744073709551615\nadd 0");
  const std::vector<wl::operation> expected = {
      {1, wl::op_kind::get}, {2, wl::op_kind::put}, {~std::uint64_t{0}, wl::op_kind::del}, {0, wl::op_kind::add}};
  EXPECT_EQ(read_all(), expected);
}

TEST_F(trace, empty_files_of_both_forms_have_no_records) {
  write_bytes("");
  EXPECT_TRUE(read_all().empty());
  write_ops({}, wl::trace_format::binary);
  EXPECT_TRUE(read_all().empty());
}

TEST_F(trace, text_errors_name_the_line) {
  write_bytes("get 1\n# c\n\nput 2\nfetch 3\n");
  EXPECT_EQ(error_of_reading(), path_ + ": line 5: unknown op 'fetch' (expected get, put, add or del)");
  write_bytes("get 1\nput x12\n");
  EXPECT_EQ(error_of_reading(), path_ + ": line 2: bad key 'x12' (expected a decimal integer in [0, 2^64))");
  write_bytes("get 18446744073709551616\n");
  EXPECT_NE(error_of_reading().find("line 1: bad key"), std::string::npos);
  write_bytes("get 1\nget 2\nput\n");
  EXPECT_EQ(error_of_reading(), path_ + ": line 3: missing key after 'put'");
  write_bytes("get 1 2\n");
  EXPECT_EQ(error_of_reading(), path_ + ": line 1: unexpected '2' after the key (expected 'op key')");
  write_bytes("get -1\n");
  EXPECT_NE(error_of_reading().find("line 1: bad key '-1'"), std::string::npos);
}

TEST_F(trace, text_errors_escape_binary_garbage_and_bound_line_length) {
  write_bytes(std::string("get 1\n\x01\xff\x02 7\n", 12));
  EXPECT_EQ(error_of_reading(), path_ + ": line 2: unknown op '\\x01\\xff\\x02' (expected get, put, add or del)");
  write_bytes("get 1\nget 2\n" + std::string(100'000, 'a'));
  EXPECT_EQ(error_of_reading(), path_ + ": line 3: line longer than 4096 bytes");
}

TEST_F(trace, binary_errors_name_the_byte_offset) {
  write_ops(sample_ops(10), wl::trace_format::binary);
  const std::string good = read_bytes();

  std::string bad_version = good;
  bad_version[8] = 2;
  write_bytes(bad_version);
  EXPECT_THROW(wl::trace_reader{path_}, wl::trace_error);
  EXPECT_EQ(error_of_reading(), path_ + ": byte offset 8: unsupported version 2 (this reader reads version 1)");

  write_bytes(good.substr(0, good.size() - 4));
  EXPECT_EQ(error_of_reading(), path_ + ": byte offset 106: truncated: the header declares 10 records (110 bytes) "
                                        "but the file has 106 bytes");

  write_bytes(good + "xyz");
  EXPECT_EQ(error_of_reading(), path_ + ": byte offset 110: trailing data: the header declares 10 records (110 bytes) "
                                        "but the file has 113 bytes");

  std::string bad_op = good;
  bad_op[20 + 9 * 3 + 8] = 9;  // the op byte of record 3
  write_bytes(bad_op);
  EXPECT_EQ(error_of_reading(), path_ + ": byte offset 55: invalid op code 9 (expected 0 get, 1 put, 2 add or 3 del)");

  write_bytes(good.substr(0, 13));
  EXPECT_EQ(error_of_reading(), path_ + ": byte offset 13: truncated header (20 bytes expected)");
}

TEST_F(trace, missing_files_and_unwritable_paths_are_errors) {
  EXPECT_THROW(wl::trace_reader{path_ + ".missing"}, wl::trace_error);
  EXPECT_THROW((wl::trace_writer{"/nonexistent-dir/x.trace", wl::trace_format::text}), wl::trace_error);
  wl::trace_writer writer(path_, wl::trace_format::text);
  writer.close();
  EXPECT_THROW(writer.write({1, wl::op_kind::get}), wl::trace_error);
}

// Random byte flips, truncations, insertions and pure noise, in both forms: each
// read either succeeds with well-formed records or throws trace_error.
TEST_F(trace, corrupted_or_random_input_gives_a_clean_error_or_clean_records) {
  write_ops(sample_ops(300), wl::trace_format::binary);
  const std::string binary = read_bytes();
  write_ops(sample_ops(300), wl::trace_format::text);
  const std::string text = read_bytes();
  wl::xoshiro256ss rng(2024);
  int errors = 0, clean = 0;
  for (int round = 0; round < corruption_rounds; ++round) {
    std::string bytes = (round % 2 == 0) ? binary : text;
    switch (rng.below(5)) {
      case 0:  // flip a few bytes
        for (std::uint64_t i = 0, flips = 1 + rng.below(8); i < flips; ++i) {
          bytes[rng.below(bytes.size())] = static_cast<char>(rng.below(256));
        }
        break;
      case 1:  // truncate
        bytes.resize(rng.below(bytes.size()));
        break;
      case 2:  // insert garbage
        bytes.insert(rng.below(bytes.size()), std::string(1 + rng.below(20), static_cast<char>(rng.below(256))));
        break;
      case 3:  // pure noise, sometimes behind a valid magic
        bytes.assign(rng.below(5000), '\0');
        for (auto& c : bytes) c = static_cast<char>(rng.below(256));
        if (rng.below(2) == 0 && bytes.size() >= 20) bytes.replace(0, 12, binary.substr(0, 12));
        break;
      default:  // a header that declares a huge count
        bytes = binary;
        bytes[19] = static_cast<char>(0x7f);
        break;
    }
    write_bytes(bytes);
    try {
      for (const auto& op : read_all(1 + rng.below(100))) ASSERT_LT(static_cast<unsigned>(op.op), 4U);
      ++clean;
    } catch (const wl::trace_error& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.find("line ") != std::string::npos || what.find("byte offset ") != std::string::npos) << what;
      ++errors;
    }
  }
  EXPECT_GT(errors, corruption_rounds / 4);  // the corruption really reached the parser
  EXPECT_GT(clean, 0);
}

TEST_F(trace, analyze_counts_keys_and_ops_and_ranks_the_top) {
  std::vector<wl::operation> ops;
  for (int i = 0; i < 50; ++i) ops.push_back({7, wl::op_kind::get});
  for (int i = 0; i < 30; ++i) ops.push_back({3, wl::op_kind::put});
  for (int i = 0; i < 20; ++i) ops.push_back({static_cast<std::uint64_t>(100 + i), wl::op_kind::del});
  ops.push_back({9, wl::op_kind::add});
  write_ops(ops, wl::trace_format::text);
  const auto stats = wl::analyze_trace(path_, 3);
  EXPECT_EQ(stats.records, 101U);
  EXPECT_EQ(stats.distinct_keys, 23U);
  EXPECT_EQ(stats.per_op, (std::array<std::uint64_t, 4>{50, 30, 1, 20}));
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> top = {{7, 50}, {3, 30}, {9, 1}};
  EXPECT_EQ(stats.top, top);
}

TEST_F(trace, analyze_estimates_the_zipf_exponent_of_a_generated_trace) {
  for (const double s : {0.8, 1.1}) {
    const auto spec = wl::parse_spec("zipf:n=100000,scramble=1,s=" + std::to_string(s));
    {
      wl::trace_writer writer(path_, wl::trace_format::binary);
      for (const auto& op : wl::generate_operations(spec, 5, 0, 1, 300'000, 0.5)) writer.write(op);
    }
    const auto stats = wl::analyze_trace(path_);
    EXPECT_EQ(stats.records, 300'000U);
    EXPECT_NEAR(stats.zipf_s_estimate, s, 0.1) << "s=" << s;
    EXPECT_NEAR(static_cast<double>(stats.per_op[0]) / 300'000, 0.5, 0.01);
  }
}

}  // namespace
