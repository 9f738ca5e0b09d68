// The trace writer (trace.hpp), the suite's text and binary forms. The
// readers are in trace_reader.cpp and formats/.
#include <hotshard/workloads/trace.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>

namespace hotshard::workloads {
namespace {

void put_le(unsigned char* p, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

std::string system_error_text() { return std::strerror(errno); }

}  // namespace

// ---------------------------------------------------------------- writer

trace_writer::trace_writer(const std::string& path, trace_format format)
    : path_(path), format_(format) {
  if (format != trace_format::text && format != trace_format::binary) {
    throw trace_error("cannot write " + path + " as " + std::string(trace_format_name(format)) +
                      ": the writer writes the suite's text and binary forms only");
  }
  file_.reset(std::fopen(path.c_str(), "wb"));
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

}  // namespace hotshard::workloads
