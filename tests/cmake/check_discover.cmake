# cmake -DAFTERLIFE_EXE=... -DFUNCTIONS=... -DSUPPORT_DIR=... -DWORK_DIR=... -DFRAMEWORK=gtest|catch2
#       [-DCMAKE_CXX_COMPILER=...] -P check_discover.cmake
# Builds tests/cmake/discover with FRAMEWORK's program, then runs its discovered tests in a
# nested ctest: exactly the two cases become tests, the clean one passes, the leaking one fails
# with the harness's one line naming the segment, and the segment is gone afterwards.
set(build "${WORK_DIR}/${FRAMEWORK}")
file(REMOVE_RECURSE "${build}")
include("${CMAKE_CURRENT_LIST_DIR}/private_runtime.cmake")
execute_process(
  COMMAND ${CMAKE_COMMAND} -S "${CMAKE_CURRENT_LIST_DIR}/discover" -B "${build}" -G Ninja
          "-DFRAMEWORK=${FRAMEWORK}" "-DAFTERLIFE_EXE=${AFTERLIFE_EXE}"
          "-DAFTERLIFE_FUNCTIONS=${FUNCTIONS}" "-DSUPPORT_DIR=${SUPPORT_DIR}"
          "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}" "-DCMAKE_CXX_FLAGS=${CMAKE_CXX_FLAGS}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  if(err MATCHES "SKIP: ([^\n]*)")
    message("afterlife_discover_tests skipped: ${CMAKE_MATCH_1}")
    return()
  endif()
  message(FATAL_ERROR "${FRAMEWORK}: configure failed:\n${out}\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${build}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FRAMEWORK}: build (and discovery) failed:\n${out}\n${err}")
endif()

if(FRAMEWORK STREQUAL "gtest")
  set(leaky "demo.Segments.LeaksOne::natural")
  set(clean "demo.Segments.LeavesNothing::natural")
else()
  set(leaky "demo.leaks one segment::natural")
  set(clean "demo.leaves nothing, [not a tag]::natural")
endif()

execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir "${build}" -L "^discovered$" -N
                OUTPUT_VARIABLE listing)
if(NOT listing MATCHES "Total Tests: 2\n")
  message(FATAL_ERROR "${FRAMEWORK}: expected 2 discovered tests with the label 'discovered' (of afterlife, natural, discovered):\n${listing}")
endif()

execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir "${build}" --output-on-failure
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(all "${out}${err}")
string(REGEX REPLACE "([][.*+?^$()|\\\\])" "\\\\\\1" leaky_re "${leaky}")
string(REGEX REPLACE "([][.*+?^$()|\\\\])" "\\\\\\1" clean_re "${clean}")
if(rc EQUAL 0)
  message(FATAL_ERROR "${FRAMEWORK}: the nested ctest passed; the leaking case must fail:\n${all}")
endif()
if(NOT all MATCHES "Test +#[0-9]+: ${clean_re} [.]+ +Passed")
  message(FATAL_ERROR "${FRAMEWORK}: '${clean}' did not pass:\n${all}")
endif()
if(NOT all MATCHES "Test +#[0-9]+: ${leaky_re} [.]+\\*+Failed")
  message(FATAL_ERROR "${FRAMEWORK}: '${leaky}' did not fail:\n${all}")
endif()
if(NOT all MATCHES "afterlife run: FAIL: clean \\(got 1 leftovers, 0 survivors\\); left posix_shm (/al-discover-[0-9]+)\n")
  message(FATAL_ERROR "${FRAMEWORK}: the failure does not name the segment:\n${all}")
endif()
set(segment_name "${CMAKE_MATCH_1}")
string(REPLACE "/" "" segment "${segment_name}")
if(EXISTS "/dev/shm/${segment}")
  message(FATAL_ERROR "${FRAMEWORK}: the harness left /dev/shm/${segment}")
endif()
if(NOT all MATCHES "50% tests passed, 1 tests failed out of 2")
  message(FATAL_ERROR "${FRAMEWORK}: expected one pass and one failure of two:\n${all}")
endif()
message("${FRAMEWORK}: '${clean}' passed, '${leaky}' failed naming ${segment_name}")
