// Byte sources and the buffered input of the trace readers (trace_io.hpp).
// Each decompressor reads its compressed input through one fixed buffer and
// writes into the caller's, so memory stays bounded whatever the file size;
// corrupt or truncated compressed data is a trace_error naming the offset
// into the compressed file.
#include "trace_io.hpp"

#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace hotshard::workloads::trace_detail {
namespace {

constexpr std::size_t raw_buffer_bytes = std::size_t{1} << 16;
constexpr std::uint64_t xz_memory_limit = std::uint64_t{128} << 20;

class file_byte_source final : public byte_source {
 public:
  explicit file_byte_source(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "rb")) {
    if (file_ == nullptr) throw trace_error("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(::fileno(file_), &st) == 0 && S_ISREG(st.st_mode)) size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~file_byte_source() override { std::fclose(file_); }
  file_byte_source(const file_byte_source&) = delete;
  file_byte_source& operator=(const file_byte_source&) = delete;
  std::size_t read(unsigned char* dst, std::size_t n) override {
    const std::size_t got = std::fread(dst, 1, n, file_);
    if (got == 0 && std::ferror(file_) != 0) throw trace_error("cannot read " + path_ + ": " + std::strerror(errno));
    return got;
  }
  [[nodiscard]] std::optional<std::uint64_t> size() const override { return size_; }

 private:
  std::string path_;
  std::FILE* file_;
  std::optional<std::uint64_t> size_;
};

class memory_byte_source final : public byte_source {
 public:
  explicit memory_byte_source(std::string bytes) : bytes_(std::move(bytes)) {}
  std::size_t read(unsigned char* dst, std::size_t n) override {
    const std::size_t got = std::min(n, bytes_.size() - pos_);
    std::memcpy(dst, bytes_.data() + pos_, got);
    pos_ += got;
    return got;
  }
  [[nodiscard]] std::optional<std::uint64_t> size() const override { return bytes_.size(); }

 private:
  std::string bytes_;
  std::size_t pos_ = 0;
};

// The first bytes of `raw` (read to look for a magic) served again before the rest.
class prefixed_source final : public byte_source {
 public:
  prefixed_source(std::string prefix, std::unique_ptr<byte_source> raw)
      : prefix_(std::move(prefix)), raw_(std::move(raw)) {}
  std::size_t read(unsigned char* dst, std::size_t n) override {
    if (pos_ < prefix_.size()) {
      const std::size_t got = std::min(n, prefix_.size() - pos_);
      std::memcpy(dst, prefix_.data() + pos_, got);
      pos_ += got;
      return got;
    }
    return raw_->read(dst, n);
  }
  [[nodiscard]] std::optional<std::uint64_t> size() const override { return raw_->size(); }

 private:
  std::string prefix_;
  std::size_t pos_ = 0;
  std::unique_ptr<byte_source> raw_;
};

// What every decompressor shares: its compressed input buffer and messages.
class decompressor : public byte_source {
 protected:
  decompressor(std::unique_ptr<byte_source> raw, std::string name, const char* what)
      : raw_(std::move(raw)), name_(std::move(name)), what_(what), in_(raw_buffer_bytes) {}
  // Refills the compressed buffer when it is empty; false at the end of the file.
  bool refill() {
    if (in_pos_ < in_end_) return true;
    if (raw_eof_) return false;
    consumed_ += in_end_;
    in_pos_ = in_end_ = 0;
    in_end_ = raw_->read(in_.data(), in_.size());
    if (in_end_ == 0) raw_eof_ = true;
    return in_end_ > 0;
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw trace_error(name_ + ": compressed byte offset " + std::to_string(consumed_ + in_pos_) + ": " + what_ +
                      " stream " + why);
  }
  std::unique_ptr<byte_source> raw_;
  std::string name_;
  const char* what_;
  std::vector<unsigned char> in_;
  std::size_t in_pos_ = 0, in_end_ = 0;
  bool raw_eof_ = false;
  std::uint64_t consumed_ = 0;  // compressed bytes before in_
  bool done_ = false;
};

class gzip_source final : public decompressor {
 public:
  gzip_source(std::unique_ptr<byte_source> raw, std::string name) : decompressor(std::move(raw), std::move(name), "gzip") {
    if (inflateInit2(&z_, 15 + 16) != Z_OK) throw trace_error(name_ + ": cannot start the gzip decoder");
  }
  ~gzip_source() override { inflateEnd(&z_); }
  gzip_source(const gzip_source&) = delete;
  gzip_source& operator=(const gzip_source&) = delete;

  std::size_t read(unsigned char* dst, std::size_t n) override {
    std::size_t produced = 0;
    while (produced == 0 && !done_) {
      if (member_ended_) {
        // Another gzip member may follow (`cat a.gz b.gz`); anything else is an error.
        if (!refill()) {
          done_ = true;
          break;
        }
        if (in_[in_pos_] != 0x1f) fail("has trailing data after its end");
        inflateReset(&z_);
        member_ended_ = false;
      }
      if (!refill()) fail("is truncated");
      z_.next_in = in_.data() + in_pos_;
      z_.avail_in = static_cast<uInt>(in_end_ - in_pos_);
      z_.next_out = dst + produced;
      const auto room = static_cast<uInt>(n - produced);  // n <= the input buffer: fits
      z_.avail_out = room;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      in_pos_ = in_end_ - z_.avail_in;
      produced += room - z_.avail_out;
      if (rc == Z_STREAM_END) {
        member_ended_ = true;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        fail(std::string("is corrupt (") + (z_.msg != nullptr ? z_.msg : "zlib error " + std::to_string(rc)) + ")");
      }
    }
    return produced;
  }

 private:
  z_stream z_{};
  bool member_ended_ = false;
};

class xz_source final : public decompressor {
 public:
  xz_source(std::unique_ptr<byte_source> raw, std::string name) : decompressor(std::move(raw), std::move(name), "xz") {
    if (lzma_stream_decoder(&s_, xz_memory_limit, LZMA_CONCATENATED) != LZMA_OK) {
      throw trace_error(name_ + ": cannot start the xz decoder");
    }
  }
  ~xz_source() override { lzma_end(&s_); }
  xz_source(const xz_source&) = delete;
  xz_source& operator=(const xz_source&) = delete;

  std::size_t read(unsigned char* dst, std::size_t n) override {
    std::size_t produced = 0;
    while (produced == 0 && !done_) {
      const bool more = refill();
      s_.next_in = in_.data() + in_pos_;
      s_.avail_in = in_end_ - in_pos_;
      s_.next_out = dst;
      s_.avail_out = n;
      const lzma_ret rc = lzma_code(&s_, more ? LZMA_RUN : LZMA_FINISH);
      in_pos_ = in_end_ - s_.avail_in;
      produced = n - s_.avail_out;
      switch (rc) {
        case LZMA_OK: break;
        case LZMA_STREAM_END: done_ = true; break;
        case LZMA_BUF_ERROR: fail("is truncated");
        case LZMA_MEMLIMIT_ERROR: fail("needs more than the 128 MiB decoder memory limit");
        case LZMA_FORMAT_ERROR: fail("has a bad header");
        case LZMA_OPTIONS_ERROR: fail("uses unsupported options");
        default: fail("is corrupt (liblzma error " + std::to_string(static_cast<int>(rc)) + ")");
      }
    }
    return produced;
  }

 private:
  lzma_stream s_ = LZMA_STREAM_INIT;
};

class zstd_source final : public decompressor {
 public:
  zstd_source(std::unique_ptr<byte_source> raw, std::string name)
      : decompressor(std::move(raw), std::move(name), "zstd"), d_(ZSTD_createDStream()) {
    if (d_ == nullptr) throw trace_error(name_ + ": cannot start the zstd decoder");
  }
  ~zstd_source() override { ZSTD_freeDStream(d_); }
  zstd_source(const zstd_source&) = delete;
  zstd_source& operator=(const zstd_source&) = delete;

  std::size_t read(unsigned char* dst, std::size_t n) override {
    ZSTD_outBuffer out{dst, n, 0};
    while (out.pos == 0 && !done_) {
      const bool more = refill();
      if (!more && pending_ == 0) {  // the input ended between frames: the end
        done_ = true;
        break;
      }
      ZSTD_inBuffer in{in_.data(), in_end_, in_pos_};
      const std::size_t rc = ZSTD_decompressStream(d_, &out, &in);
      in_pos_ = in.pos;
      if (ZSTD_isError(rc) != 0) fail(std::string("is corrupt (") + ZSTD_getErrorName(rc) + ")");
      pending_ = rc;  // 0: a frame ended and is fully flushed
      if (!more && out.pos == 0) fail("is truncated");
    }
    return out.pos;
  }

 private:
  ZSTD_DStream* d_;
  std::size_t pending_ = 0;
};

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

}  // namespace

std::unique_ptr<byte_source> file_source(const std::string& path) { return std::make_unique<file_byte_source>(path); }
std::unique_ptr<byte_source> memory_source(std::string bytes) {
  return std::make_unique<memory_byte_source>(std::move(bytes));
}

std::unique_ptr<byte_source> decompressed(std::unique_ptr<byte_source> raw, const std::string& name,
                                          trace_compression& which) {
  std::string head(6, '\0');
  std::size_t got = 0;
  while (got < head.size()) {
    const std::size_t n = raw->read(reinterpret_cast<unsigned char*>(head.data()) + got, head.size() - got);
    if (n == 0) break;
    got += n;
  }
  head.resize(got);
  auto source = std::make_unique<prefixed_source>(head, std::move(raw));
  if (starts_with(head, "\x1f\x8b")) {
    which = trace_compression::gzip;
    return std::make_unique<gzip_source>(std::move(source), name);
  }
  if (starts_with(head, std::string_view("\xfd" "7zXZ\0", 6))) {
    which = trace_compression::xz;
    return std::make_unique<xz_source>(std::move(source), name);
  }
  if (starts_with(head, "\x28\xb5\x2f\xfd")) {
    which = trace_compression::zstd;
    return std::make_unique<zstd_source>(std::move(source), name);
  }
  which = trace_compression::none;
  return source;
}

std::string quote(std::string_view s) {
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < 32; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > 32) out += "...";
  return out + "'";
}

input::input(std::unique_ptr<byte_source> source, std::string name)
    : source_(std::move(source)), name_(std::move(name)), buf_(buffer_bytes) {}

bool input::fill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buf_.size()) return true;  // full: the caller consumes first
  const std::size_t got = source_->read(buf_.data() + end_, buf_.size() - end_);
  if (got == 0) {
    eof_ = true;
    return false;
  }
  end_ += got;
  return true;
}

bool input::ensure(std::size_t n) {
  while (end_ - begin_ < n) {
    if (!fill()) return false;
  }
  return true;
}

void input::fill_sample() {
  while (end_ < buf_.size() && fill()) {
  }
}

std::optional<std::string_view> input::next_line() {
  for (;;) {
    const auto* data = buf_.data();
    const void* nl = std::memchr(data + begin_, '\n', end_ - begin_);
    if (nl == nullptr) {
      if (end_ - begin_ > max_text_line) {
        ++line_;
        fail_line("line longer than " + std::to_string(max_text_line) + " bytes");
      }
      if (fill()) continue;
      if (begin_ == end_) return std::nullopt;
    }
    const std::size_t line_end =
        nl != nullptr ? static_cast<std::size_t>(static_cast<const unsigned char*>(nl) - data) : end_;
    const std::string_view line(reinterpret_cast<const char*>(data) + begin_, line_end - begin_);
    consume((nl != nullptr ? line_end + 1 : end_) - begin_);
    ++line_;
    if (line.size() > max_text_line) fail_line("line longer than " + std::to_string(max_text_line) + " bytes");
    return line;
  }
}

void input::fail_line(const std::string& what) const {
  throw trace_error(name_ + ": line " + std::to_string(line_) + ": " + what);
}

void input::fail_at(std::uint64_t offset, const std::string& what) const {
  throw trace_error(name_ + ": byte offset " + std::to_string(offset) + ": " + what);
}

}  // namespace hotshard::workloads::trace_detail
