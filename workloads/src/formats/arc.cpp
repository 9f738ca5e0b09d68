// ARC `.lis` traces (Megiddo & Modha, FAST 2003): `start_block n_blocks
// ignore request_id` per line, each line n_blocks >= 1 consecutive 512-byte
// blocks. Expanded one block per record while streaming: a line asking for
// 2^60 blocks costs no memory, only time.
#include "format.hpp"

namespace hotshard::workloads::trace_detail {
namespace {

class arc_parser final : public trace_parser {
 public:
  using trace_parser::trace_parser;
  void parse(std::vector<operation>& out, std::size_t max) override {
    while (out.size() < max) {
      if (left_ > 0) {
        out.push_back({next_++, op_kind::get});
        --left_;
        continue;
      }
      const auto next = in().next_line();
      if (!next) return;
      std::string_view fields[5];
      const std::size_t count = split_fields(*next, fields, 5);
      if (count == 0) continue;
      if (count != 4) {
        in().fail_line("expected 4 fields 'start_block n_blocks ignore request_id', got " + std::to_string(count) +
                       (count > 4 ? " or more" : ""));
      }
      const auto start = parse_u64(fields[0]);
      const auto blocks = parse_u64(fields[1]);
      if (!start) in().fail_line("bad start_block " + quote(fields[0]) + " (expected a decimal integer)");
      if (!blocks || *blocks == 0) in().fail_line("bad n_blocks " + quote(fields[1]) + " (expected an integer >= 1)");
      if (*blocks - 1 > ~std::uint64_t{0} - *start) in().fail_line("the blocks run past 2^64");
      if (!parse_u64(fields[2]) || !parse_u64(fields[3])) {
        in().fail_line("bad ignore/request_id field " + quote(parse_u64(fields[2]) ? fields[3] : fields[2]) +
                       " (expected a decimal integer)");
      }
      next_ = *start;
      left_ = *blocks;
    }
  }

 private:
  std::uint64_t next_ = 0, left_ = 0;
};

// The first lines are four decimal integers each.
fit detect(std::string_view sample, bool whole) {
  const auto lines = sample_lines(sample, whole, 8);
  if (!lines || lines->empty()) return fit::no;
  for (const std::string_view line : *lines) {
    std::string_view fields[5];
    if (split_fields(line, fields, 5) != 4) return fit::no;
    for (const auto f : fields) {
      if (!f.empty() && !parse_u64(f)) return fit::no;
    }
  }
  return fit::plausible;
}

std::unique_ptr<trace_parser> open(input& in) { return std::make_unique<arc_parser>(in); }

}  // namespace

const format_def& arc_format() {
  static const format_def def{trace_format::arc, "arc", false, detect, open};
  return def;
}

}  // namespace hotshard::workloads::trace_detail
