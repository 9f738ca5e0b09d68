// hotshard/detail/load_result.hpp — the one result type of the single-flight
// family: single_flight::run / run_for / run_all and coalescing_cache::get_for
// / get_all all return `load_result<Value>` (owned by the single-flight family).
//
// A result says what happened (`status`), carries the value when there is one,
// and for a failure the exception and where it came from (`origin`): this
// caller's own load, a load it shared with other callers, or an error the
// cache remembered (negative entry). Nothing here throws except get(), the
// one-line convenience: the value, or the failure rethrown (timed_out and
// cancelled throw hotshard::load_abandoned).
//
// Progress: every member is wait-free (plus Value's copy/move). Not
// thread-safe: a result belongs to the caller that received it.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>

namespace hotshard {

enum class load_status : std::uint8_t {
  loaded,     // this caller ran the load (as a flight's leader, or alone)
  shared,     // this caller received another caller's load
  hit,        // cache: a fresh cached value
  stale,      // cache: the old value, while somebody else's refresh runs
  refreshed,  // cache: this caller started a refresh (new value, or the old one if it failed or went to the executor)
  timed_out,  // gave up waiting at its deadline; the load goes on for the others
  cancelled,  // the caller's own std::stop_token was requested while it waited
  failed,     // the load threw (see origin and error)
};

// Where a failure's exception came from.
enum class load_origin : std::uint8_t {
  none,        // not a failure
  own,         // this caller's own load threw (or, bulk: omitted its key)
  shared,      // a load this caller shared threw; every caller of it got the same exception object
  remembered,  // cache: an error remembered for negative_ttl (no load ran)
};

// What get() throws for timed_out and cancelled.
struct load_abandoned : std::runtime_error {
  load_status status;
  explicit load_abandoned(load_status s)
      : std::runtime_error(s == load_status::cancelled ? "hotshard: the wait was cancelled"
                                                       : "hotshard: the wait timed out"),
        status(s) {}
};

// What run_all / get_all report for a key the bulk loader's result omitted.
struct missing_key : std::out_of_range {
  missing_key() : std::out_of_range("hotshard: the bulk loader returned no value for this key") {}
};

template <class Value>
struct load_result {
  load_status status = load_status::timed_out;
  std::optional<Value> value;  // set exactly for loaded, shared, hit, stale, refreshed
  std::exception_ptr error;    // set exactly for failed
  load_origin origin = load_origin::none;

  [[nodiscard]] bool ok() const noexcept { return value.has_value(); }
  [[nodiscard]] bool timed_out() const noexcept { return status == load_status::timed_out; }
  [[nodiscard]] bool cancelled() const noexcept { return status == load_status::cancelled; }
  [[nodiscard]] bool failed() const noexcept { return status == load_status::failed; }
  // The value came from somebody else's load (or the failure did).
  [[nodiscard]] bool shared() const noexcept {
    return status == load_status::shared || origin == load_origin::shared;
  }
  // The value, or the failure rethrown (load_abandoned for timed_out / cancelled).
  [[nodiscard]] Value get() && {
    if (value) return std::move(*value);
    if (error) std::rethrow_exception(error);
    throw load_abandoned(status);
  }
  [[nodiscard]] Value get() const& {
    if (value) return *value;
    if (error) std::rethrow_exception(error);
    throw load_abandoned(status);
  }

  static load_result of_value(load_status s, Value v) {
    return load_result{s, std::optional<Value>(std::move(v)), nullptr, load_origin::none};
  }
  static load_result of_error(std::exception_ptr e, load_origin o) {
    return load_result{load_status::failed, std::nullopt, std::move(e), o};
  }
  static load_result of(load_status s) { return load_result{s, std::nullopt, nullptr, load_origin::none}; }
};

}  // namespace hotshard
