// The suite's text form (trace.hpp): `op key` lines, `#` comments.
#include "format.hpp"

#include <charconv>

namespace hotshard::workloads::trace_detail {
namespace {

class text_parser final : public trace_parser {
 public:
  using trace_parser::trace_parser;
  void parse(std::vector<operation>& out, std::size_t max) override {
    while (out.size() < max) {
      const auto next = in().next_line();
      if (!next) return;
      std::string_view line = *next;
      if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
      std::string_view fields[3];
      const std::size_t count = split_fields(line, fields, 3);
      if (count == 0) continue;  // blank or comment
      const auto op = op_from_name(fields[0]);
      if (!op) in().fail_line("unknown op " + quote(fields[0]) + " (expected get, put, add or del)");
      if (count < 2) in().fail_line("missing key after " + quote(fields[0]));
      const auto key = parse_u64(fields[1]);
      if (!key) in().fail_line("bad key " + quote(fields[1]) + " (expected a decimal integer in [0, 2^64))");
      if (count > 2) in().fail_line("unexpected " + quote(fields[2]) + " after the key (expected 'op key')");
      out.push_back({*key, *op});
    }
  }
};

// The first line that is not blank or a comment starts with an op name; an
// empty or comment-only file is an empty text trace.
fit detect(std::string_view sample, bool whole) {
  if (sample.empty()) return fit::fallback;
  std::size_t pos = 0;
  while (pos < sample.size()) {
    const std::size_t nl = std::min(sample.find('\n', pos), sample.size());
    if (nl == sample.size() && !whole) return fit::no;  // no whole line in 64 KiB
    std::string_view line = sample.substr(pos, nl - pos);
    pos = nl + 1;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    std::string_view fields[1];
    if (split_fields(line, fields, 1) == 0) continue;
    return op_from_name(fields[0]) ? fit::plausible : fit::no;
  }
  return fit::fallback;
}

std::unique_ptr<trace_parser> open(input& in) { return std::make_unique<text_parser>(in); }

}  // namespace

const format_def& text_format() {
  static const format_def def{trace_format::text, "text", true, detect, open};
  return def;
}

}  // namespace hotshard::workloads::trace_detail
