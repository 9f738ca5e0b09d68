// hotshard/workloads/trace.hpp — recorded operation traces: read, write, analyse.
//
// Two forms, told apart by the first bytes of the file:
//
// text    one operation per line, `op key`: op is get, put, add or del, key a
//         decimal 64-bit unsigned integer; anything after `#` is a comment;
//         blank lines, surrounding spaces/tabs and CRLF line ends are accepted.
//         A line may hold at most max_text_line bytes.
// binary  a 20-byte header: the magic "HSTRACE" followed by a zero byte, a
//         little-endian u32 version (1) and a little-endian u64 record count;
//         then `count` records of 9 bytes: u64 key (little-endian), u8 op
//         (0 get, 1 put, 2 add, 3 del). The writer patches the count at close().
//
// Reading is streamed: trace_reader holds one chunk of records and one I/O
// buffer, whatever the file size. Malformed input — a bad op, a bad or missing
// key, extra fields, an over-long line, a bad magic or version, a file shorter or
// longer than its header says, a bad op byte — is reported as a trace_error that
// names the line (text) or byte offset (binary); it never crashes.
//
// Progress: all operations block on file I/O. One reader or writer per thread.
// Memory ordering: no shared state, no atomics.
#pragma once

#include <hotshard/workloads/operation.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace hotshard::workloads {

enum class trace_format { text, binary };

struct trace_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr char trace_magic[8] = {'H', 'S', 'T', 'R', 'A', 'C', 'E', '\0'};
inline constexpr std::uint32_t trace_version = 1;
inline constexpr std::size_t trace_header_bytes = 20;
inline constexpr std::size_t trace_record_bytes = 9;
inline constexpr std::size_t max_text_line = 4096;

class trace_writer {
 public:
  // Creates or truncates `path`; trace_error if it cannot.
  trace_writer(const std::string& path, trace_format format);
  ~trace_writer();  // closes if still open; errors are lost, call close() to see them
  trace_writer(const trace_writer&) = delete;
  trace_writer& operator=(const trace_writer&) = delete;

  void write(const operation& op);  // trace_error on I/O failure or after close()
  void close();                     // flushes, patches the binary header; idempotent
  [[nodiscard]] std::uint64_t records() const noexcept { return records_; }

 private:
  struct file_closer {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
  };
  std::string path_;
  trace_format format_;
  std::unique_ptr<std::FILE, file_closer> file_;
  std::uint64_t records_ = 0;
};

class trace_reader {
 public:
  // Opens `path` and detects the format; trace_error if the file cannot be
  // opened or its binary header is bad.
  explicit trace_reader(const std::string& path, std::size_t chunk_records = 65536);
  trace_reader(const trace_reader&) = delete;
  trace_reader& operator=(const trace_reader&) = delete;
  trace_reader(trace_reader&&) noexcept;
  trace_reader& operator=(trace_reader&&) noexcept;
  ~trace_reader();

  [[nodiscard]] trace_format format() const noexcept { return format_; }
  // Replaces `out` with the next up to chunk_records records; false (and `out`
  // empty) at the end of the trace. trace_error on malformed input.
  bool next_chunk(std::vector<operation>& out);
  // The record count of a binary header (known before reading); 0 for text.
  [[nodiscard]] std::uint64_t declared_records() const noexcept { return declared_; }

 private:
  bool fill();  // refills buf_ from the file; false at end of file
  void parse_text(std::vector<operation>& out);
  void parse_binary(std::vector<operation>& out);
  [[noreturn]] void text_fail(const std::string& what) const;

  std::string path_;
  std::FILE* file_ = nullptr;
  trace_format format_ = trace_format::text;
  std::size_t chunk_records_;
  std::vector<char> buf_;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes of buf_
  bool eof_ = false;
  std::uint64_t consumed_bytes_ = 0;  // file offset of buf_[begin_]
  std::uint64_t line_ = 0;            // text: lines consumed so far
  std::uint64_t declared_ = 0;        // binary: records in the header
  std::uint64_t delivered_ = 0;       // records returned so far
};

struct trace_statistics {
  std::uint64_t records = 0, distinct_keys = 0;
  std::array<std::uint64_t, 4> per_op{};                     // indexed by op_kind
  std::vector<std::pair<std::uint64_t, std::uint64_t>> top;  // (key, count), most frequent first
  // Least-squares slope of log(count) against log(rank) over the ranks whose
  // count is at least 16 (at most 10,000 ranks), negated: about s for a Zipf
  // trace with enough samples per rank, 0 when fewer than 3 ranks qualify.
  double zipf_s_estimate = 0;
};

// One pass over the trace (memory: the distinct keys' counts); trace_error as
// trace_reader.
[[nodiscard]] trace_statistics analyze_trace(const std::string& path, std::size_t top_n = 10);

}  // namespace hotshard::workloads
