// libCacheSim oracleGeneral: 24-byte little-endian records `u32 timestamp,
// u64 object id, u32 object size, i64 next access (-1 if none)`. The key is the
// object id; every record is a get.
#include "format.hpp"

namespace hotshard::workloads::trace_detail {
namespace {

constexpr std::size_t record_bytes = 24;

std::uint64_t get_le(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}
std::int64_t next_access(const unsigned char* p) { return static_cast<std::int64_t>(get_le(p + 16, 8)); }

class libcachesim_parser final : public trace_parser {
 public:
  using trace_parser::trace_parser;
  void parse(std::vector<operation>& out, std::size_t max) override {
    while (out.size() < max) {
      if (!in().ensure(record_bytes)) {
        const std::size_t left = in().available().size();
        if (left == 0) return;
        in().fail_at(in().offset(), "partial record: the data ends " + std::to_string(left) +
                                        " bytes into a 24-byte record");
      }
      const auto* p = reinterpret_cast<const unsigned char*>(in().available().data());
      if (next_access(p) < -1) {
        in().fail_at(in().offset() + 16, "bad next access " + std::to_string(next_access(p)) +
                                             " (expected -1 or a virtual time >= 0)");
      }
      out.push_back({get_le(p + 4, 8), op_kind::get});
      in().consume(record_bytes);
    }
  }
};

// At least two whole records with non-decreasing timestamps whose next access
// is -1 or later than the record itself.
fit detect(std::string_view sample, bool whole) {
  if (sample.size() < 2 * record_bytes || (whole && sample.size() % record_bytes != 0) || looks_like_text(sample)) {
    return fit::no;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(sample.data());
  std::uint64_t last_time = 0;
  for (std::size_t i = 0; (i + 1) * record_bytes <= sample.size(); ++i) {
    const unsigned char* r = p + i * record_bytes;
    const std::uint64_t time = get_le(r, 4);
    const std::int64_t next = next_access(r);
    if (time < last_time || (next != -1 && next <= static_cast<std::int64_t>(i))) return fit::no;
    last_time = time;
  }
  return fit::plausible;
}

std::unique_ptr<trace_parser> open(input& in) { return std::make_unique<libcachesim_parser>(in); }

}  // namespace

const format_def& libcachesim_format() {
  static const format_def def{trace_format::libcachesim, "libcachesim", false, detect, open};
  return def;
}

}  // namespace hotshard::workloads::trace_detail
