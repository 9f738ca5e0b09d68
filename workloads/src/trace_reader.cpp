// trace_reader (trace.hpp): opens the bytes, undoes the compression, detects
// the format from a sample and hands out the format parser's records in
// chunks. The format table and the helpers the text formats share live here.
#include "formats/format.hpp"

#include <charconv>

namespace hotshard::workloads {
namespace trace_detail {

const std::vector<const format_def*>& format_table() {
  static const std::vector<const format_def*> table = {&text_format(),    &binary_format(),   &cache2k_format(),
                                                       &caffeine_format(), &arc_format(),      &twitter_format(),
                                                       &libcachesim_format()};
  return table;
}

bool looks_like_text(std::string_view sample) {
  for (const char ch : sample) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return false;
  }
  return true;
}

std::optional<std::vector<std::string_view>> sample_lines(std::string_view sample, bool whole, std::size_t max_lines) {
  if (!looks_like_text(sample)) return std::nullopt;
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < sample.size() && lines.size() < max_lines) {
    const std::size_t nl = sample.find('\n', pos);
    if (nl == std::string_view::npos && !whole) break;  // cut off by the sample's end
    const std::string_view line = sample.substr(pos, nl == std::string_view::npos ? sample.npos : nl - pos);
    pos = nl == std::string_view::npos ? sample.size() : nl + 1;
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) lines.push_back(line);
  }
  return lines;
}

std::size_t split_fields(std::string_view line, std::string_view* fields, std::size_t max) {
  std::size_t count = 0;
  std::size_t pos = 0;
  for (;;) {
    pos = line.find_first_not_of(" \t\r", pos);
    if (pos == std::string_view::npos) return count;
    if (count == max) return max + 1;
    const std::size_t stop = std::min(line.find_first_of(" \t\r", pos), line.size());
    fields[count++] = line.substr(pos, stop - pos);
    pos = stop;
  }
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace trace_detail

std::string_view trace_format_name(trace_format f) noexcept {
  for (const auto* def : trace_detail::format_table())
    if (def->id == f) return def->name;
  return "unknown";
}

std::optional<trace_format> trace_format_from_name(std::string_view name) noexcept {
  for (const auto* def : trace_detail::format_table())
    if (def->name == name) return def->id;
  return std::nullopt;
}

std::string trace_format_list() {
  std::string out;
  for (const auto* def : trace_detail::format_table()) out += (out.empty() ? "" : ", ") + std::string(def->name);
  return out;
}

std::string_view trace_compression_name(trace_compression c) noexcept {
  switch (c) {
    case trace_compression::none: return "none";
    case trace_compression::gzip: return "gzip";
    case trace_compression::xz: return "xz";
    case trace_compression::zstd: return "zstd";
  }
  return "unknown";
}

bool trace_format_has_operations(trace_format f) noexcept {
  for (const auto* def : trace_detail::format_table())
    if (def->id == f) return def->has_operations;
  return false;
}

namespace {

const trace_detail::format_def& detect_format(trace_detail::input& in) {
  in.fill_sample();
  const std::string_view sample = in.available();
  const bool whole = in.reached_end();
  trace_detail::fit best = trace_detail::fit::no;
  std::vector<const trace_detail::format_def*> fits;
  for (const auto* def : trace_detail::format_table()) {
    const trace_detail::fit f = def->detect(sample, whole);
    if (f == trace_detail::fit::no || f < best) continue;
    if (f > best) fits.clear();
    best = f;
    fits.push_back(def);
  }
  if (fits.size() == 1) return *fits.front();
  std::string why;
  if (fits.empty()) {
    why = "cannot tell the trace format: the data fits none of the formats";
  } else {
    why = "the trace format is ambiguous: the data fits";
    for (std::size_t i = 0; i < fits.size(); ++i)
      why += std::string(i == 0 ? " " : i + 1 == fits.size() ? " and " : ", ") + std::string(fits[i]->name);
  }
  in.fail_at(0, why + "; name it with format=NAME (trace spec) or --format NAME; accepted: " + trace_format_list());
}

}  // namespace

namespace trace_detail {
// Builds the reader's parser over `source`; shared by the constructors.
struct reader_opener {
  static void open(trace_reader& r, std::unique_ptr<byte_source> raw, const std::string& name,
                   std::optional<trace_format> format);
};
}  // namespace trace_detail

void trace_detail::reader_opener::open(trace_reader& r, std::unique_ptr<byte_source> raw, const std::string& name,
                                 std::optional<trace_format> format) {
  auto in = std::make_unique<input>(decompressed(std::move(raw), name, r.compression_), name);
  const format_def* def = nullptr;
  if (format) {
    for (const auto* d : format_table())
      if (d->id == *format) def = d;
    if (def == nullptr) throw trace_error(name + ": unknown trace format; accepted: " + trace_format_list());
  } else {
    def = &detect_format(*in);
  }
  r.format_ = def->id;
  r.parser_ = def->open(*in);
  r.parser_->owned = std::move(in);
}

trace_reader::trace_reader(const std::string& path, std::size_t chunk_records)
    : trace_reader(path, std::nullopt, chunk_records) {}

trace_reader::trace_reader(const std::string& path, std::optional<trace_format> format, std::size_t chunk_records)
    : chunk_records_(std::max<std::size_t>(chunk_records, 1)) {
  trace_detail::reader_opener::open(*this, trace_detail::file_source(path), path, format);
}

trace_reader trace_reader::from_bytes(std::string bytes, const std::string& name, std::optional<trace_format> format,
                                      std::size_t chunk_records) {
  trace_reader r;
  r.chunk_records_ = std::max<std::size_t>(chunk_records, 1);
  trace_detail::reader_opener::open(r, trace_detail::memory_source(std::move(bytes)), name, format);
  return r;
}

trace_reader::trace_reader(trace_reader&&) noexcept = default;
trace_reader& trace_reader::operator=(trace_reader&&) noexcept = default;
trace_reader::~trace_reader() = default;

bool trace_reader::next_chunk(std::vector<operation>& out) {
  out.clear();
  if (!parser_) return false;
  out.reserve(chunk_records_);
  parser_->parse(out, chunk_records_);
  return !out.empty();
}

std::uint64_t trace_reader::declared_records() const noexcept { return parser_ ? parser_->declared_records() : 0; }

}  // namespace hotshard::workloads
