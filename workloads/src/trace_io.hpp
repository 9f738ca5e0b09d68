// Internal to the trace readers: byte sources (a file, memory, and the three
// decompressors) and `input`, the one buffered view of the decompressed bytes
// that every format parser reads, with the offsets and line numbers its
// messages name.
#pragma once

#include <hotshard/workloads/trace.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hotshard::workloads::trace_detail {

class byte_source {
 public:
  virtual ~byte_source() = default;
  // Up to n bytes into dst; 0 only at the end of the data. trace_error on a
  // read error or corrupt compressed data.
  virtual std::size_t read(unsigned char* dst, std::size_t n) = 0;
  // The exact length of the data, when known before reading (a plain file).
  [[nodiscard]] virtual std::optional<std::uint64_t> size() const { return std::nullopt; }
};

[[nodiscard]] std::unique_ptr<byte_source> file_source(const std::string& path);
[[nodiscard]] std::unique_ptr<byte_source> memory_source(std::string bytes);
// `raw` itself, or a decompressor over it when its first bytes are the gzip,
// xz or zstd magic (`which` says which). `name` is for messages.
[[nodiscard]] std::unique_ptr<byte_source> decompressed(std::unique_ptr<byte_source> raw, const std::string& name,
                                                        trace_compression& which);

// A field of untrusted input, safe to print: at most 32 bytes, non-printables escaped.
[[nodiscard]] std::string quote(std::string_view s);

class input {
 public:
  static constexpr std::size_t buffer_bytes = std::size_t{1} << 16;
  static_assert(buffer_bytes > 2 * max_text_line, "a whole line must fit in the buffer");

  input(std::unique_ptr<byte_source> source, std::string name);

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  // The buffered, unread bytes.
  [[nodiscard]] std::string_view available() const noexcept {
    return {reinterpret_cast<const char*>(buf_.data()) + begin_, end_ - begin_};
  }
  // Reads more (after moving the unread bytes to the front); false at the end.
  bool fill();
  // True once at least n bytes are buffered, reading as needed; false if the data ends first.
  bool ensure(std::size_t n);
  // Fills the whole buffer (or to the end of the data): the sample a format is detected from.
  void fill_sample();
  [[nodiscard]] bool exhausted() const noexcept { return eof_ && begin_ == end_; }
  [[nodiscard]] bool reached_end() const noexcept { return eof_; }
  void consume(std::size_t n) noexcept {
    begin_ += n;
    offset_ += n;
  }
  // Offset of the first unread byte in the (decompressed) data.
  [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }
  [[nodiscard]] std::optional<std::uint64_t> size() const { return source_->size(); }

  // The next line without its '\n' (valid until the next call), counting
  // lines; nullopt at the end. trace_error if longer than max_text_line.
  std::optional<std::string_view> next_line();
  [[nodiscard]] std::uint64_t line() const noexcept { return line_; }

  [[noreturn]] void fail_line(const std::string& what) const;
  [[noreturn]] void fail_at(std::uint64_t offset, const std::string& what) const;

 private:
  std::unique_ptr<byte_source> source_;
  std::string name_;
  std::vector<unsigned char> buf_;
  std::size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  std::uint64_t offset_ = 0;
  std::uint64_t line_ = 0;
};

}  // namespace hotshard::workloads::trace_detail
