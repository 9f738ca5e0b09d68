// The one spec parser (spec.hpp). Each kind lists its parameters with a type,
// a default (or none: required) and what the type accepts; every message is
// built from that table so errors and help never disagree.
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/trace.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <vector>

namespace hotshard::workloads {
namespace {

enum class param_type { count, positive, fraction, positive_integer, flag, path, trace_format };

struct param_def {
  std::string_view name;
  param_type type;
  std::string_view fallback;  // empty: required
};

struct kind_def {
  std::string_view kind;
  std::vector<param_def> params;
};

const std::vector<kind_def>& kinds() {
  static const std::vector<kind_def> table = {
      {"uniform", {{"n", param_type::count, ""}}},
      {"zipf", {{"n", param_type::count, ""}, {"s", param_type::positive, "0.99"}, {"scramble", param_type::flag, "0"}}},
      {"hotspot",
       {{"n", param_type::count, ""},
        {"hot", param_type::fraction, "0.2"},
        {"ops", param_type::fraction, "0.8"},
        {"scramble", param_type::flag, "0"}}},
      {"latest", {{"n", param_type::count, ""}}},
      {"shift",
       {{"n", param_type::count, ""},
        {"s", param_type::positive, "0.99"},
        {"every", param_type::positive_integer, "100000"},
        {"scramble", param_type::flag, "0"}}},
      {"herd", {{"keys", param_type::positive_integer, "1"}, {"waves", param_type::positive_integer, "10"}}},
      {"trace", {{"path", param_type::path, ""}, {"format", param_type::trace_format, "auto"}}},
      {"viral",  // viral.hpp: the defaults are viral_config's
       {{"n", param_type::count, ""},
        {"s", param_type::positive, "0.99"},
        {"reads", param_type::fraction, "0.8"},
        {"start", param_type::fraction, "0.3"},
        {"share", param_type::fraction, "0.5"},
        {"herd_start", param_type::fraction, "0.7"},
        {"herd_length", param_type::fraction, "0.03"},
        {"herd_keys", param_type::positive_integer, "8"}}},
  };
  return table;
}

std::string_view accepted(param_type type) {
  switch (type) {
    case param_type::count: return "an integer in [1, 2^63]";
    case param_type::positive: return "a number > 0";
    case param_type::fraction: return "a number in [0, 1]";
    case param_type::positive_integer: return "an integer >= 1";
    case param_type::flag: return "0 or 1";
    case param_type::path: return "a file path";
    case param_type::trace_format: {
      static const std::string formats = "auto or one of " + trace_format_list();
      return formats;
    }
  }
  return "";
}

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

std::string kind_list() {
  std::string out;
  for (const auto& k : kinds()) out += (out.empty() ? "" : ", ") + std::string(k.kind);
  return out;
}

std::string param_list(const kind_def& kind) {
  std::string out;
  for (const auto& p : kind.params) out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

std::optional<double> parse_double(std::string_view s) {
  double v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Digits, 1e6-style (exact integers only) or 2^K.
std::optional<std::uint64_t> parse_integer(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc{} && ptr == s.data() + s.size()) return v;
  if (s.size() > 2 && s[0] == '2' && s[1] == '^') {
    unsigned k = 0;
    auto [p2, e2] = std::from_chars(s.data() + 2, s.data() + s.size(), k);
    if (e2 == std::errc{} && p2 == s.data() + s.size() && k < 64) return std::uint64_t{1} << k;
    return std::nullopt;
  }
  const auto d = parse_double(s);
  if (!d || *d < 0 || *d >= 0x1.0p64 || std::floor(*d) != *d) return std::nullopt;
  return static_cast<std::uint64_t>(*d);
}

bool valid(param_type type, std::string_view value) {
  switch (type) {
    case param_type::count: {
      const auto v = parse_integer(value);
      return v && *v >= 1 && *v <= (std::uint64_t{1} << 63);
    }
    case param_type::positive: {
      const auto v = parse_double(value);
      return v && *v > 0;
    }
    case param_type::fraction: {
      const auto v = parse_double(value);
      return v && *v >= 0 && *v <= 1;
    }
    case param_type::positive_integer: {
      const auto v = parse_integer(value);
      return v && *v >= 1;
    }
    case param_type::flag: return value == "0" || value == "1";
    case param_type::path: return !value.empty();
    case param_type::trace_format: return value == "auto" || trace_format_from_name(value).has_value();
  }
  return false;
}

[[noreturn]] void fail(std::string_view kind, std::string_view what) {
  throw spec_error(std::string(kind) + ": " + std::string(what));
}

const kind_def* find_kind(std::string_view kind) {
  for (const auto& k : kinds())
    if (k.kind == kind) return &k;
  return nullptr;
}

const param_def* find_param(const kind_def& kind, std::string_view name) {
  for (const auto& p : kind.params)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace

const std::string& workload_spec::value(const std::string& key) const {
  const auto it = params.find(key);
  if (it == params.end()) fail(kind, "no parameter '" + key + "' in \"" + text + "\"");
  return it->second;
}

double workload_spec::number(const std::string& key) const {
  const std::string& v = value(key);
  if (const auto d = parse_double(v)) return *d;
  if (const auto i = parse_integer(v)) return static_cast<double>(*i);
  fail(kind, "parameter '" + key + "' is not a number (got \"" + v + "\")");
}

std::uint64_t workload_spec::integer(const std::string& key) const {
  const std::string& v = value(key);
  if (const auto i = parse_integer(v)) return *i;
  fail(kind, "parameter '" + key + "' is not an integer (got \"" + v + "\")");
}

workload_spec parse_spec(std::string_view text) {
  const std::string_view whole = trim(text);
  if (whole.empty()) {
    throw spec_error("empty workload spec; expected KIND:KEY=VALUE,... with KIND one of " + kind_list());
  }
  const auto colon = whole.find(':');
  const std::string_view kind_name = trim(whole.substr(0, colon));
  const std::string_view rest = colon == std::string_view::npos ? std::string_view{} : whole.substr(colon + 1);
  const kind_def* kind = find_kind(kind_name);
  if (kind == nullptr) {
    throw spec_error("unknown workload kind '" + std::string(kind_name) + "' in \"" + std::string(whole) +
                     "\"; accepted: " + kind_list());
  }

  workload_spec spec{std::string(kind_name), {}, std::string(text)};
  std::vector<std::string_view> tokens;
  if (kind->kind == "trace") {
    // A path may contain commas: it is the whole rest of the spec, less a
    // leading `format=NAME,` or a trailing `,format=NAME` (NAME has no comma).
    std::string_view r = trim(rest);
    if (r.substr(0, 7) == "format=") {
      const auto comma = r.find(',');
      tokens.push_back(trim(r.substr(0, comma)));
      r = comma == std::string_view::npos ? std::string_view{} : trim(r.substr(comma + 1));
    } else if (const auto at = r.rfind(",format="); at != std::string_view::npos &&
                                                     r.find(',', at + 1) == std::string_view::npos) {
      tokens.push_back(trim(r.substr(at + 1)));
      r = trim(r.substr(0, at));
    }
    if (!r.empty()) tokens.push_back(r);
  } else if (!trim(rest).empty()) {
    std::size_t pos = 0;
    for (;;) {
      const auto comma = rest.find(',', pos);
      tokens.push_back(trim(rest.substr(pos, comma == std::string_view::npos ? rest.npos : comma - pos)));
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
  }
  for (const std::string_view token : tokens) {
    if (token.empty()) fail(kind->kind, "empty parameter (a stray comma?) in \"" + std::string(whole) + "\"");
    const auto eq = token.find('=');
    const std::string_view name = trim(token.substr(0, eq));
    const param_def* def = find_param(*kind, name);
    if (def == nullptr) {
      fail(kind->kind, "unknown parameter '" + std::string(name) + "'; accepted: " + param_list(*kind));
    }
    if (eq == std::string_view::npos) {
      fail(kind->kind, "parameter '" + std::string(name) + "' needs a value (" + std::string(accepted(def->type)) + ")");
    }
    const std::string_view value = trim(token.substr(eq + 1));
    if (!valid(def->type, value)) {
      fail(kind->kind, "parameter '" + std::string(name) + "' must be " + std::string(accepted(def->type)) +
                           " (got \"" + std::string(value) + "\")");
    }
    if (!spec.params.emplace(std::string(name), std::string(value)).second) {
      fail(kind->kind, "parameter '" + std::string(name) + "' given twice");
    }
  }
  for (const auto& def : kind->params) {
    if (spec.params.count(std::string(def.name)) != 0) continue;
    if (def.fallback.empty()) {
      fail(kind->kind, "missing required parameter '" + std::string(def.name) + "' (" +
                           std::string(accepted(def.type)) + ")");
    }
    spec.params.emplace(std::string(def.name), std::string(def.fallback));
  }
  return spec;
}

std::string spec_help() {
  return "uniform:n=N                        keys uniform over [0, N)\n"
         "zipf:n=N[,s=S][,scramble=0|1]     Zipf over N ranks, exponent S > 0 (default 0.99)\n"
         "hotspot:n=N[,hot=F][,ops=G][,scramble=0|1]\n"
         "                                  a fraction F of the keys gets a fraction G of the ops (0.2, 0.8)\n"
         "latest:n=N                        time-ordered keys: every write goes to the newest key\n"
         "shift:n=N[,s=S][,every=OPS][,scramble=0|1]\n"
         "                                  Zipf whose hot set moves every OPS ops (default 100000)\n"
         "herd:keys=K[,waves=W]             all threads request the same K keys, W times (1, 10)\n"
         "trace:path=FILE[,format=NAME]     replay a trace; NAME one of " + trace_format_list() + "\n"
         "                                  (default auto: detected; xz/gzip/zstd decompressed)\n"
         "viral:n=N[,s=S][,reads=F][,start=F][,share=F][,herd_start=F][,herd_length=F][,herd_keys=K]\n"
         "                                  Zipf with reads F (0.8); from start (0.3 of the run) a viral key\n"
         "                                  takes share (0.5) of all ops; a herd on the K (8) hottest keys from\n"
         "                                  herd_start (0.7) for herd_length (0.03 of the run)\n";
}

}  // namespace hotshard::workloads
