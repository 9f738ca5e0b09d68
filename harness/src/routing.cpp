// The routing table: every routing's name and how to build it. parse_routing,
// to_string and make_router all read it, so a new routing is one row here.
#include <hotshard/harness/routing.hpp>

#include <hotshard/harness/routing/hash.hpp>
#include <hotshard/harness/routing/range.hpp>
#include <hotshard/harness/routing/ring.hpp>
#include <hotshard/harness/routing/slots.hpp>
#include <hotshard/harness/scenario.hpp>

#include <string>

namespace hotshard::harness {

namespace {

struct routing_entry {
  routing_kind kind;
  std::string_view name;
  std::unique_ptr<const router> (*make)(const routing_params&);
};

template <class Router>
std::unique_ptr<const router> make(const routing_params& params) {
  return std::make_unique<const Router>(params);
}

constexpr routing_entry routings[] = {
    {routing_kind::hash, "hash", make<hash_router>},
    {routing_kind::ring, "ring", make<ring_router>},
    {routing_kind::slots, "slots", make<slots_router>},
    {routing_kind::range, "range", make<range_router>},
};

const routing_entry* entry_of(routing_kind kind) noexcept {
  for (const auto& e : routings)
    if (e.kind == kind) return &e;
  return nullptr;
}

}  // namespace

unsigned checked_partitions(const routing_params& params) {
  if (params.partitions == 0) throw usage_error("store: partitions must be at least 1");
  return params.partitions;
}

std::string_view router::name() const noexcept { return to_string(kind()); }

std::unique_ptr<const router> make_router(routing_kind kind, const routing_params& params) {
  const routing_entry* e = entry_of(kind);
  if (e == nullptr) throw usage_error("store: routing " + std::to_string(static_cast<int>(kind)) + " is not known");
  return e->make(params);
}

routing_kind parse_routing(std::string_view name) {
  std::string accepted;
  for (const auto& e : routings) {
    if (e.name == name) return e.kind;
    accepted += (accepted.empty() ? "" : ", ") + std::string(e.name);
  }
  throw usage_error("routing '" + std::string(name) + "' is not known; accepted: " + accepted);
}

std::vector<std::string> routing_names() {
  std::vector<std::string> out;
  for (const auto& e : routings) out.emplace_back(e.name);
  return out;
}

std::string_view to_string(routing_kind r) noexcept {
  const routing_entry* e = entry_of(r);
  return e != nullptr ? e->name : "?";
}

}  // namespace hotshard::harness
