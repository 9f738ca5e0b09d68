# Fails unless README.md shows every usage example verbatim in a ```cpp block,
# so the documentation cannot drift from the programs ctest compiles and runs.
#   cmake -DREADME=<README.md> -DEXAMPLES_DIR=<tests/examples> -P check_readme.cmake
# The list is explicit (no glob): keep it in step with CMakeLists.txt here.
set(EXAMPLE_FILES
  striped_counter.cpp
  per_thread_counter.cpp
  salted_counter_map.cpp
  count_min_sketch.cpp
  buffered_count_min_sketch.cpp
  heavy_hitters.cpp
  hot_key_detector.cpp
  single_flight.cpp
  coalescing_cache.cpp
  bounded_queue.cpp
  write_buffer.cpp
  prometheus.cpp
)

if(NOT DEFINED README OR NOT DEFINED EXAMPLES_DIR)
  message(FATAL_ERROR "usage: cmake -DREADME=<README.md> -DEXAMPLES_DIR=<dir> -P check_readme.cmake")
endif()
if(NOT EXISTS "${README}")
  message(FATAL_ERROR "README not found: ${README}")
endif()

file(READ "${README}" readme)
string(REPLACE "\r\n" "\n" readme "${readme}")

set(errors "")
foreach(name IN LISTS EXAMPLE_FILES)
  set(path "${EXAMPLES_DIR}/${name}")
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR "example listed in check_readme.cmake does not exist: ${path}")
  endif()
  file(READ "${path}" code)
  string(REPLACE "\r\n" "\n" code "${code}")
  if(NOT code MATCHES "\n$")
    string(APPEND code "\n")
  endif()
  # The whole file, from the line after the opening fence to the closing fence.
  string(FIND "${readme}" "```cpp\n${code}```" at)
  if(at EQUAL -1)
    string(APPEND errors "\n  README.md must show tests/examples/${name} verbatim (in a ```cpp block)")
  endif()
endforeach()

if(errors)
  message(FATAL_ERROR "${errors}\n(README.md shows each example in a cpp block: section Using the primitives, and section Exporting stats for prometheus.cpp.)")
endif()
list(LENGTH EXAMPLE_FILES n)
message(STATUS "README.md shows all ${n} examples verbatim")
