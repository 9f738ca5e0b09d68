// libFuzzer target: the CLI's knob parsing. Lines of the input are --set
// arguments checked by resolve_knobs against a scenario with a few knobs,
// then read back through run_options::knob_double/knob_u64/knob_string, the
// store's knob parsers (parse_routing, parse_overload) and the CLI's flag
// parsers. usage_error is the only accepted failure.
#include "cli.hpp"

#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/store.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace hh = hotshard::harness;

namespace {

hh::scenario fuzz_scenario() {
  hh::scenario s;
  s.name = "fuzz";
  for (const char* k : {"ratio", "count", "routing", "overload", "name"}) s.knobs.push_back({k, "fuzzed knob", ""});
  return s;
}

template <class F>
void expect_usage_error_or_value(F&& f) {
  try {
    f();
  } catch (const hh::usage_error& e) {
    if (std::string(e.what()).empty()) std::abort();  // a message must say what is wrong
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const hh::scenario s = fuzz_scenario();
  std::vector<std::string> sets;
  std::string line;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == '\n') {
      sets.push_back(line);
      line.clear();
    } else {
      line += static_cast<char>(data[i]);
    }
  }
  if (!line.empty()) sets.push_back(line);

  hh::run_options o;
  expect_usage_error_or_value([&] { o.knobs = hh::cli::resolve_knobs(s, sets); });
  for (const auto& knob : o.knobs) {
    const std::string& key = knob.first;
    const std::string& value = knob.second;
    expect_usage_error_or_value([&] {
      if (!std::isfinite(o.knob_double(key, 0.5))) std::abort();
    });
    expect_usage_error_or_value([&] { (void)o.knob_u64(key, 7); });
    if (o.knob_string(key, "") != value) std::abort();
    expect_usage_error_or_value([&] { (void)hh::parse_routing(value); });
    expect_usage_error_or_value([&] { (void)hh::parse_overload(value); });
    expect_usage_error_or_value([&] { (void)hh::cli::parse_threads("--threads", value); });
    expect_usage_error_or_value([&] { (void)hh::cli::parse_count("--ops", value, 1); });
    expect_usage_error_or_value([&] { (void)hh::cli::parse_non_negative("--read-fraction", value); });
    expect_usage_error_or_value([&] { (void)hh::cli::parse_positive_seconds("--duration", value); });
  }
  if (o.knob_double("absent", 0.25) != 0.25 || o.knob_u64("absent", 9) != 9) std::abort();
  return 0;
}
