// The suite's binary form (trace.hpp): "HSTRACE\0", u32 version, u64 count,
// then 9-byte records (u64 key LE, u8 op).
#include "format.hpp"

#include <algorithm>
#include <cstring>

namespace hotshard::workloads::trace_detail {
namespace {

std::uint64_t get_le(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{p[i]} << (8 * i);
  return v;
}

class binary_parser final : public trace_parser {
 public:
  explicit binary_parser(input& in) : trace_parser(in) {
    if (!in.ensure(trace_header_bytes)) {
      in.fail_at(in.available().size(),
                 "truncated header (" + std::to_string(trace_header_bytes) + " bytes expected)");
    }
    const auto* header = reinterpret_cast<const unsigned char*>(in.available().data());
    const auto version = static_cast<std::uint32_t>(get_le(header + 8, 4));
    if (version != trace_version) {
      in.fail_at(8, "unsupported version " + std::to_string(version) + " (this reader reads version " +
                        std::to_string(trace_version) + ")");
    }
    declared_ = get_le(header + 12, 8);
    if (declared_ > (~std::uint64_t{0} - trace_header_bytes) / trace_record_bytes) {
      in.fail_at(12, "impossible record count " + std::to_string(declared_));
    }
    in.consume(trace_header_bytes);
    // A plain file's length is checked up front, so a replay never starts on
    // a cut-off file; compressed data is checked as it is read.
    if (const auto size = in.size()) {
      const std::uint64_t expected = trace_header_bytes + declared_ * trace_record_bytes;
      if (*size != expected) {
        in.fail_at(std::min(*size, expected), std::string(*size < expected ? "truncated" : "trailing data") +
                                                  ": the header declares " + std::to_string(declared_) +
                                                  " records (" + std::to_string(expected) +
                                                  " bytes) but the file has " + std::to_string(*size) + " bytes");
      }
    }
  }

  void parse(std::vector<operation>& out, std::size_t max) override {
    while (out.size() < max && delivered_ < declared_) {
      if (!in().ensure(trace_record_bytes)) {
        in().fail_at(in().offset() + in().available().size(),
                     "truncated: the header declares " + std::to_string(declared_) + " records, the data ends after " +
                         std::to_string(delivered_));
      }
      const auto* p = reinterpret_cast<const unsigned char*>(in().available().data());
      const unsigned code = p[8];
      if (code >= op_kind_count) {
        in().fail_at(in().offset() + 8, "invalid op code " + std::to_string(code) +
                                            " (expected 0 get, 1 put, 2 add or 3 del)");
      }
      out.push_back({get_le(p, 8), static_cast<op_kind>(code)});
      in().consume(trace_record_bytes);
      ++delivered_;
    }
    if (delivered_ == declared_ && !in().exhausted() && (!in().available().empty() || in().fill())) {
      in().fail_at(in().offset(), "trailing data after the " + std::to_string(declared_) +
                                      " records the header declares");
    }
  }
  [[nodiscard]] std::uint64_t declared_records() const noexcept override { return declared_; }

 private:
  std::uint64_t declared_ = 0, delivered_ = 0;
};

fit detect(std::string_view sample, bool) {
  return sample.substr(0, sizeof trace_magic) == std::string_view(trace_magic, sizeof trace_magic) ? fit::certain
                                                                                                    : fit::no;
}

std::unique_ptr<trace_parser> open(input& in) { return std::make_unique<binary_parser>(in); }

}  // namespace

const format_def& binary_format() {
  static const format_def def{trace_format::binary, "binary", true, detect, open};
  return def;
}

}  // namespace hotshard::workloads::trace_detail
