// The scenario registry and run_options' knob accessors.
#include <hotshard/harness/scenario.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace hotshard::harness {

namespace {
// Function-local, so registrations from other translation units' static
// initializers find it constructed whatever the initialization order.
std::vector<scenario>& registry() {
  static std::vector<scenario> r;
  return r;
}
}  // namespace

void register_scenario(scenario s) {
  if (s.name.empty()) throw std::logic_error("register_scenario: a scenario needs a name");
  if (find_scenario(s.name)) throw std::logic_error("register_scenario: '" + s.name + "' is registered twice");
  auto& r = registry();
  r.push_back(std::move(s));
  // Display order: DESIGN.md's order, then anything else by name.
  const auto& designed = designed_scenario_names();
  const auto rank = [&](const scenario& x) {
    const auto it = std::find(designed.begin(), designed.end(), x.name);
    return static_cast<std::size_t>(it - designed.begin());
  };
  std::stable_sort(r.begin(), r.end(), [&](const scenario& a, const scenario& b) {
    const auto ra = rank(a), rb = rank(b);
    return ra != rb ? ra < rb : a.name < b.name;
  });
}

const std::vector<scenario>& registered_scenarios() { return registry(); }

const scenario* find_scenario(std::string_view name) {
  for (const auto& s : registry())
    if (s.name == name) return &s;
  return nullptr;
}

const std::vector<std::string>& designed_scenario_names() {
  static const std::vector<std::string> names{"counter", "keyed-counter", "sketch", "herd", "cache",
                                              "queue", "write-buffer", "hot-partition", "calibrate"};
  return names;
}

double run_options::knob_double(const std::string& key, double fallback) const {
  const auto it = knobs.find(key);
  if (it == knobs.end()) return fallback;
  const std::string& v = it->second;
  double out = 0;
  const auto res = std::from_chars(v.data(), v.data() + v.size(), out);
  if (res.ec != std::errc{} || res.ptr != v.data() + v.size() || !std::isfinite(out))
    throw usage_error("--set " + key + "=" + v + ": '" + v + "' is not a number");
  return out;
}

std::uint64_t run_options::knob_u64(const std::string& key, std::uint64_t fallback) const {
  const auto it = knobs.find(key);
  if (it == knobs.end()) return fallback;
  const std::string& v = it->second;
  std::uint64_t out = 0;
  const auto res = std::from_chars(v.data(), v.data() + v.size(), out);
  if (res.ec != std::errc{} || res.ptr != v.data() + v.size())
    throw usage_error("--set " + key + "=" + v + ": '" + v + "' is not a non-negative integer");
  return out;
}

std::string run_options::knob_string(const std::string& key, const std::string& fallback) const {
  const auto it = knobs.find(key);
  return it == knobs.end() ? fallback : it->second;
}

}  // namespace hotshard::harness
