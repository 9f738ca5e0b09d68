# Run with cmake -P. Proves both ways a service can take hotshard in:
#   1. install to a prefix + find_package(hotshard CONFIG REQUIRED)
#   2. add_subdirectory(hotshard), which must build none of our tests/harness.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

# The library alone: no tests, no harness, so this works without any test dependency.
run(${CMAKE_COMMAND} -S ${HOTSHARD_SOURCE_DIR} -B ${WORK_DIR}/lib
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DHOTSHARD_BUILD_TESTS=OFF -DHOTSHARD_BUILD_HARNESS=OFF
    -DCMAKE_INSTALL_PREFIX=${prefix})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/lib)
run(${CMAKE_COMMAND} --install ${WORK_DIR}/lib)
foreach(f lib/cmake/hotshard/hotshard-config.cmake lib/cmake/hotshard/hotshard-config-version.cmake
          include/hotshard/version.hpp)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "install did not produce ${f}")
  endif()
endforeach()

foreach(mode find_package add_subdirectory)
  run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/consumer_${mode}
      -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix}
      -DCONSUME_MODE=${mode} -DHOTSHARD_SOURCE_DIR=${HOTSHARD_SOURCE_DIR})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer_${mode})
  run(${WORK_DIR}/consumer_${mode}/consumer)
  if(NOT last_output MATCHES "hotshard [0-9]+\\.[0-9]+\\.[0-9]+ ok")
    message(FATAL_ERROR "consumer (${mode}) printed: ${last_output}")
  endif()
  if(mode STREQUAL "add_subdirectory" AND EXISTS ${WORK_DIR}/consumer_${mode}/hotshard/bin)
    message(FATAL_ERROR "add_subdirectory built hotshard executables it was not asked for")
  endif()
endforeach()
message(STATUS "install_and_consume: both modes ok")
