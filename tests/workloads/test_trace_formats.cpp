// The trace readers of every format: fixtures written in each published
// layout, read uncompressed and through gzip, xz and zstd, checked record by
// record with the format and compression detected; the errors of malformed
// records name the line or byte offset; detection that cannot decide lists the
// accepted formats.
#include "trace_fixtures.hpp"

#include <hotshard/workloads/rng.hpp>

#include <functional>

namespace {

using namespace trace_fixtures;

struct fixture {
  const char* name;
  wl::trace_format format;
  std::string bytes;
  std::vector<wl::operation> expected;
};

wl::operation get(std::uint64_t key) { return {key, wl::op_kind::get}; }

fixture cache2k_fixture() {
  fixture f{"cache2k", wl::trace_format::cache2k, {}, {}};
  for (const std::int64_t key : {0LL, 1LL, 0x7fffffffLL, -1LL, -0x80000000LL, 20483LL, 7LL}) {
    put_be(f.bytes, static_cast<std::uint64_t>(key), 4);
    f.expected.push_back(get(static_cast<std::uint32_t>(key)));  // the 32-bit pattern, unsigned
  }
  return f;
}

fixture caffeine_fixture() {
  fixture f{"caffeine", wl::trace_format::caffeine, {}, {}};
  for (const std::int64_t key : {5LL, 0x7fffffffLL, -2LL, 123456789LL, 0LL, 4000000000LL}) {
    put_be(f.bytes, static_cast<std::uint64_t>(key), 8);
    f.expected.push_back(get(static_cast<std::uint64_t>(key)));
  }
  return f;
}

fixture arc_fixture() {
  fixture f{"arc", wl::trace_format::arc, "100 3 0 1\n7 1 0 2\r\n\n18446744073709551614 2 0 3\n42 2 9 4", {}};
  for (const std::uint64_t key : {100ULL, 101ULL, 102ULL, 7ULL, 18446744073709551614ULL, 18446744073709551615ULL,
                                  42ULL, 43ULL})
    f.expected.push_back(get(key));
  return f;
}

fixture twitter_fixture() {
  fixture f{"twitter", wl::trace_format::twitter, {}, {}};
  const std::pair<const char*, wl::op_kind> ops[] = {
      {"get", wl::op_kind::get},     {"gets", wl::op_kind::get},    {"set", wl::op_kind::put},
      {"add", wl::op_kind::put},     {"replace", wl::op_kind::put}, {"cas", wl::op_kind::put},
      {"append", wl::op_kind::put},  {"prepend", wl::op_kind::put}, {"delete", wl::op_kind::del},
      {"incr", wl::op_kind::put},    {"decr", wl::op_kind::put}};
  int t = 0;
  for (const auto& [name, op] : ops) {
    const std::string key = "ns" + std::to_string(t % 3) + ":q:" + std::to_string(t * 7919);
    const bool write = op == wl::op_kind::put;
    f.bytes += std::to_string(t / 4) + "," + key + "," + std::to_string(key.size()) + "," + (write ? "120" : "0") +
               ",17," + name + "," + (write ? "3600" : "0") + "\n";
    f.expected.push_back({fnv1a64(key), op});
    ++t;
  }
  f.bytes += "99,foobar,6,0,1,get,0\r\n";  // a CRLF line end; FNV-1a 64 test vector
  f.expected.push_back({0x85944171f73967e8ULL, wl::op_kind::get});
  return f;
}

fixture libcachesim_fixture() {
  fixture f{"libcachesim", wl::trace_format::libcachesim, {}, {}};
  const std::uint64_t ids[] = {42, 7, 42, 0xfedcba9876543210ULL, 7};
  const std::int64_t next[] = {2, 4, -1, -1, -1};
  for (std::uint32_t i = 0; i < 5; ++i) {
    put_oracle(f.bytes, 1000 + i / 2, ids[i], 4096 * (i + 1), next[i]);
    f.expected.push_back(get(ids[i]));
  }
  return f;
}

fixture text_fixture() {
  fixture f{"text", wl::trace_format::text, "# comment\nget 1\nput 18446744073709551615\n\nadd 3 # c\ndel 4\n", {}};
  f.expected = {{1, wl::op_kind::get}, {~0ULL, wl::op_kind::put}, {3, wl::op_kind::add}, {4, wl::op_kind::del}};
  return f;
}

fixture binary_fixture() {
  fixture f{"binary", wl::trace_format::binary, std::string(wl::trace_magic, 8), {}};
  f.expected = {{0x0102030405060708ULL, wl::op_kind::del}, {9, wl::op_kind::get}, {10, wl::op_kind::add}};
  put_le(f.bytes, 1, 4);
  put_le(f.bytes, f.expected.size(), 8);
  for (const auto& op : f.expected) {
    put_le(f.bytes, op.key, 8);
    put_le(f.bytes, static_cast<unsigned>(op.op), 1);
  }
  return f;
}

const std::vector<std::function<fixture()>> fixtures = {cache2k_fixture, caffeine_fixture,    arc_fixture,
                                                        twitter_fixture, libcachesim_fixture, text_fixture,
                                                        binary_fixture};
const char* const tools[] = {"none", "gzip", "xz", "zstd"};

class every_format : public scratch, public ::testing::WithParamInterface<std::tuple<int, const char*>> {};

TEST_P(every_format, is_read_record_by_record_detected_and_decompressed) {
  const fixture f = fixtures[static_cast<std::size_t>(std::get<0>(GetParam()))]();
  const std::string tool = std::get<1>(GetParam());
  const std::string path = compress(write(std::string(f.name) + ".trace", f.bytes), tool);

  const wl::trace_reader reader(path);
  EXPECT_EQ(reader.format(), f.format);
  EXPECT_EQ(wl::trace_compression_name(reader.compression()), tool);
  EXPECT_EQ(reader.has_operations(), f.format == wl::trace_format::text || f.format == wl::trace_format::binary ||
                                         f.format == wl::trace_format::twitter);
  EXPECT_EQ(read_all(path), f.expected);
  EXPECT_EQ(read_all(path, f.format, 1), f.expected);
  EXPECT_EQ(read_all(path, f.format, 65536), f.expected);
  // The same bytes from memory (the fuzzers' entry point).
  auto mem = wl::trace_reader::from_bytes(read(path), "mem");
  std::vector<wl::operation> all, part;
  while (mem.next_chunk(part)) all.insert(all.end(), part.begin(), part.end());
  EXPECT_EQ(all, f.expected);
}

INSTANTIATE_TEST_SUITE_P(formats_and_compressions, every_format,
                         ::testing::Combine(::testing::Range(0, 7), ::testing::ValuesIn(tools)),
                         [](const auto& info) {
                           return std::string(fixtures[static_cast<std::size_t>(std::get<0>(info.param))]().name) +
                                  "_" + std::get<1>(info.param);
                         });

class trace_formats : public scratch {};

TEST_F(trace_formats, a_long_compressed_trace_streams_through_bounded_buffers) {
  // 400 KB of keys: many refills of the 64 KiB buffers in each decompressor.
  std::string bytes;
  std::vector<wl::operation> expected;
  wl::xoshiro256ss rng(5);
  for (int i = 0; i < 100'000; ++i) {
    const auto key = static_cast<std::uint32_t>(rng() | 0x01000000U);
    put_be(bytes, key, 4);
    expected.push_back(get(key));
  }
  const std::string plain = write("long.trace", bytes);
  for (const char* tool : tools) {
    EXPECT_EQ(read_all(compress(plain, tool), std::nullopt, 65536), expected) << tool;
  }
}

TEST_F(trace_formats, concatenated_compressed_streams_are_read_as_one) {
  const std::string a = write("a", "get 1\n"), b = write("b", "put 2\n");
  for (const char* tool : {"gzip", "xz", "zstd"}) {
    const std::string both = write(std::string("both.") + tool, read(compress(a, tool)) + read(compress(b, tool)));
    EXPECT_EQ(read_all(both), (std::vector<wl::operation>{{1, wl::op_kind::get}, {2, wl::op_kind::put}})) << tool;
  }
}

TEST_F(trace_formats, partial_binary_records_name_their_byte_offset) {
  std::string c2k;
  put_be(c2k, 1, 4);
  put_be(c2k, 2, 4);
  c2k += "\x01\x02";
  EXPECT_EQ(error_of(write("c", c2k), wl::trace_format::cache2k),
            dir_.string() + "/c: byte offset 8: partial record: the data ends 2 bytes into a 4-byte key");
  std::string caf(8 * 3 + 5, '\0');
  EXPECT_EQ(error_of(write("f", caf), wl::trace_format::caffeine),
            dir_.string() + "/f: byte offset 24: partial record: the data ends 5 bytes into a 8-byte key");
  std::string lcs;
  put_oracle(lcs, 1, 1, 1, -1);
  put_oracle(lcs, 2, 2, 1, -1);
  lcs += std::string(23, '\0');
  EXPECT_EQ(error_of(write("l", lcs), wl::trace_format::libcachesim),
            dir_.string() + "/l: byte offset 48: partial record: the data ends 23 bytes into a 24-byte record");
  std::string bad_next;
  put_oracle(bad_next, 1, 1, 1, -1);
  put_oracle(bad_next, 1, 1, 1, -7);
  EXPECT_EQ(error_of(write("n", bad_next), wl::trace_format::libcachesim),
            dir_.string() + "/n: byte offset 40: bad next access -7 (expected -1 or a virtual time >= 0)");
  // The offset is into the decompressed data when the file is compressed.
  EXPECT_NE(error_of(compress(write("cz", c2k), "xz"), wl::trace_format::cache2k).find("byte offset 8: partial record"),
            std::string::npos);
}

TEST_F(trace_formats, malformed_text_records_name_their_line) {
  const std::string p = dir_.string();
  EXPECT_EQ(error_of(write("a", "1 1 0 0\n5 0 0 1\n"), wl::trace_format::arc),
            p + "/a: line 2: bad n_blocks '0' (expected an integer >= 1)");
  EXPECT_EQ(error_of(write("b", "1 1 0 0\n1 2 3\n"), wl::trace_format::arc),
            p + "/b: line 2: expected 4 fields 'start_block n_blocks ignore request_id', got 3");
  EXPECT_EQ(error_of(write("c", "18446744073709551615 2 0 0\n"), wl::trace_format::arc),
            p + "/c: line 1: the blocks run past 2^64");
  EXPECT_EQ(error_of(write("d", "1,k,1,0,1,get,0\n2,k,1,0,1,fetch,0\n"), wl::trace_format::twitter),
            p + "/d: line 2: unknown operation 'fetch' (expected get, gets, set, add, replace, cas, append, prepend, "
                "delete, incr or decr)");
  EXPECT_EQ(error_of(write("e", "1,k,1,0,1,get,0\n\n3,k,1,0,get,0\n"), wl::trace_format::twitter),
            p + "/e: line 3: expected 7 comma-separated fields 'timestamp,key,key size,value size,client id,"
                "operation,TTL', got 6");
  EXPECT_EQ(error_of(write("f", "x1,k,1,0,1,get,0\n"), wl::trace_format::twitter),
            p + "/f: line 1: bad timestamp 'x1' (expected a decimal integer)");
  EXPECT_EQ(error_of(write("g", "1,,1,0,1,get,0\n"), wl::trace_format::twitter), p + "/g: line 1: empty key");
  // Line numbers count through a compressed file too.
  EXPECT_NE(error_of(compress(write("h", "1 1 0 0\n2 x 0 0\n"), "zstd"), wl::trace_format::arc)
                .find("h.zstd: line 2: bad n_blocks 'x'"),
            std::string::npos);
}

TEST_F(trace_formats, corrupt_or_truncated_compressed_streams_name_the_compressed_offset) {
  std::string bytes;
  for (int i = 0; i < 20'000; ++i) bytes += "get " + std::to_string(i * 7) + "\n";
  const std::string plain = write("t", bytes);
  for (const char* tool : {"gzip", "xz", "zstd"}) {
    const std::string packed = read(compress(plain, tool));
    const std::string cut = write(std::string("cut.") + tool, packed.substr(0, packed.size() / 2));
    const std::string e = error_of(cut);
    EXPECT_NE(e.find(std::string("compressed byte offset ")), std::string::npos) << e;
    EXPECT_NE(e.find(std::string(tool) + " stream is truncated"), std::string::npos) << e;
    std::string flipped = packed;
    for (std::size_t i = packed.size() / 3; i < packed.size() / 3 + 16; ++i) flipped[i] = static_cast<char>(~flipped[i]);
    // Garbage may reach the parser before the decoder's check fails: either names where.
    const std::string f = error_of(write(std::string("flip.") + tool, flipped));
    EXPECT_TRUE(f.find("compressed byte offset ") != std::string::npos || f.find(": line ") != std::string::npos)
        << tool << ": " << f;
  }
  // A bad gzip CRC (the trailer's first 4 bytes) is found by the decoder alone.
  std::string bad_crc = read(compress(plain, "gzip"));
  bad_crc[bad_crc.size() - 8] = static_cast<char>(~bad_crc[bad_crc.size() - 8]);
  const std::string e = error_of(write("crc.gz", bad_crc));
  EXPECT_NE(e.find("gzip stream is corrupt (incorrect data check)"), std::string::npos) << e;
}

TEST_F(trace_formats, random_corruption_of_every_format_gives_a_clean_error_or_clean_records) {
  std::vector<std::pair<fixture, std::string>> packed;  // each fixture under each compression
  for (const auto& make : fixtures) {
    const fixture f = make();
    const std::string plain = write(std::string(f.name) + ".src", f.bytes);
    for (const char* tool : tools) packed.emplace_back(f, read(compress(plain, tool)));
  }
  wl::xoshiro256ss rng(77);
  int errors = 0, clean = 0;
  for (int round = 0; round < 560; ++round) {
    const auto& [f, source] = packed[static_cast<std::size_t>(round) % packed.size()];
    std::string bytes = source;
    for (std::uint64_t i = 0, flips = 1 + rng.below(4); i < flips && !bytes.empty(); ++i)
      bytes[rng.below(bytes.size())] = static_cast<char>(rng.below(256));
    if (rng.below(3) == 0) bytes.resize(rng.below(bytes.size() + 1));
    try {
      auto reader = wl::trace_reader::from_bytes(bytes, "bad", rng.below(2) == 0 ? std::nullopt : std::optional(f.format),
                                                 1 + rng.below(50));
      // A flipped ARC block count may ask for 2^60 blocks: read a bounded prefix.
      std::vector<wl::operation> part;
      for (std::size_t records = 0; records < 100'000 && reader.next_chunk(part); records += part.size())
        for (const auto& op : part) ASSERT_LT(static_cast<unsigned>(op.op), wl::op_kind_count);
      ++clean;
    } catch (const wl::trace_error& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.find("line ") != std::string::npos || what.find("byte offset ") != std::string::npos) << what;
      ++errors;
    }
  }
  EXPECT_GT(errors, 50);
  EXPECT_GT(clean, 50);
}

TEST_F(trace_formats, undecidable_data_is_an_error_that_lists_the_accepted_formats) {
  const std::string list = "accepted: text, binary, cache2k, caffeine, arc, twitter, libcachesim";
  const std::string none = error_of(write("none", "hello world\n"));
  EXPECT_NE(none.find("byte offset 0: cannot tell the trace format"), std::string::npos) << none;
  EXPECT_NE(none.find(list), std::string::npos) << none;
  // Records with timestamp 0, small ids and no next access are also valid
  // 64-bit ids: ambiguous.
  std::string both;
  for (std::uint64_t id = 1; id <= 4; ++id) put_oracle(both, 0, id, 100, -1);
  const std::string amb = error_of(write("both", both));
  EXPECT_NE(amb.find("ambiguous: the data fits caffeine and libcachesim"), std::string::npos) << amb;
  EXPECT_NE(amb.find(list), std::string::npos) << amb;
  // Naming the format settles it.
  EXPECT_EQ(read_all(dir_.string() + "/both", wl::trace_format::libcachesim).size(), 4U);
  EXPECT_EQ(read_all(dir_.string() + "/both", wl::trace_format::caffeine).size(), 12U);
}

TEST_F(trace_formats, names_round_trip_and_the_writer_refuses_foreign_formats) {
  for (const auto* name : {"text", "binary", "cache2k", "caffeine", "arc", "twitter", "libcachesim"}) {
    const auto f = wl::trace_format_from_name(name);
    ASSERT_TRUE(f.has_value()) << name;
    EXPECT_EQ(wl::trace_format_name(*f), name);
  }
  EXPECT_FALSE(wl::trace_format_from_name("csv").has_value());
  EXPECT_THROW((wl::trace_writer{dir_.string() + "/w", wl::trace_format::twitter}), wl::trace_error);
}

}  // namespace
