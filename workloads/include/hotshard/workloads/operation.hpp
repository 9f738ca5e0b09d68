// hotshard/workloads/operation.hpp — one operation of a stream or a trace.
//
// Progress and memory ordering: plain values, no atomics.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hotshard::workloads {

enum class op_kind : std::uint8_t { get, put, add, del };
inline constexpr std::size_t op_kind_count = 4;

struct operation {
  std::uint64_t key;
  op_kind op;
  friend constexpr bool operator==(const operation&, const operation&) = default;
};

// "get", "put", "add", "del" (the trace text form).
[[nodiscard]] constexpr std::string_view op_name(op_kind op) noexcept {
  constexpr std::string_view names[] = {"get", "put", "add", "del"};
  return names[static_cast<std::size_t>(op) & 3];
}
[[nodiscard]] constexpr std::optional<op_kind> op_from_name(std::string_view name) noexcept {
  if (name == "get") return op_kind::get;
  if (name == "put") return op_kind::put;
  if (name == "add") return op_kind::add;
  if (name == "del") return op_kind::del;
  return std::nullopt;
}

}  // namespace hotshard::workloads
