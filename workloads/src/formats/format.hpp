// Internal to the trace readers: the one interface every format implements.
// A format is one file in this folder defining a format_def (how to detect it,
// how to parse it) and one line in format_table() (trace_reader.cpp).
#pragma once

#include "../trace_io.hpp"

#include <hotshard/workloads/trace.hpp>

#include <memory>
#include <string_view>
#include <vector>

namespace hotshard::workloads::trace_detail {

class trace_parser {
 public:
  explicit trace_parser(input& in) : in_(&in) {}
  virtual ~trace_parser() = default;
  trace_parser(const trace_parser&) = delete;
  trace_parser& operator=(const trace_parser&) = delete;
  // Appends records to `out` until it holds `max` or the data ends;
  // trace_error on malformed input.
  virtual void parse(std::vector<operation>& out, std::size_t max) = 0;
  [[nodiscard]] virtual std::uint64_t declared_records() const noexcept { return 0; }
  [[nodiscard]] input& in() const noexcept { return *in_; }

  std::unique_ptr<input> owned;  // the input, kept alive with the parser

 private:
  input* in_;
};

// How well a sample of the data fits a format; detection takes the best fit
// and fails when two formats share it.
enum class fit { no, fallback, plausible, certain };

struct format_def {
  trace_format id;
  std::string_view name;
  bool has_operations;
  // `sample`: the first bytes of the data; `whole`: the sample is all of it.
  fit (*detect)(std::string_view sample, bool whole);
  // Starts parsing `in` (positioned at the start of the data).
  std::unique_ptr<trace_parser> (*open)(input& in);
};

const format_def& text_format();
const format_def& binary_format();
const format_def& cache2k_format();
const format_def& caffeine_format();
const format_def& arc_format();
const format_def& twitter_format();
const format_def& libcachesim_format();

// Every format, in the order of trace_format.
const std::vector<const format_def*>& format_table();

// Text sniffing shared by the text formats: up to `max_lines` non-blank lines
// of the sample (the last, possibly cut-off line dropped unless `whole`), or
// nullopt if the sample has a NUL or other control byte (not text).
std::optional<std::vector<std::string_view>> sample_lines(std::string_view sample, bool whole,
                                                          std::size_t max_lines = 32);
// No NUL or other control byte but tab, CR and LF.
bool looks_like_text(std::string_view sample);
// Splits on spaces/tabs/CR into at most `max` fields; returns the count (max + 1 if more).
std::size_t split_fields(std::string_view line, std::string_view* fields, std::size_t max);
// A decimal unsigned 64-bit integer, the whole string.
std::optional<std::uint64_t> parse_u64(std::string_view s);

}  // namespace hotshard::workloads::trace_detail
