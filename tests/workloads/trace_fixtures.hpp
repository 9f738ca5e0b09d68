// Test helpers for the trace readers: a scratch directory per test, fixtures
// written byte by byte in each format's published layout, and compression by
// the distribution's xz, gzip and zstd tools.
#pragma once

#include <hotshard/workloads/trace.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

namespace trace_fixtures {

namespace wl = hotshard::workloads;

inline void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>(v >> (8 * i));
}
inline void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>(v >> (8 * i));
}
// One libCacheSim oracleGeneral record.
inline void put_oracle(std::string& out, std::uint32_t time, std::uint64_t id, std::uint32_t size, std::int64_t next) {
  put_le(out, time, 4);
  put_le(out, id, 8);
  put_le(out, size, 4);
  put_le(out, static_cast<std::uint64_t>(next), 8);
}

// FNV-1a 64, written out here independently of the reader.
inline std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

class scratch : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (auto& c : name)
      if (c == '/') c = '_';
    dir_ = std::filesystem::temp_directory_path() / ("hotshard_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  [[nodiscard]] std::string write(const std::string& name, const std::string& bytes) const {
    const auto path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  [[nodiscard]] static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  // Compresses `path` with the named tool ("none", "gzip", "xz", "zstd"); returns the new path.
  [[nodiscard]] static std::string compress(const std::string& path, const std::string& tool) {
    if (tool == "none") return path;
    const std::string out = path + "." + tool;
    const std::string cmd = tool + " -q -c " + path + " > " + out;
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    return out;
  }
  [[nodiscard]] static std::vector<wl::operation> read_all(const std::string& path,
                                                            std::optional<wl::trace_format> format = std::nullopt,
                                                            std::size_t chunk = 7) {
    wl::trace_reader reader(path, format, chunk);
    std::vector<wl::operation> all, part;
    while (reader.next_chunk(part)) {
      EXPECT_LE(part.size(), chunk);
      all.insert(all.end(), part.begin(), part.end());
    }
    return all;
  }
  [[nodiscard]] static std::string error_of(const std::string& path, std::optional<wl::trace_format> format = std::nullopt) {
    try {
      (void)read_all(path, format);
    } catch (const wl::trace_error& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::filesystem::path dir_;
};

}  // namespace trace_fixtures
