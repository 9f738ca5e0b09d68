// The scenario registry, knob declarations and their typed reads, and a
// scenario's self-description (`list --json`, results documents).
#include <hotshard/harness/scenario.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace hotshard::harness {

namespace {
// Function-local, so registrations from other translation units' static
// initializers find it constructed whatever the initialization order.
std::vector<scenario>& registry() {
  static std::vector<scenario> r;
  return r;
}

std::string number_text(double v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::optional<std::uint64_t> parse_integer(const std::string& v) {
  std::uint64_t out = 0;
  const auto res = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || res.ec != std::errc{} || res.ptr != v.data() + v.size()) return std::nullopt;
  return out;
}

std::optional<double> parse_real(const std::string& v) {
  double out = 0;
  const auto res = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || res.ec != std::errc{} || res.ptr != v.data() + v.size() || !std::isfinite(out))
    return std::nullopt;
  return out;
}

std::optional<bool> parse_flag(const std::string& v) {
  if (v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  return std::nullopt;
}

knob_info make_knob(std::string name, std::string description, knob_type type, std::string dflt) {
  knob_info k;
  k.name = std::move(name);
  k.description = std::move(description);
  k.type = type;
  k.default_value = std::move(dflt);
  return k;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}
}  // namespace

// --- knobs -----------------------------------------------------------------

std::string_view to_string(knob_type t) noexcept {
  switch (t) {
    case knob_type::integer: return "integer";
    case knob_type::real: return "real";
    case knob_type::text: return "text";
    case knob_type::flag: return "flag";
  }
  return "?";
}

knob_info knob_info::computed(std::string note) && {
  default_value.clear();
  default_note = std::move(note);
  return std::move(*this);
}

std::string knob_info::accepted() const {
  switch (type) {
    case knob_type::integer:
      return "an integer in [" + std::to_string(static_cast<std::uint64_t>(min)) + ", " +
             std::to_string(static_cast<std::uint64_t>(max)) + "]";
    case knob_type::real: return "a number in [" + number_text(min) + ", " + number_text(max) + "]";
    case knob_type::flag: return "0, 1, false or true";
    case knob_type::text: return choices.empty() ? "any text" : "one of " + joined(choices);
  }
  return {};
}

void knob_info::validate(const std::string& text) const {
  bool ok = false;
  switch (type) {
    case knob_type::integer: {
      const auto v = parse_integer(text);
      ok = v && static_cast<double>(*v) >= min && static_cast<double>(*v) <= max;
      break;
    }
    case knob_type::real: {
      const auto v = parse_real(text);
      ok = v && *v >= min && *v <= max;
      break;
    }
    case knob_type::flag: ok = parse_flag(text).has_value(); break;
    case knob_type::text: ok = choices.empty() || std::count(choices.begin(), choices.end(), text) > 0; break;
  }
  if (!ok) throw usage_error("--set " + name + "=" + text + ": '" + text + "' is not accepted; accepted: " + accepted());
}

knob_info integer_knob(std::string name, std::uint64_t dflt, std::uint64_t min, std::uint64_t max,
                       std::string description) {
  if (min > max || dflt < min || dflt > max)
    throw std::logic_error("integer_knob " + name + ": default outside [min, max]");
  knob_info k = make_knob(std::move(name), std::move(description), knob_type::integer, std::to_string(dflt));
  k.min = static_cast<double>(min);
  k.max = static_cast<double>(max);
  return k;
}

knob_info real_knob(std::string name, double dflt, double min, double max, std::string description) {
  if (!(min <= max) || !(dflt >= min && dflt <= max))
    throw std::logic_error("real_knob " + name + ": default outside [min, max]");
  knob_info k = make_knob(std::move(name), std::move(description), knob_type::real, number_text(dflt));
  k.min = min;
  k.max = max;
  return k;
}

knob_info choice_knob(std::string name, std::string dflt, std::vector<std::string> choices, std::string description) {
  if (std::find(choices.begin(), choices.end(), dflt) == choices.end())
    throw std::logic_error("choice_knob " + name + ": the default is not one of the choices");
  knob_info k = make_knob(std::move(name), std::move(description), knob_type::text, std::move(dflt));
  k.choices = std::move(choices);
  return k;
}

knob_info text_knob(std::string name, std::string dflt, std::string description) {
  return make_knob(std::move(name), std::move(description), knob_type::text, std::move(dflt));
}

knob_info flag_knob(std::string name, bool dflt, std::string description) {
  knob_info k = make_knob(std::move(name), std::move(description), knob_type::flag, dflt ? "1" : "0");
  k.max = 1;
  return k;
}

metric_info metric(std::string name, std::string unit, std::string meaning) {
  return {std::move(name), std::move(unit), std::move(meaning)};
}
metric_info key_metric(std::string name, std::string unit, std::string meaning) {
  auto m = metric(std::move(name), std::move(unit), std::move(meaning));
  m.key = true;
  return m;
}
metric_info zero_metric(std::string name, std::string unit, std::string meaning) {
  auto m = key_metric(std::move(name), std::move(unit), std::move(meaning));
  m.must_be_zero = true;
  return m;
}

// --- typed reads -------------------------------------------------------------

std::optional<std::string> run_request::value_of(std::string_view knob, knob_type type) const {
  if (!of) throw std::logic_error("run_request: knob '" + std::string(knob) + "' read without a scenario");
  const auto it = std::find_if(of->knobs.begin(), of->knobs.end(), [&](const knob_info& k) { return k.name == knob; });
  if (it == of->knobs.end())
    throw std::logic_error(of->name + ": knob '" + std::string(knob) + "' is read but not declared");
  if (it->type != type)
    throw std::logic_error(of->name + ": knob '" + std::string(knob) + "' is a " + std::string(to_string(it->type)) +
                           " knob, read as " + std::string(to_string(type)));
  const auto set = options.knobs.find(std::string(knob));
  if (set != options.knobs.end()) {
    it->validate(set->second);  // the CLI validated it; a suite plan or a test may not have
    return set->second;
  }
  if (it->default_value.empty() && !it->default_note.empty()) return std::nullopt;
  return it->default_value;
}

namespace {
template <class T>
T must(const std::optional<std::string>& v, std::string_view knob, std::optional<T> (*parse)(const std::string&)) {
  if (!v) throw std::logic_error("knob '" + std::string(knob) + "' has a computed default: read it with *_if_set");
  return *parse(*v);
}
}  // namespace

std::uint64_t run_request::integer(std::string_view knob) const {
  return must<std::uint64_t>(value_of(knob, knob_type::integer), knob, parse_integer);
}
double run_request::real(std::string_view knob) const {
  return must<double>(value_of(knob, knob_type::real), knob, parse_real);
}
bool run_request::flag(std::string_view knob) const {
  return must<bool>(value_of(knob, knob_type::flag), knob, parse_flag);
}
std::string run_request::text(std::string_view knob) const {
  const auto v = value_of(knob, knob_type::text);
  if (!v) throw std::logic_error("knob '" + std::string(knob) + "' has a computed default");
  return *v;
}
std::optional<std::uint64_t> run_request::integer_if_set(std::string_view knob) const {
  const auto v = value_of(knob, knob_type::integer);
  return v ? parse_integer(*v) : std::nullopt;
}
std::optional<double> run_request::real_if_set(std::string_view knob) const {
  const auto v = value_of(knob, knob_type::real);
  return v ? parse_real(*v) : std::nullopt;
}

const std::vector<metric_info>& runner_metrics() {
  static const std::vector<metric_info> m = {
      metric("harness_ns_per_op", "ns", "the runner's own cost per op (calibrate null), when known"),
      metric("net_ns_per_op", "ns", "mean op cost minus the harness's"),
      metric("scheduled", "ops", "open loop: ops whose start time was scheduled"),
      metric("late", "ops", "open loop: ops started after their scheduled time"),
      metric("missed", "ops", "open loop: scheduled ops never started (the run could not keep up)"),
      metric("start_lag_p50_ns", "ns", "open loop: median lag of an op's start behind its schedule"),
      metric("start_lag_p99_ns", "ns", "open loop: p99 start lag"),
      metric("start_lag_max_ns", "ns", "open loop: largest start lag"),
      metric("cas_failures_per_op", "count", "failed compare-exchanges per op (contention hook)"),
      metric("spins_per_op", "count", "spin iterations per op (contention hook)"),
      metric("waits_per_op", "count", "blocking waits per op (contention hook)")};
  return m;
}

// --- the registry ------------------------------------------------------------

void register_scenario(scenario s) {
  if (s.name.empty()) throw std::logic_error("register_scenario: a scenario needs a name");
  if (find_scenario(s.name)) throw std::logic_error("register_scenario: '" + s.name + "' is registered twice");
  for (std::size_t i = 0; i < s.knobs.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (s.knobs[i].name == s.knobs[j].name)
        throw std::logic_error("register_scenario: " + s.name + " declares knob '" + s.knobs[i].name + "' twice");
  for (std::size_t i = 0; i < s.metrics.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (s.metrics[i].name == s.metrics[j].name)
        throw std::logic_error("register_scenario: " + s.name + " declares metric '" + s.metrics[i].name + "' twice");
  for (const auto& m : runner_metrics())
    if (std::none_of(s.metrics.begin(), s.metrics.end(), [&](const metric_info& x) { return x.name == m.name; }))
      s.metrics.push_back(m);
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

nlohmann::json describe(const scenario& s) {
  nlohmann::json j = {{"name", s.name},
                      {"family", s.family},
                      {"description", s.description},
                      {"default_workload", s.default_workload},
                      {"limit", s.limit},
                      {"impls", nlohmann::json::array()},
                      {"knobs", nlohmann::json::array()},
                      {"metrics", nlohmann::json::array()}};
  for (const auto& i : s.impls)
    j["impls"].push_back({{"name", i.name}, {"description", i.description}, {"ours", i.ours}});
  for (const auto& k : s.knobs) {
    nlohmann::json kj = {{"name", k.name}, {"type", to_string(k.type)}, {"description", k.description}};
    if (k.default_value.empty() && !k.default_note.empty())
      kj["default_note"] = k.default_note;
    else
      kj["default"] = k.default_value;
    if (k.type == knob_type::integer || k.type == knob_type::real) {
      kj["min"] = k.min;
      kj["max"] = k.max;
    }
    if (!k.choices.empty()) kj["choices"] = k.choices;
    j["knobs"].push_back(std::move(kj));
  }
  for (const auto& m : s.metrics)
    j["metrics"].push_back({{"name", m.name},
                            {"unit", m.unit},
                            {"meaning", m.meaning},
                            {"key", m.key},
                            {"must_be_zero", m.must_be_zero}});
  return j;
}

}  // namespace hotshard::harness
