// hotshard/policy.hpp — the customisation hooks every primitive takes, set by
// name in any order after the primitive's own parameters:
//
//   hotshard::heavy_hitters<std::string, policy::hash_with<my_hash>>
//   hotshard::single_flight<Key, Value, policy::count_contention>
//   hotshard::bounded_queue<Job, policy::contention_hook<my_hook>>
//
// Two kinds of policy exist:
//  * the key hash (keyed primitives only): policy::hash_with<H>; default
//    policy::hash<Key> (std::hash, transparent for std::string: keys.hpp).
//  * the contention hook: a type with static cas_failure(), spin() and wait()
//    (and optionally schedule_point()) that a primitive calls where it retries,
//    backs off or blocks, so "contention on a hot key" becomes a number.
//    Default policy::no_contention_hook (empty functions: compiles to nothing);
//    policy::count_contention counts per thread (the harness uses it);
//    policy::yield_at_schedule_points yields at random between a protocol's
//    steps (schedule noise for stress tests); policy::contention_hook<H> names
//    a user's own type H as the hook. The hook is not the primitive's stats():
//    stats() is a snapshot of the primitive's state for a metrics thread; the
//    hook is a callback on the operation's own thread (detail/contention_stats.hpp).
//
// A policy is a type with a member `policy_category`; giving a primitive a
// type that is not a policy, a policy it does not take (a hash to a counter),
// or two of the same kind is a compile error naming the rule broken.
//
// Everything here is compile-time; nothing runs.
#pragma once

#include <hotshard/detail/contention_stats.hpp>
#include <hotshard/keys.hpp>

#include <cstddef>
#include <type_traits>

namespace hotshard::policy {

// hash_category and contention_category are declared in detail/contention_stats.hpp
// (the library's own hooks carry the tag there).

template <class H>
struct hash_with {
  using policy_category = hash_category;
  using type = H;
};

template <class Hook>
struct contention_hook : Hook {
  using policy_category = contention_category;
};

using no_contention_hook = hotshard::detail::no_stats;
using count_contention = hotshard::detail::counting_stats;
using yield_at_schedule_points = hotshard::detail::yielding_stats;

template <class P>
concept named_policy = requires { typename P::policy_category; };

namespace selection {
template <class Category, class Default, class... Ps>
struct pick {
  using type = Default;
};
template <class Category, class Default, class P, class... Ps>
struct pick<Category, Default, P, Ps...>
    : std::conditional_t<std::is_same_v<typename P::policy_category, Category>, std::type_identity<P>,
                         pick<Category, Default, Ps...>> {};

template <class Category, class... Ps>
inline constexpr std::size_t count_of = (std::size_t{std::is_same_v<typename Ps::policy_category, Category>} + ... + 0);
}  // namespace selection

// The policies a primitive that hashes keys accepts: at most one hash and one hook.
template <class... Ps>
concept keyed_policies = (named_policy<Ps> && ...) && selection::count_of<hash_category, Ps...> <= 1 &&
                         selection::count_of<contention_category, Ps...> <= 1 &&
                         selection::count_of<hash_category, Ps...> + selection::count_of<contention_category, Ps...> ==
                             sizeof...(Ps);

// The policies of a primitive without keys (counters, queues): at most one hook.
template <class... Ps>
concept hook_policies = (named_policy<Ps> && ...) && selection::count_of<contention_category, Ps...> <= 1 &&
                        selection::count_of<contention_category, Ps...> == sizeof...(Ps);

// The hash named in Ps, or policy::hash<Key>.
template <class Key, class... Ps>
using hash_of = typename selection::pick<hash_category, hash_with<hash<Key>>, Ps...>::type::type;

// The contention hook named in Ps, or no_contention_hook.
template <class... Ps>
using contention_of = typename selection::pick<contention_category, no_contention_hook, Ps...>::type;

}  // namespace hotshard::policy
