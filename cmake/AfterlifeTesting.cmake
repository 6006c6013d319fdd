# One registration function for unit tests: tests/<component>/[<DIR>/]<feature>_test.cpp becomes
# the executable <component>_<feature>_test, whose Catch2 test cases are discovered into CTest as
# <component>::<feature>::<test case name>. DIR is the layer folder that mirrors the source tree
# (tests/lifecycle/gc/gc_test.cpp tests lifecycle/src/gc/); it is not part of the names.
include(Catch)

# A test whose name filter matches no test case must fail instead of passing silently: each
# version spells the warning that does it its own way.
if(Catch2_VERSION VERSION_GREATER_EQUAL 3)
  add_library(afterlife_catch_main INTERFACE)
  target_link_libraries(afterlife_catch_main INTERFACE Catch2::Catch2WithMain)
  set(AFTERLIFE_CATCH_NO_MATCH_WARNING UnmatchedTestSpec)
else()
  add_library(afterlife_catch_main STATIC ${PROJECT_SOURCE_DIR}/tests/support/catch_main.cpp)
  target_link_libraries(afterlife_catch_main PUBLIC Catch2::Catch2)
  set(AFTERLIFE_CATCH_NO_MATCH_WARNING NoTests)
endif()
target_compile_definitions(afterlife_catch_main INTERFACE
  AFTERLIFE_CATCH2_MAJOR=${Catch2_VERSION_MAJOR})
target_include_directories(afterlife_catch_main INTERFACE ${PROJECT_SOURCE_DIR}/tests/support)

function(afterlife_add_unit_test component feature)
  cmake_parse_arguments(arg "" "DIR" "LIBRARIES" ${ARGN})
  set(target ${component}_${feature}_test)
  set(source ${feature}_test.cpp)
  if(arg_DIR)
    set(source ${arg_DIR}/${source})
  endif()
  # CTest keeps test names in CMake lists: a ';' in a Catch2 test name would split it into two
  # tests that each match nothing. Refuse such names here (a name split over several string
  # literals escapes this check, but then the no-match warning below fails both halves).
  file(READ ${CMAKE_CURRENT_SOURCE_DIR}/${source} source_text)
  if(source_text MATCHES "TEST_CASE\\([ \t\r\n]*\"[^\"]*;[^\"]*\"")
    message(FATAL_ERROR "${source}: a TEST_CASE name contains ';' (${CMAKE_MATCH_0}), "
                        "which CTest would split in two; use ',' instead")
  endif()
  add_executable(${target} ${source})
  target_link_libraries(${target} PRIVATE afterlife_catch_main afterlife_build_settings
                                          ${arg_LIBRARIES})
  catch_discover_tests(${target}
    TEST_PREFIX "${component}::${feature}::"
    # A test whose name filter matches no test case fails instead of passing silently.
    EXTRA_ARGS --warn ${AFTERLIFE_CATCH_NO_MATCH_WARNING}
    # A test that cannot run here says `SKIPPED: why` and CTest counts it as skipped.
    PROPERTIES LABELS ${component} SKIP_REGULAR_EXPRESSION "SKIPPED:"
    # Discovery runs the binary; give it the same environment the tests get.
    DISCOVERY_TIMEOUT 30)
endfunction()
