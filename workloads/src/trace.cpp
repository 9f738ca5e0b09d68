// Trace reader and writer (trace.hpp). The reader keeps one fixed-size buffer
// and refills it, so memory does not grow with the file, and it validates
// every byte it hands out: random input ends in a trace_error, never in a
// crash or an unbounded allocation.
#include <hotshard/workloads/trace.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace hotshard::workloads {
namespace {

constexpr std::size_t buffer_bytes = std::size_t{1} << 16;
static_assert(buffer_bytes > 2 * max_text_line, "a whole line must fit in the buffer");

void put_le(unsigned char* p, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
std::uint64_t get_le(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}

// A field of untrusted input, safe to print: at most 32 bytes, non-printables escaped.
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

std::string system_error_text() { return std::strerror(errno); }

}  // namespace

// ---------------------------------------------------------------- writer

trace_writer::trace_writer(const std::string& path, trace_format format)
    : path_(path), format_(format), file_(std::fopen(path.c_str(), "wb")) {
  if (!file_) throw trace_error("cannot open " + path + " for writing: " + system_error_text());
  if (format_ == trace_format::binary) {
    unsigned char header[trace_header_bytes];
    std::memcpy(header, trace_magic, sizeof trace_magic);
    put_le(header + 8, trace_version, 4);
    put_le(header + 12, 0, 8);  // patched by close()
    if (std::fwrite(header, 1, sizeof header, file_.get()) != sizeof header) {
      throw trace_error("cannot write " + path + ": " + system_error_text());
    }
  } else {
    static constexpr std::string_view banner = "# hotshard trace (text): one 'op key' per line\n";
    if (std::fwrite(banner.data(), 1, banner.size(), file_.get()) != banner.size()) {
      throw trace_error("cannot write " + path + ": " + system_error_text());
    }
  }
}

trace_writer::~trace_writer() {
  try {
    close();
  } catch (const trace_error&) {  // NOLINT(bugprone-empty-catch): documented, close() reports it
  }
}

void trace_writer::write(const operation& op) {
  if (!file_) throw trace_error("write to " + path_ + " after close()");
  const auto code = static_cast<unsigned>(op.op);
  if (code >= op_kind_count) throw trace_error("invalid op code " + std::to_string(code) + " for " + path_);
  std::size_t size = 0;
  char text[40];
  if (format_ == trace_format::binary) {
    auto* p = reinterpret_cast<unsigned char*>(text);
    put_le(p, op.key, 8);
    p[8] = static_cast<unsigned char>(code);
    size = trace_record_bytes;
  } else {
    const std::string_view name = op_name(op.op);
    std::memcpy(text, name.data(), name.size());
    text[name.size()] = ' ';
    char* end = std::to_chars(text + name.size() + 1, text + sizeof text - 1, op.key).ptr;
    *end++ = '\n';
    size = static_cast<std::size_t>(end - text);
  }
  if (std::fwrite(text, 1, size, file_.get()) != size) {
    throw trace_error("cannot write " + path_ + ": " + system_error_text());
  }
  ++records_;
}

void trace_writer::close() {
  if (!file_) return;
  std::FILE* f = file_.release();
  bool ok = true;
  if (format_ == trace_format::binary) {
    unsigned char count[8];
    put_le(count, records_, 8);
    ok = std::fseek(f, 12, SEEK_SET) == 0 && std::fwrite(count, 1, sizeof count, f) == sizeof count;
  }
  ok = std::fflush(f) == 0 && ok;
  const std::string error = ok ? std::string() : system_error_text();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) throw trace_error("cannot finish " + path_ + ": " + (error.empty() ? system_error_text() : error));
}

// ---------------------------------------------------------------- reader

trace_reader::trace_reader(const std::string& path, std::size_t chunk_records)
    : path_(path), file_(std::fopen(path.c_str(), "rb")), chunk_records_(std::max<std::size_t>(chunk_records, 1)) {
  if (file_ == nullptr) throw trace_error("cannot open " + path + ": " + system_error_text());
  buf_.resize(buffer_bytes);
  try {
    while (end_ < trace_header_bytes && fill()) {
    }
    if (end_ < sizeof trace_magic || std::memcmp(buf_.data(), trace_magic, sizeof trace_magic) != 0) {
      format_ = trace_format::text;
      return;
    }
    format_ = trace_format::binary;
    const auto* header = reinterpret_cast<const unsigned char*>(buf_.data());
    if (end_ < trace_header_bytes) {
      throw trace_error(path + ": byte offset " + std::to_string(end_) + ": truncated header (" +
                        std::to_string(trace_header_bytes) + " bytes expected)");
    }
    const auto version = static_cast<std::uint32_t>(get_le(header + 8, 4));
    if (version != trace_version) {
      throw trace_error(path + ": byte offset 8: unsupported version " + std::to_string(version) +
                        " (this reader reads version " + std::to_string(trace_version) + ")");
    }
    declared_ = get_le(header + 12, 8);
    if (declared_ > (~std::uint64_t{0} - trace_header_bytes) / trace_record_bytes) {
      throw trace_error(path + ": byte offset 12: impossible record count " + std::to_string(declared_));
    }
    begin_ = trace_header_bytes;
    consumed_bytes_ = trace_header_bytes;
    // Check the length up front, so a replay never starts on a cut-off file.
    if (std::fseek(file_, 0, SEEK_END) == 0) {
      const long size = std::ftell(file_);
      const std::uint64_t expected = trace_header_bytes + declared_ * trace_record_bytes;
      if (size >= 0 && static_cast<std::uint64_t>(size) != expected) {
        const auto actual = static_cast<std::uint64_t>(size);
        throw trace_error(path + ": byte offset " + std::to_string(std::min(actual, expected)) + ": " +
                          (actual < expected ? "truncated" : "trailing data") + ": the header declares " +
                          std::to_string(declared_) + " records (" + std::to_string(expected) +
                          " bytes) but the file has " + std::to_string(actual) + " bytes");
      }
      if (std::fseek(file_, static_cast<long>(end_), SEEK_SET) != 0) {
        throw trace_error("cannot seek in " + path + ": " + system_error_text());
      }
    }
  } catch (...) {
    std::fclose(file_);
    throw;
  }
}

trace_reader::trace_reader(trace_reader&& other) noexcept
    : path_(std::move(other.path_)),
      file_(std::exchange(other.file_, nullptr)),
      format_(other.format_),
      chunk_records_(other.chunk_records_),
      buf_(std::move(other.buf_)),
      begin_(other.begin_),
      end_(other.end_),
      eof_(other.eof_),
      consumed_bytes_(other.consumed_bytes_),
      line_(other.line_),
      declared_(other.declared_),
      delivered_(other.delivered_) {}

trace_reader& trace_reader::operator=(trace_reader&& other) noexcept {
  if (this != &other) {
    if (file_ != nullptr) std::fclose(file_);
    path_ = std::move(other.path_);
    file_ = std::exchange(other.file_, nullptr);
    format_ = other.format_;
    chunk_records_ = other.chunk_records_;
    buf_ = std::move(other.buf_);
    begin_ = other.begin_;
    end_ = other.end_;
    eof_ = other.eof_;
    consumed_bytes_ = other.consumed_bytes_;
    line_ = other.line_;
    declared_ = other.declared_;
    delivered_ = other.delivered_;
  }
  return *this;
}

trace_reader::~trace_reader() {
  if (file_ != nullptr) std::fclose(file_);
}

bool trace_reader::fill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  const std::size_t got = std::fread(buf_.data() + end_, 1, buf_.size() - end_, file_);
  if (got == 0) {
    if (std::ferror(file_) != 0) throw trace_error("cannot read " + path_ + ": " + system_error_text());
    eof_ = true;
    return false;
  }
  end_ += got;
  return true;
}

bool trace_reader::next_chunk(std::vector<operation>& out) {
  out.clear();
  if (file_ == nullptr) return false;
  out.reserve(chunk_records_);
  if (format_ == trace_format::text) {
    parse_text(out);
  } else {
    parse_binary(out);
  }
  delivered_ += out.size();
  return !out.empty();
}

void trace_reader::text_fail(const std::string& what) const {
  throw trace_error(path_ + ": line " + std::to_string(line_) + ": " + what);
}

void trace_reader::parse_text(std::vector<operation>& out) {
  while (out.size() < chunk_records_) {
    const char* data = buf_.data();
    const void* nl = std::memchr(data + begin_, '\n', end_ - begin_);
    if (nl == nullptr) {
      if (end_ - begin_ > max_text_line) {
        ++line_;
        text_fail("line longer than " + std::to_string(max_text_line) + " bytes");
      }
      if (fill()) continue;
      if (begin_ == end_) return;  // end of file
    }
    const std::size_t line_end = nl != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nl) - data) : end_;
    std::string_view line(data + begin_, line_end - begin_);
    const std::size_t next = nl != nullptr ? line_end + 1 : end_;
    consumed_bytes_ += next - begin_;
    begin_ = next;
    ++line_;
    if (line.size() > max_text_line) text_fail("line longer than " + std::to_string(max_text_line) + " bytes");

    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    std::string_view fields[3];
    std::size_t count = 0;
    std::size_t pos = 0;
    while (count < 3) {
      pos = line.find_first_not_of(" \t\r", pos);
      if (pos == std::string_view::npos) break;
      const std::size_t stop = std::min(line.find_first_of(" \t\r", pos), line.size());
      fields[count++] = line.substr(pos, stop - pos);
      pos = stop;
    }
    if (count == 0) continue;  // blank or comment
    const auto op = op_from_name(fields[0]);
    if (!op) text_fail("unknown op " + quote(fields[0]) + " (expected get, put, add or del)");
    if (count < 2) text_fail("missing key after " + quote(fields[0]));
    std::uint64_t key = 0;
    const auto [ptr, ec] = std::from_chars(fields[1].data(), fields[1].data() + fields[1].size(), key);
    if (ec != std::errc{} || ptr != fields[1].data() + fields[1].size()) {
      text_fail("bad key " + quote(fields[1]) + " (expected a decimal integer in [0, 2^64))");
    }
    if (count > 2) text_fail("unexpected " + quote(fields[2]) + " after the key (expected 'op key')");
    out.push_back({key, *op});
  }
}

void trace_reader::parse_binary(std::vector<operation>& out) {
  while (out.size() < chunk_records_ && delivered_ + out.size() < declared_) {
    if (end_ - begin_ < trace_record_bytes && !fill() && end_ - begin_ < trace_record_bytes) {
      throw trace_error(path_ + ": byte offset " + std::to_string(consumed_bytes_ + (end_ - begin_)) +
                        ": truncated: the header declares " + std::to_string(declared_) + " records, the file ends after " +
                        std::to_string(delivered_ + out.size()));
    }
    if (end_ - begin_ < trace_record_bytes) continue;
    const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + begin_);
    const unsigned code = p[8];
    if (code >= op_kind_count) {
      throw trace_error(path_ + ": byte offset " + std::to_string(consumed_bytes_ + 8) + ": invalid op code " +
                        std::to_string(code) + " (expected 0 get, 1 put, 2 add or 3 del)");
    }
    out.push_back({get_le(p, 8), static_cast<op_kind>(code)});
    begin_ += trace_record_bytes;
    consumed_bytes_ += trace_record_bytes;
  }
  if (delivered_ + out.size() == declared_ && (begin_ != end_ || fill())) {
    throw trace_error(path_ + ": byte offset " + std::to_string(consumed_bytes_) +
                      ": trailing data after the " + std::to_string(declared_) + " records the header declares");
  }
}

}  // namespace hotshard::workloads
