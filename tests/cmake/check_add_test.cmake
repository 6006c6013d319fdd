# cmake -DAFTERLIFE_EXE=... -DFUNCTIONS=... -DWORK_DIR=... -DCASE=NAME [-DEXPECTED=REGEX]
#       -P check_add_test.cmake
# Configures tests/cmake/add_test with CASE. With EXPECTED, the configure step must fail and its
# error output match EXPECTED. Without it (CASE properties), it must succeed, and the tests it
# registers must carry exactly the labels, limits, working directory and command asked for
# (ctest --show-only=json-v1), and pass when run.
set(build "${WORK_DIR}/${CASE}")
file(REMOVE_RECURSE "${build}")
include("${CMAKE_CURRENT_LIST_DIR}/private_runtime.cmake")
execute_process(
  COMMAND ${CMAKE_COMMAND} -S "${CMAKE_CURRENT_LIST_DIR}/add_test" -B "${build}"
          "-DCASE=${CASE}" "-DAFTERLIFE_EXE=${AFTERLIFE_EXE}" "-DAFTERLIFE_FUNCTIONS=${FUNCTIONS}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(DEFINED EXPECTED)
  if(rc EQUAL 0)
    message(FATAL_ERROR "case ${CASE}: configure succeeded; it must fail with '${EXPECTED}'")
  endif()
  # CMake wraps a message's lines: match the words of the error joined by single spaces.
  string(REGEX REPLACE "[ \t\r\n]+" " " err "${err}")
  if(NOT err MATCHES "${EXPECTED}")
    message(FATAL_ERROR "case ${CASE}: the error does not match '${EXPECTED}':\n${err}")
  endif()
  message(STATUS "case ${CASE}: refused as expected")
  return()
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "case ${CASE}: configure failed:\n${out}\n${err}")
endif()

execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir "${build}" --show-only=json-v1
                RESULT_VARIABLE rc OUTPUT_VARIABLE json)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ctest --show-only=json-v1 failed")
endif()

# Sets names (the test names in order), and for each test NAME (as a C identifier:
# props__natural): command_NAME (the arguments) and property_NAME_PROP (a list for arrays).
string(JSON count LENGTH "${json}" tests)
math(EXPR last "${count} - 1")
set(names "")
foreach(i RANGE ${last})
  string(JSON name GET "${json}" tests ${i} name)
  list(APPEND names "${name}")
  string(MAKE_C_IDENTIFIER "${name}" name)  # props::natural -> props__natural
  string(JSON args LENGTH "${json}" tests ${i} command)
  math(EXPR args_last "${args} - 1")
  set(command_${name} "")
  foreach(a RANGE ${args_last})
    string(JSON arg GET "${json}" tests ${i} command ${a})
    list(APPEND command_${name} "${arg}")
  endforeach()
  string(JSON props LENGTH "${json}" tests ${i} properties)
  math(EXPR props_last "${props} - 1")
  foreach(p RANGE ${props_last})
    string(JSON pname GET "${json}" tests ${i} properties ${p} name)
    string(JSON ptype TYPE "${json}" tests ${i} properties ${p} value)
    if(ptype STREQUAL "ARRAY")
      string(JSON n LENGTH "${json}" tests ${i} properties ${p} value)
      math(EXPR n_last "${n} - 1")
      set(value "")
      foreach(v RANGE ${n_last})
        string(JSON item GET "${json}" tests ${i} properties ${p} value ${v})
        list(APPEND value "${item}")
      endforeach()
    else()
      string(JSON value GET "${json}" tests ${i} properties ${p} value)
    endif()
    set(property_${name}_${pname} "${value}")
  endforeach()
endforeach()

function(expect_equal what actual expected)
  if(NOT "${actual}" STREQUAL "${expected}")
    message(FATAL_ERROR "${what}: '${actual}', expected '${expected}'")
  endif()
endfunction()
# Sets out_var to the argument that follows `option` in test `name`'s command.
function(argument_after test option out_var)
  string(MAKE_C_IDENTIFIER "${test}" name)
  list(FIND command_${name} "${option}" at)
  if(at EQUAL -1)
    set(${out_var} "(no ${option})" PARENT_SCOPE)
  else()
    math(EXPR at "${at} + 1")
    list(GET command_${name} ${at} value)
    set(${out_var} "${value}" PARENT_SCOPE)
  endif()
endfunction()

expect_equal("tests" "${names}" "props::natural;props::sigkill;long::natural;killed::sigkill")
set(wd "${build}/work dir")
# (CTest lists a test's labels sorted.)
expect_equal("props::natural LABELS" "${property_props__natural_LABELS}" "afterlife;fast;io;natural")
expect_equal("props::sigkill LABELS" "${property_props__sigkill_LABELS}" "afterlife;fast;io;sigkill")
expect_equal("long::natural LABELS" "${property_long__natural_LABELS}" "afterlife;natural")
foreach(mode natural sigkill)
  expect_equal("props::${mode} TIMEOUT" "${property_props__${mode}_TIMEOUT}" "40.0")
  expect_equal("props::${mode} WORKING_DIRECTORY" "${property_props__${mode}_WORKING_DIRECTORY}" "${wd}")
  expect_equal("props::${mode} COST" "${property_props__${mode}_COST}" "3.0")
  expect_equal("props::${mode} ENVIRONMENT" "${property_props__${mode}_ENVIRONMENT}" "AFTERLIFE_CASE=props")
  # TIMEOUT 40 with the default GRACE 1s leaves the harness 40 - 1 - 5 = 34 s.
  argument_after(props::${mode} --timeout harness_timeout)
  expect_equal("props::${mode} --timeout" "${harness_timeout}" "34000ms")
  argument_after(props::${mode} --mode mode_argument)
  expect_equal("props::${mode} --mode" "${mode_argument}" "${mode}")
endforeach()
argument_after(props::natural --expect first_expectation)
expect_equal("props::natural first --expect" "${first_expectation}" "exit=0")
argument_after(props::sigkill --expect sigkill_expectation)
expect_equal("props::sigkill --expect" "${sigkill_expectation}" "signal=KILL")
# HARNESS_TIMEOUT 2m alone gives CTest 120 + 1 + 5 s.
expect_equal("long::natural TIMEOUT" "${property_long__natural_TIMEOUT}" "126.0")
argument_after(long::natural --timeout long_timeout)
expect_equal("long::natural --timeout" "${long_timeout}" "120000ms")
# Neither limit: the harness's default, no CTest TIMEOUT property.
expect_equal("killed::sigkill TIMEOUT" "${property_killed__sigkill_TIMEOUT}" "")
argument_after(killed::sigkill --timeout killed_timeout)
expect_equal("killed::sigkill --timeout" "${killed_timeout}" "(no --timeout)")

# The tests run and pass: the working directory reached the program (props::natural expects
# pwd to print it), and each mode was judged by its own expectations.
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir "${build}" --output-on-failure
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "100% tests passed, 0 tests failed out of 4")
  message(FATAL_ERROR "the registered tests did not all pass:\n${out}\n${err}")
endif()
# And the labels select them: -L io runs the two props tests only.
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --test-dir "${build}" -N -L "^io$"
                OUTPUT_VARIABLE listed)
if(NOT listed MATCHES "Total Tests: 2")
  message(FATAL_ERROR "ctest -L io does not select exactly the 2 props tests:\n${listed}")
endif()
message(STATUS "case properties: 4 tests with the properties asked for, all passed")
