// An outside project's view of hotshard: it includes the installed headers and
// links hotshard::primitives, nothing else.
#include <hotshard/version.hpp>
#include <hotshard/detail/hash.hpp>

#include <cstdio>

int main() {
  // Use something real from the library, not just the version string.
  const bool ok = hotshard::detail::unmix64(hotshard::detail::mix64(42)) == 42 &&
                  hotshard::version_number() > 0;
  std::printf("hotshard %.*s %s\n", static_cast<int>(hotshard::version_string.size()),
              hotshard::version_string.data(), ok ? "ok" : "BROKEN");
  return ok ? 0 : 1;
}
