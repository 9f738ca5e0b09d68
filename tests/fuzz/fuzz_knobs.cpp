// libFuzzer target: the CLI's knob parsing. Lines of the input are --set
// arguments checked by resolve_knobs against a scenario with one knob of
// each type; every accepted value is read back through run_request's typed
// reads, which must then neither throw nor leave the declared range; each
// value also goes through the store's knob parsers (parse_routing,
// parse_overload) and the CLI's flag parsers. usage_error is the only
// accepted failure.
#include "cli.hpp"

#include <hotshard/harness/scenario.hpp>
#include <hotshard/harness/store.hpp>

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
  s.knobs = {hh::integer_knob("count", 7, 1, 1000, "fuzzed integer"),
             hh::real_knob("ratio", 0.5, 0, 1, "fuzzed real"),
             hh::choice_knob("routing", "hash", {"hash", "ring", "slots", "range"}, "fuzzed choice"),
             hh::flag_knob("on", false, "fuzzed flag"),
             hh::text_knob("name", "x", "fuzzed text"),
             hh::integer_knob("computed", 1, 1, 9, "fuzzed computed default").computed("depends on the run")};
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
  const hh::run_request r{o, s.name, "impl", 1, 0, "none", 1, &s};
  // Accepted values read back without any exception, inside their declared range.
  const auto count = r.integer("count");
  const auto ratio = r.real("ratio");
  if (count < 1 || count > 1000 || !(ratio >= 0 && ratio <= 1)) std::abort();
  const auto routing = r.text("routing");
  if (routing != "hash" && routing != "ring" && routing != "slots" && routing != "range") std::abort();
  if (o.knobs.count("on") == 0 && r.flag("on")) std::abort();  // the default is false
  if (o.knobs.count("name") && r.text("name") != o.knobs.at("name")) std::abort();
  if (o.knobs.count("computed") != static_cast<std::size_t>(r.integer_if_set("computed").has_value())) std::abort();
  for (const auto& knob : o.knobs) {
    const std::string& value = knob.second;
    expect_usage_error_or_value([&] { (void)hh::parse_routing(value); });
    expect_usage_error_or_value([&] { (void)hh::parse_overload(value); });
    expect_usage_error_or_value([&] { (void)hh::cli::parse_threads("--threads", value); });
    expect_usage_error_or_value([&] { (void)hh::cli::parse_count("--ops", value, 1); });
    expect_usage_error_or_value([&] { (void)hh::cli::parse_non_negative("--read-fraction", value); });
    expect_usage_error_or_value([&] { (void)hh::cli::parse_positive_seconds("--duration", value); });
  }
  return 0;
}
