# hotshard_set_warnings(target): the project's warning set, on our own targets only.
function(hotshard_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(HOTSHARD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# hotshard_link_allocator(target): jemalloc for the measuring binaries, so malloc
# contention inside glibc does not pollute the numbers. Not under sanitizers,
# which bring their own allocator.
function(hotshard_link_allocator target)
  if(HOTSHARD_USE_JEMALLOC AND NOT HOTSHARD_SANITIZER)
    find_library(HOTSHARD_JEMALLOC_LIB NAMES jemalloc REQUIRED)
    target_link_libraries(${target} PRIVATE ${HOTSHARD_JEMALLOC_LIB})
    target_compile_definitions(${target} PRIVATE HOTSHARD_ALLOCATOR="jemalloc")
  else()
    target_compile_definitions(${target} PRIVATE HOTSHARD_ALLOCATOR="system")
  endif()
endfunction()
