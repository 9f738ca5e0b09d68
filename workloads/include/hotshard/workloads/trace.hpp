// hotshard/workloads/trace.hpp — recorded operation traces: read, write, analyse.
//
// The suite's own two forms, told apart by the first bytes of the file:
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
// And the formats the cache community publishes (the reader only):
//
// cache2k      big-endian signed 32-bit keys, one per access, nothing else; the
//              key is the 32-bit pattern read as unsigned (in [0, 2^32)); all gets
// caffeine     the same with big-endian 64-bit keys (Caffeine/Corda simulator
//              traces); the key is the 64-bit pattern; all gets
// arc          ARC `.lis` text: `start_block n_blocks ignore request_id`; a line
//              stands for n_blocks >= 1 gets of blocks start_block, start_block+1, ...
//              (expanded while streaming, never held in memory)
// twitter      Twitter cache-trace CSV `timestamp,key,key size,value size,client
//              id,operation,TTL`; get/gets -> get; set, add, replace, cas,
//              append, prepend, incr, decr -> put; delete -> del. The key string
//              is hashed to 64 bits with FNV-1a 64 (offset basis
//              0xcbf29ce484222325, prime 0x100000001b3) over its bytes
// libcachesim  libCacheSim oracleGeneral: 24-byte little-endian records `u32
//              timestamp, u64 object id, u32 object size, i64 next access (-1 if
//              none)`; the key is the object id; all gets
//
// Any of them may be compressed with xz, gzip or zstd: the compression is
// detected from the file's magic bytes and the data decompressed while it is
// read (liblzma, zlib, libzstd). With no format given the format is detected
// from the first 64 KiB of (decompressed) data: the binary magic, or text whose
// first lines fit exactly one of text/arc/twitter, or records that fit
// libcachesim (non-decreasing timestamps, next access -1 or later) or
// caffeine (every 64-bit key's high half 0 or all ones); other headerless
// binary data is read as cache2k. Two formats that fit equally well, or
// none, is a trace_error that lists the accepted names.
//
// Reading is streamed: trace_reader holds one chunk of records, one I/O buffer
// and a decompressor whose window is bounded (xz: 128 MiB memory limit; zstd:
// its default 128 MiB window limit), whatever the file size. Malformed input —
// a bad op, key or field, an over-long line, a bad magic or version, a file
// shorter or longer than its header says, a bad op byte, a partial record, a
// corrupt or truncated compressed stream — is a trace_error that names the
// line (text forms) or byte offset (binary forms; an offset into the
// decompressed data when the file is compressed); it never crashes.
//
// Progress: all operations block on file I/O. One reader or writer per thread.
// Memory ordering: no shared state, no atomics.
#pragma once

#include <hotshard/workloads/operation.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hotshard::workloads {

// text and binary are the suite's own forms (the only ones trace_writer writes).
enum class trace_format { text, binary, cache2k, caffeine, arc, twitter, libcachesim };
enum class trace_compression { none, gzip, xz, zstd };

struct trace_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr char trace_magic[8] = {'H', 'S', 'T', 'R', 'A', 'C', 'E', '\0'};
inline constexpr std::uint32_t trace_version = 1;
inline constexpr std::size_t trace_header_bytes = 20;
inline constexpr std::size_t trace_record_bytes = 9;
inline constexpr std::size_t max_text_line = 4096;

// "text", "binary", "cache2k", "caffeine", "arc", "twitter", "libcachesim".
[[nodiscard]] std::string_view trace_format_name(trace_format f) noexcept;
[[nodiscard]] std::optional<trace_format> trace_format_from_name(std::string_view name) noexcept;
// The accepted names, comma separated, for messages and help.
[[nodiscard]] std::string trace_format_list();
// "none", "gzip", "xz", "zstd".
[[nodiscard]] std::string_view trace_compression_name(trace_compression c) noexcept;
// False for the key-only formats (cache2k, caffeine, arc, libcachesim), whose
// records are all reported as gets.
[[nodiscard]] bool trace_format_has_operations(trace_format f) noexcept;

class trace_writer {
 public:
  // Creates or truncates `path`; trace_error if it cannot or if `format` is
  // not text or binary.
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

namespace trace_detail {
class trace_parser;  // one per format, in workloads/src/formats/
struct reader_opener;
}

class trace_reader {
 public:
  // Opens `path`, detects its compression and its format (or takes `format`);
  // trace_error if the file cannot be opened, its header is bad or its format
  // cannot be told.
  explicit trace_reader(const std::string& path, std::size_t chunk_records = 65536);
  trace_reader(const std::string& path, std::optional<trace_format> format, std::size_t chunk_records = 65536);
  // Reads `bytes` (a whole file's content, possibly compressed) instead of a
  // file; `name` stands for the path in messages. For tests and fuzzers.
  [[nodiscard]] static trace_reader from_bytes(std::string bytes, const std::string& name,
                                               std::optional<trace_format> format = std::nullopt,
                                               std::size_t chunk_records = 65536);
  trace_reader(const trace_reader&) = delete;
  trace_reader& operator=(const trace_reader&) = delete;
  trace_reader(trace_reader&&) noexcept;
  trace_reader& operator=(trace_reader&&) noexcept;
  ~trace_reader();

  [[nodiscard]] trace_format format() const noexcept { return format_; }
  [[nodiscard]] trace_compression compression() const noexcept { return compression_; }
  [[nodiscard]] bool has_operations() const noexcept { return trace_format_has_operations(format_); }
  // Replaces `out` with the next up to chunk_records records; false (and `out`
  // empty) at the end of the trace. trace_error on malformed input.
  bool next_chunk(std::vector<operation>& out);
  // The record count of a binary header (known before reading); 0 otherwise.
  [[nodiscard]] std::uint64_t declared_records() const noexcept;

 private:
  friend struct trace_detail::reader_opener;
  trace_reader() = default;
  std::unique_ptr<trace_detail::trace_parser> parser_;
  trace_format format_ = trace_format::text;
  trace_compression compression_ = trace_compression::none;
  std::size_t chunk_records_ = 65536;
};

}  // namespace hotshard::workloads

#include <hotshard/workloads/trace_stats.hpp>  // analyze_trace, declared here before it moved
