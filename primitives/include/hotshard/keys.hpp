// hotshard/keys.hpp — what a key is, for every keyed primitive: the default
// key hash, the rule that rejects pointer keys, and the pre-hashed key that
// lets one request be hashed once for all of them.
//
// * policy::hash<Key> — the default key hash: std::hash<Key>, made transparent
//   for std::string keys (lookups may pass std::string_view or a literal
//   without building a std::string; std::hash<std::string_view> equals
//   std::hash<std::string> on equal contents). A user hash is transparent when
//   it declares is_transparent.
//
// * concepts::hashable_key<Key, Hash> — a key the primitives accept: Hash is
//   callable on it and returns an integer, and Key is not a pointer. A
//   `const char*` key would be hashed and compared by its address, counting
//   the same text under as many keys as it has copies; it is rejected at
//   compile time (use std::string or std::string_view).
//
// * hashed_key<Key, Hash> — a key with its hash computed once: the word
//   detail::hash_key(key, Hash) = mix64(Hash(key)). Every keyed primitive
//   derives its own per-instance hashes from this one word (mixed with the
//   instance's seed, detail::seeded_hash), so passing a hashed_key to the
//   detector, the salted map, heavy hitters and a sketch hashes the request
//   once instead of four times, and gives exactly the results of passing the
//   key itself. A hashed_key is a view: it points at the key it was made from
//   and must not outlive it (build it per request, pass it down, drop it).
//   A primitive accepts hashed_key<K, H> only with its own Hash (a compile
//   error otherwise: a word hashed by another function would land elsewhere).
//
// Progress: everything here is a pure function of its arguments (wait-free).
#pragma once

#include <hotshard/detail/hash.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>

namespace hotshard {

namespace policy {
template <class Key>
struct hash : std::hash<Key> {};
template <>
struct hash<std::string> {
  using is_transparent = void;
  [[nodiscard]] std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
}  // namespace policy

namespace concepts {
template <class Key, class Hash = policy::hash<Key>>
concept hashable_key = !std::is_pointer_v<std::remove_cvref_t<Key>> && std::copy_constructible<Key> &&
                       std::equality_comparable<Key> && requires(const Hash& h, const Key& k) {
                         { h(k) } -> std::convertible_to<std::size_t>;
                       };
}  // namespace concepts

template <class Key, class Hash = policy::hash<Key>>
  requires concepts::hashable_key<Key, Hash>
class hashed_key {
 public:
  using key_type = Key;
  using hasher = Hash;

  explicit hashed_key(const Key& key, const Hash& hash = Hash{}) noexcept(noexcept(hash(key)))
      : key_(&key), word_(detail::hash_key(key, hash)) {}

  [[nodiscard]] const Key& key() const noexcept { return *key_; }
  // mix64(Hash(key)): the word every primitive seeds its own hashes from.
  [[nodiscard]] std::uint64_t word() const noexcept { return word_; }

 private:
  const Key* key_;
  std::uint64_t word_;
};

// hash_once(key): the hashed_key of `key` under the default hash.
template <class Key>
  requires concepts::hashable_key<Key>
[[nodiscard]] hashed_key<Key> hash_once(const Key& key) noexcept(noexcept(policy::hash<Key>{}(key))) {
  return hashed_key<Key>(key);
}

namespace detail {
// Whether T is a hashed_key (lookup overloads set hashed_keys apart from heterogeneous keys).
template <class T>
inline constexpr bool is_hashed_key = false;
template <class K, class H>
inline constexpr bool is_hashed_key<hashed_key<K, H>> = true;

// The word of a key or of a hashed_key, for primitives that accept both.
template <class Key, class Hash>
[[nodiscard]] std::uint64_t key_word(const Key& key, const Hash& hash) noexcept(noexcept(hash(key))) {
  return hash_key(key, hash);
}
template <class Key, class Hash>
[[nodiscard]] std::uint64_t key_word(const hashed_key<Key, Hash>& hk, const Hash&) noexcept {
  return hk.word();
}
}  // namespace detail

}  // namespace hotshard
