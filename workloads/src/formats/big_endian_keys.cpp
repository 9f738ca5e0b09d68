// Headerless big-endian key streams, one key per access: cache2k (signed
// 32-bit) and Caffeine/Corda (signed 64-bit). The key is the bit pattern read
// as unsigned; every record is a get.
#include "format.hpp"

namespace hotshard::workloads::trace_detail {
namespace {

template <std::size_t Width>
class key_parser final : public trace_parser {
 public:
  using trace_parser::trace_parser;
  void parse(std::vector<operation>& out, std::size_t max) override {
    while (out.size() < max) {
      if (!in().ensure(Width)) {
        const std::size_t left = in().available().size();
        if (left == 0) return;
        in().fail_at(in().offset(), "partial record: the data ends " + std::to_string(left) +
                                        " bytes into a " + std::to_string(Width) + "-byte key");
      }
      const auto* p = reinterpret_cast<const unsigned char*>(in().available().data());
      std::uint64_t key = 0;
      for (std::size_t i = 0; i < Width; ++i) key = key << 8 | p[i];
      out.push_back({key, op_kind::get});
      in().consume(Width);
    }
  }
};

// Any headerless binary data may be 32-bit keys: the fallback.
fit detect32(std::string_view sample, bool whole) {
  if (sample.empty() || looks_like_text(sample)) return fit::no;
  if (whole && sample.size() % 4 != 0) return fit::no;
  return fit::fallback;
}

// 64-bit keys that are ids, not hashes: every high half is 0 or all ones (a
// small negative), and not every key is 0.
fit detect64(std::string_view sample, bool whole) {
  if (sample.size() < 16 || (whole && sample.size() % 8 != 0) || looks_like_text(sample)) return fit::no;
  const auto* p = reinterpret_cast<const unsigned char*>(sample.data());
  bool any_nonzero = false;
  for (std::size_t r = 0; r + 8 <= sample.size(); r += 8) {
    const std::uint32_t high = std::uint32_t{p[r]} << 24 | std::uint32_t{p[r + 1]} << 16 |
                               std::uint32_t{p[r + 2]} << 8 | p[r + 3];
    if (high != 0 && high != 0xffffffffU) return fit::no;
    for (std::size_t i = 4; i < 8; ++i) any_nonzero = any_nonzero || p[r + i] != 0;
  }
  return any_nonzero ? fit::plausible : fit::no;
}

std::unique_ptr<trace_parser> open32(input& in) { return std::make_unique<key_parser<4>>(in); }
std::unique_ptr<trace_parser> open64(input& in) { return std::make_unique<key_parser<8>>(in); }

}  // namespace

const format_def& cache2k_format() {
  static const format_def def{trace_format::cache2k, "cache2k", false, detect32, open32};
  return def;
}

const format_def& caffeine_format() {
  static const format_def def{trace_format::caffeine, "caffeine", false, detect64, open64};
  return def;
}

}  // namespace hotshard::workloads::trace_detail
