// libFuzzer target: the workload spec parser. Any text either parses — and
// then re-parses from its canonical form to the same kind and parameters —
// or throws spec_error; nothing else may escape.
#include <hotshard/workloads/spec.hpp>
#include <hotshard/workloads/stream.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace wl = hotshard::workloads;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  wl::workload_spec spec;
  try {
    spec = wl::parse_spec(text);
  } catch (const wl::spec_error&) {
    return 0;
  }
  // Canonical form: kind:k=v,... (a trace's path goes last: it may hold commas).
  std::string canonical = spec.kind + ":";
  std::string path;
  for (const auto& [key, value] : spec.params) {
    if (spec.kind == "trace" && key == "path") {
      path = value;
      continue;
    }
    canonical += key + "=" + value + ",";
  }
  if (path.empty()) {
    if (canonical.back() == ',') canonical.pop_back();
  } else {
    canonical += "path=" + path;  // as given: a trailing comma belongs to the path
  }
  const wl::workload_spec again = wl::parse_spec(canonical);  // must not throw
  if (again.kind != spec.kind || again.params != spec.params) std::abort();
  for (const auto& [key, value] : spec.params) {
    (void)value;
    try {
      (void)spec.number(key);
      (void)spec.integer(key);
    } catch (const wl::spec_error&) {  // a non-numeric parameter: fine
    }
  }
  if (spec.kind != "trace") (void)wl::key_space_of(spec);
  if (spec.kind == "herd") {
    const auto plan = wl::herd_of(spec);
    if (plan.keys == 0 || plan.waves == 0) std::abort();
  }
  return 0;
}
