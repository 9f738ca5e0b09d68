// Twitter cache traces (twitter/cache-trace, OSDI 2020): CSV lines
// `timestamp,anonymized key,key size,value size,client id,operation,TTL`.
// get/gets are reads, delete a delete, every other operation a write; the key
// string is hashed with FNV-1a 64 (trace.hpp), so a run repeats exactly.
#include "format.hpp"

#include <array>

namespace hotshard::workloads::trace_detail {
namespace {

constexpr std::size_t field_count = 7;

struct op_map {
  std::string_view name;
  op_kind op;
};
constexpr std::array<op_map, 11> ops = {{{"get", op_kind::get},
                                         {"gets", op_kind::get},
                                         {"set", op_kind::put},
                                         {"add", op_kind::put},
                                         {"replace", op_kind::put},
                                         {"cas", op_kind::put},
                                         {"append", op_kind::put},
                                         {"prepend", op_kind::put},
                                         {"incr", op_kind::put},
                                         {"decr", op_kind::put},
                                         {"delete", op_kind::del}}};

std::optional<op_kind> op_of(std::string_view name) {
  for (const auto& m : ops)
    if (m.name == name) return m.op;
  return std::nullopt;
}

std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Splits on ',' into exactly field_count fields; false if the count differs.
bool split_csv(std::string_view line, std::array<std::string_view, field_count>& f, std::size_t& count) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  count = 0;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t comma = line.find(',', pos);
    if (count < field_count) f[count] = line.substr(pos, comma == std::string_view::npos ? line.npos : comma - pos);
    ++count;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return count == field_count;
}

constexpr std::array<std::string_view, field_count> names = {"timestamp", "key",      "key size", "value size",
                                                             "client id", "operation", "TTL"};

class twitter_parser final : public trace_parser {
 public:
  using trace_parser::trace_parser;
  void parse(std::vector<operation>& out, std::size_t max) override {
    while (out.size() < max) {
      const auto next = in().next_line();
      if (!next) return;
      if (next->empty() || *next == "\r") continue;
      std::array<std::string_view, field_count> f;
      std::size_t count = 0;
      if (!split_csv(*next, f, count)) {
        in().fail_line("expected " + std::to_string(field_count) +
                       " comma-separated fields 'timestamp,key,key size,value size,client id,operation,TTL', got " +
                       std::to_string(count));
      }
      if (f[1].empty()) in().fail_line("empty key");
      for (const std::size_t i : {0, 2, 3, 4, 6}) {
        if (!parse_u64(f[i])) {
          in().fail_line("bad " + std::string(names[i]) + " " + quote(f[i]) + " (expected a decimal integer)");
        }
      }
      const auto op = op_of(f[5]);
      if (!op) {
        in().fail_line("unknown operation " + quote(f[5]) +
                       " (expected get, gets, set, add, replace, cas, append, prepend, delete, incr or decr)");
      }
      out.push_back({fnv1a64(f[1]), *op});
    }
  }
};

// The first lines have seven comma-separated fields with an operation name in the sixth.
fit detect(std::string_view sample, bool whole) {
  const auto lines = sample_lines(sample, whole, 8);
  if (!lines || lines->empty()) return fit::no;
  for (const std::string_view line : *lines) {
    std::array<std::string_view, field_count> f;
    std::size_t count = 0;
    if (!split_csv(line, f, count) || !op_of(f[5]) || !parse_u64(f[0])) return fit::no;
  }
  return fit::plausible;
}

std::unique_ptr<trace_parser> open(input& in) { return std::make_unique<twitter_parser>(in); }

}  // namespace

const format_def& twitter_format() {
  static const format_def def{trace_format::twitter, "twitter", true, detect, open};
  return def;
}

}  // namespace hotshard::workloads::trace_detail
