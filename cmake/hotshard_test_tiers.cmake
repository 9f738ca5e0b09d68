# The test tiers of DESIGN.md ("Testing"), one ctest label each: every test
# carries exactly one, so `ctest -L <tier>` runs that tier and the tiers'
# counts add up to `ctest -N`. scripts/test.sh reports per tier.
set(HOTSHARD_TEST_TIERS semantics stress statistical integration model fuzz)

function(_hotshard_check_tier tier)
  if(NOT tier IN_LIST HOTSHARD_TEST_TIERS)
    message(FATAL_ERROR "test tier '${tier}' is not one of: ${HOTSHARD_TEST_TIERS}")
  endif()
endfunction()

# hotshard_set_tier(TIER t TESTS name...): labels plain add_test tests.
function(hotshard_set_tier)
  cmake_parse_arguments(arg "" "TIER" "TESTS" ${ARGN})
  _hotshard_check_tier("${arg_TIER}")
  set_tests_properties(${arg_TESTS} PROPERTIES LABELS ${arg_TIER})
endfunction()

# hotshard_discover_tiered_tests(TARGET t TIER default [TIERS tier filter ...] PROPERTIES ...)
# gtest_discover_tests, once per tier: the GoogleTest cases matching the
# gtest filter after each tier in TIERS (e.g. stress "*threads*:*noise*") get
# that tier; a case matching several gets the first; every other case gets TIER.
function(hotshard_discover_tiered_tests)
  cmake_parse_arguments(arg "" "TARGET;TIER" "TIERS;PROPERTIES" ${ARGN})
  _hotshard_check_tier("${arg_TIER}")
  set(taken "")
  set(pairs ${arg_TIERS})
  list(LENGTH pairs n)
  math(EXPR odd "${n} % 2")
  if(odd)
    message(FATAL_ERROR "${arg_TARGET}: TIERS takes pairs of tier and gtest filter")
  endif()
  while(pairs)
    list(POP_FRONT pairs tier filter)
    _hotshard_check_tier("${tier}")
    set(f "${filter}")
    if(taken)
      string(APPEND f "-${taken}")
    endif()
    gtest_discover_tests(${arg_TARGET} TEST_FILTER "${f}" TEST_LIST ${arg_TARGET}_${tier}_TESTS
                         DISCOVERY_TIMEOUT 60 PROPERTIES ${arg_PROPERTIES} LABELS ${tier})
    if(taken)
      string(APPEND taken ":")
    endif()
    string(APPEND taken "${filter}")
  endwhile()
  set(f "*")
  if(taken)
    set(f "-${taken}")
  endif()
  gtest_discover_tests(${arg_TARGET} TEST_FILTER "${f}" TEST_LIST ${arg_TARGET}_TESTS
                       DISCOVERY_TIMEOUT 60 PROPERTIES ${arg_PROPERTIES} LABELS ${arg_TIER})
endfunction()
