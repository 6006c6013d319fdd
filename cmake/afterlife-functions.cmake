# afterlife_add_test: run a program of your own under `afterlife run` in CTest, once per exit mode.
#
#   afterlife_add_test(NAME leaky_service
#                      COMMAND $<TARGET_FILE:my_service> --port 0
#                      [MODES natural sigterm sigkill]
#                      [EXPECT survivors=0 ...]            expectations of every mode
#                      [EXPECT_<MODE> posix_shm=1 ...]     and of one mode (EXPECT_SIGKILL,
#                                                          EXPECT_GROUP_KILL, ...)
#                      [AT checkpoint:ready] [GRACE 1s] [WATCH dir...]
#                      [TIMEOUT seconds] [HARNESS_TIMEOUT duration]
#                      [LABELS label...] [WORKING_DIRECTORY dir]
#                      [PROPERTIES name value ...] [TEST_LIST out_var])
#
# Registers the CTest tests NAME::MODE. Each runs `afterlife run --mode MODE ... -- COMMAND`;
# the harness checks every expectation (see `afterlife run --help`) and exits 0 only when all
# are met, so the CTest verdict is the harness's. A mode's expectations are EXPECT followed by
# EXPECT_<MODE>; with neither, `clean`. MODES defaults to the modes that have an EXPECT_<MODE>,
# else `natural`. Signal modes fire at AT (default: the program's first checkpoint, else at once).
#
# Every test gets the labels `afterlife` and its mode, then LABELS. TEST_LIST names a variable
# set to the tests registered.
#
# Two limits: HARNESS_TIMEOUT (a duration: 30, 30s, 500ms, 2m, 1h) is the harness's own
# `--timeout`: when it expires the harness kills the run, lists and removes what it left and
# fails the test with a report. TIMEOUT (seconds) is CTest's TIMEOUT property: CTest kills the
# harness itself, and nothing is cleaned up. So TIMEOUT must leave the harness time to finish
# after its limit: at least HARNESS_TIMEOUT + GRACE + 5 s. Given one, the other follows from
# that rule (TIMEOUT 60 with GRACE 1s gives HARNESS_TIMEOUT 54s); given neither, the harness's
# default (10 min) applies and no CTest TIMEOUT is set.
#
# Mistakes are configure-time errors: an unknown keyword (a word in capitals where a keyword,
# a mode or an expectation is due, or inside COMMAND: pass a program argument in capitals as
# `$<1:WORD>`), an unknown mode, a malformed expectation, an EXPECT_<MODE> for a mode not in
# MODES, a TIMEOUT too short for HARNESS_TIMEOUT.

# afterlife_discover_tests: each GoogleTest case and each Catch2 test case of a test program
# becomes its own CTest test, run under `afterlife run --quiet` and judged for leftovers.
#
#   afterlife_discover_tests(TARGET my_tests
#                            [EXTRA_ARGS arg...]           after the case's filter
#                            [TEST_PREFIX prefix]          before each test's name
#                            [MODES ...] [EXPECT ...] [EXPECT_<MODE> ...] [AT ...] [GRACE ...]
#                            [WATCH dir...] [TIMEOUT seconds] [HARNESS_TIMEOUT duration]
#                            [LABELS label...] [WORKING_DIRECTORY dir]
#                            [PROPERTIES name value ...])
#
# As gtest_discover_tests does, a POST_BUILD step lists the program's cases (GoogleTest:
# --gtest_list_tests; else Catch2 2: --list-test-names-only; else Catch2 3: --list-tests
# --verbosity quiet) and writes a CTest include file with one test per case and mode,
# PREFIXSuite.Case::MODE (Catch2: PREFIXname::MODE), running `afterlife run --quiet --mode MODE
# ... -- PROGRAM --gtest_filter=Suite.Case` (Catch2: PROGRAM "name", escaped as a test spec).
# The keywords mean what they mean for afterlife_add_test, and the same mistakes are
# configure-time errors. Unlike afterlife_add_test, a natural run also expects exit=0 unless an
# EXPECT or EXPECT_NATURAL gives an exit=: a case that fails its own assertions fails its test.
# A Catch2 name that matches no case fails (--warn NoTests / UnmatchedTestSpec). GoogleTest's
# DISABLED_ cases are registered disabled.

# The discovery step's script, installed next to this file.
set(_AFTERLIFE_DISCOVER_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/afterlife-discover-tests.cmake")

# The run modes and the leftover kinds, as `afterlife run --mode` and `--expect KIND=N` spell
# them. Copies of the registries in harness/include/afterlife/harness/modes.hpp and
# protocol/include/afterlife/protocol.h (this file is installed without them);
# tests/docs/tables_test.cpp fails when they differ.
set(AFTERLIFE_RUN_MODES natural sigterm sigint sigkill abort group-kill tree-kill child-death)
set(AFTERLIFE_KINDS posix_shm posix_sem posix_mq sysv_shm sysv_sem sysv_msg file socket fifo directory)

# Sets out_var to the milliseconds of a duration as `afterlife run` spells it, restricted to a
# whole number and a unit (30, 30s, 500ms, 2m, 2min, 1h); an error names `what` otherwise.
function(_afterlife_duration_ms text what out_var)
  if(NOT text MATCHES "^([0-9]+)(ms|s|m|min|h)?$")
    message(FATAL_ERROR "afterlife_add_test: ${what} '${text}' is not a duration "
                        "(a whole number with ms, s, m, min or h; no unit means seconds)")
  endif()
  set(number "${CMAKE_MATCH_1}")
  set(unit "${CMAKE_MATCH_2}")
  set(scale 1000)
  if(unit STREQUAL "ms")
    set(scale 1)
  elseif(unit STREQUAL "m" OR unit STREQUAL "min")
    set(scale 60000)
  elseif(unit STREQUAL "h")
    set(scale 3600000)
  endif()
  math(EXPR ms "${number} * ${scale}")
  set(${out_var} ${ms} PARENT_SCOPE)
endfunction()

# The expectation grammar of `afterlife run --expect` (harness/src/expectations.cpp), checked
# here so that a typo fails at configure time instead of in every test run.
function(_afterlife_check_expectation text)
  set(bad "afterlife_add_test: malformed expectation '${text}'")
  if(text STREQUAL "clean")
    return()
  elseif(text MATCHES "^output~(.*)$")
    if(CMAKE_MATCH_1 STREQUAL "")
      message(FATAL_ERROR "${bad}: output~ needs a regular expression")
    endif()
    return()
  elseif(NOT text MATCHES "^([a-z_]+)=(.+)$")
    message(FATAL_ERROR "${bad} (clean, exit=N, signal=NAME, KIND=N, leftovers=N, survivors=N, "
                        "phase=NAME, phases=N, output~REGEX)")
  endif()
  set(key "${CMAKE_MATCH_1}")
  set(value "${CMAKE_MATCH_2}")
  if(key STREQUAL "signal")
    if(NOT value MATCHES "^(SIG)?[A-Z0-9]+$")
      message(FATAL_ERROR "${bad}: '${value}' is not a signal name (KILL, TERM, ABRT, ...)")
    endif()
  elseif(key STREQUAL "phase")
    if(NOT value MATCHES "^[A-Za-z0-9_-]+$")
      message(FATAL_ERROR "${bad}: '${value}' is not a phase name")
    endif()
  elseif(key MATCHES "^(exit|leftovers|survivors|phases)$" OR key IN_LIST AFTERLIFE_KINDS)
    if(NOT value MATCHES "^[0-9]+$")
      message(FATAL_ERROR "${bad}: '${value}' is not a count")
    endif()
  else()
    list(JOIN AFTERLIFE_KINDS ", " kinds)
    message(FATAL_ERROR "${bad}: unknown key '${key}' (exit, signal, leftovers, survivors, "
                        "phase, phases, or a kind: ${kinds})")
  endif()
endfunction()

# The keyword lists afterlife_add_test and afterlife_discover_tests share: sets mode_keywords
# (EXPECT_NATURAL, EXPECT_SIGKILL, ...) and keyword_of_<mode> in the caller.
macro(_afterlife_mode_keywords)
  set(mode_keywords "")
  foreach(mode IN LISTS AFTERLIFE_RUN_MODES)
    string(TOUPPER "${mode}" upper)
    string(REPLACE "-" "_" upper "${upper}")
    list(APPEND mode_keywords EXPECT_${upper})
    set(keyword_of_${mode} EXPECT_${upper})
  endforeach()
endmacro()

# After cmake_parse_arguments of one_value and multi_value: sets known (the keywords, for
# errors) and refuses a word before the first keyword.
macro(_afterlife_refuse_unparsed who)
  list(JOIN one_value ", " known)
  list(JOIN multi_value ", " known_multi)
  set(known "${known}, ${known_multi}")
  if(arg_UNPARSED_ARGUMENTS)
    list(GET arg_UNPARSED_ARGUMENTS 0 first)
    message(FATAL_ERROR "${who}: unexpected argument '${first}' (keywords: ${known})")
  endif()
endmacro()

# Checks the arguments both functions share (parsed into arg_*; `who` names the call in
# errors, `value_lists` are the lists where a word in capitals is a misspelt keyword) and sets,
# in the caller: arg_MODES, arg_TIMEOUT, afterlife_exe, common (the harness options of every
# mode), expect_args_<mode>, working_directory (WORKING_DIRECTORY DIR or nothing).
macro(_afterlife_prepare_runs who value_lists)
  # cmake_parse_arguments gives a misspelt keyword to the list before it: a word in capitals
  # where a value is due is one (labels and properties may be capitals; COMMAND escapes them).
  foreach(list_name IN ITEMS ${value_lists} MODES EXPECT WATCH ${mode_keywords})
    foreach(word IN LISTS arg_${list_name})
      if(word MATCHES "^[A-Z][A-Z0-9_]+[A-Z0-9]$")
        message(FATAL_ERROR "${who}: unknown keyword '${word}' "
                            "(in ${list_name}; keywords: ${known}). A program argument in "
                            "capitals is written $<1:${word}>.")
      endif()
    endforeach()
  endforeach()
  foreach(list_name IN ITEMS AT TIMEOUT HARNESS_TIMEOUT GRACE WORKING_DIRECTORY TEST_LIST
                             TEST_PREFIX)
    if(list_name IN_LIST arg_KEYWORDS_MISSING_VALUES)
      message(FATAL_ERROR "${who}: ${list_name} needs a value")
    endif()
  endforeach()

  # Modes: the given ones, else those with expectations of their own, else natural.
  set(modes_given "")
  foreach(mode IN LISTS AFTERLIFE_RUN_MODES)
    if(DEFINED arg_${keyword_of_${mode}})
      list(APPEND modes_given ${mode})
    endif()
  endforeach()
  if(NOT arg_MODES)
    set(arg_MODES ${modes_given})
    if(NOT arg_MODES)
      set(arg_MODES natural)
    endif()
  endif()
  list(JOIN AFTERLIFE_RUN_MODES ", " mode_names)
  foreach(mode IN LISTS arg_MODES)
    if(NOT mode IN_LIST AFTERLIFE_RUN_MODES)
      message(FATAL_ERROR "${who}: unknown mode '${mode}' (modes: ${mode_names})")
    endif()
  endforeach()
  foreach(mode IN LISTS modes_given)
    if(NOT mode IN_LIST arg_MODES)
      message(FATAL_ERROR "${who}: ${keyword_of_${mode}} given, "
                          "but ${mode} is not in MODES (${arg_MODES})")
    endif()
  endforeach()
  foreach(expr IN LISTS arg_EXPECT)
    _afterlife_check_expectation("${expr}")
  endforeach()
  foreach(mode_keyword IN LISTS mode_keywords)
    foreach(expr IN LISTS arg_${mode_keyword})
      _afterlife_check_expectation("${expr}")
    endforeach()
  endforeach()

  # The two limits (see the top of this file).
  if(NOT arg_GRACE)
    set(arg_GRACE 1s)
  endif()
  _afterlife_duration_ms("${arg_GRACE}" GRACE grace_ms)
  set(margin_ms 5000)
  if(DEFINED arg_TIMEOUT AND NOT arg_TIMEOUT MATCHES "^[0-9]+$")
    message(FATAL_ERROR "${who}: TIMEOUT '${arg_TIMEOUT}' is "
                        "not a whole number of seconds (the harness's limit is HARNESS_TIMEOUT)")
  endif()
  set(harness_timeout "")
  if(DEFINED arg_HARNESS_TIMEOUT)
    _afterlife_duration_ms("${arg_HARNESS_TIMEOUT}" HARNESS_TIMEOUT harness_ms)
    math(EXPR needed_s "(${harness_ms} + ${grace_ms} + ${margin_ms} + 999) / 1000")
    if(NOT DEFINED arg_TIMEOUT)
      set(arg_TIMEOUT ${needed_s})
    elseif(arg_TIMEOUT LESS needed_s)
      message(FATAL_ERROR "${who}: TIMEOUT ${arg_TIMEOUT} s would "
                          "let CTest kill the harness before it has cleaned up after "
                          "HARNESS_TIMEOUT ${arg_HARNESS_TIMEOUT}: give at least ${needed_s}")
    endif()
    set(harness_timeout ${harness_ms}ms)
  elseif(DEFINED arg_TIMEOUT)
    math(EXPR harness_ms "${arg_TIMEOUT} * 1000 - ${grace_ms} - ${margin_ms}")
    if(harness_ms LESS_EQUAL 0)
      message(FATAL_ERROR "${who}: TIMEOUT ${arg_TIMEOUT} s leaves "
                          "the harness no time (it needs GRACE + 5 s after its own limit)")
    endif()
    set(harness_timeout ${harness_ms}ms)
  endif()

  if(PROPERTIES IN_LIST arg_KEYWORDS_MISSING_VALUES)
    message(FATAL_ERROR "${who}: PROPERTIES needs name value pairs")
  endif()
  list(LENGTH arg_PROPERTIES property_words)
  math(EXPR odd "${property_words} % 2")
  if(odd)
    message(FATAL_ERROR "${who}: PROPERTIES needs name value pairs (${arg_PROPERTIES})")
  endif()

  if(TARGET afterlife::afterlife)
    set(afterlife_exe $<TARGET_FILE:afterlife::afterlife>)
  else()
    set(afterlife_exe $<TARGET_FILE:afterlife>)
  endif()
  set(common "")
  if(arg_AT)
    list(APPEND common --at ${arg_AT})
  endif()
  if(harness_timeout)
    list(APPEND common --timeout ${harness_timeout})
  endif()
  list(APPEND common --grace ${arg_GRACE})
  foreach(dir IN LISTS arg_WATCH)
    list(APPEND common --watch ${dir})
  endforeach()
  set(working_directory "")
  if(arg_WORKING_DIRECTORY)
    set(working_directory WORKING_DIRECTORY "${arg_WORKING_DIRECTORY}")
  endif()
  foreach(mode IN LISTS arg_MODES)
    set(expectations ${arg_EXPECT} ${arg_${keyword_of_${mode}}})
    if(NOT expectations)
      set(expectations clean)
    endif()
    set(expect_args_${mode} "")
    foreach(expr IN LISTS expectations)
      list(APPEND expect_args_${mode} --expect "${expr}")
    endforeach()
  endforeach()
endmacro()

function(afterlife_add_test)
  _afterlife_mode_keywords()
  set(one_value NAME AT TIMEOUT HARNESS_TIMEOUT GRACE WORKING_DIRECTORY TEST_LIST)
  set(multi_value COMMAND MODES EXPECT WATCH LABELS PROPERTIES ${mode_keywords})
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "${one_value}" "${multi_value}")
  _afterlife_refuse_unparsed(afterlife_add_test)
  if(NOT arg_NAME OR NOT arg_COMMAND)
    message(FATAL_ERROR "afterlife_add_test needs NAME and COMMAND")
  endif()
  _afterlife_prepare_runs("afterlife_add_test(NAME ${arg_NAME})" COMMAND)

  set(tests "")
  foreach(mode IN LISTS arg_MODES)
    set(test ${arg_NAME}::${mode})
    add_test(NAME ${test} ${working_directory}
             COMMAND ${afterlife_exe} run --mode ${mode} ${common} ${expect_args_${mode}}
                     -- ${arg_COMMAND})
    set(labels afterlife ${mode} ${arg_LABELS})
    set_tests_properties(${test} PROPERTIES LABELS "${labels}")
    if(DEFINED arg_TIMEOUT)
      set_tests_properties(${test} PROPERTIES TIMEOUT ${arg_TIMEOUT})
    endif()
    if(arg_PROPERTIES)
      set_tests_properties(${test} PROPERTIES ${arg_PROPERTIES})
    endif()
    list(APPEND tests ${test})
  endforeach()
  if(arg_TEST_LIST)
    set(${arg_TEST_LIST} ${tests} PARENT_SCOPE)
  endif()
endfunction()

function(afterlife_discover_tests)
  _afterlife_mode_keywords()
  set(one_value TARGET AT TIMEOUT HARNESS_TIMEOUT GRACE WORKING_DIRECTORY TEST_PREFIX)
  set(multi_value EXTRA_ARGS MODES EXPECT WATCH LABELS PROPERTIES ${mode_keywords})
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "${one_value}" "${multi_value}")
  _afterlife_refuse_unparsed(afterlife_discover_tests)
  if(NOT arg_TARGET)
    message(FATAL_ERROR "afterlife_discover_tests needs TARGET")
  endif()
  if(NOT TARGET ${arg_TARGET})
    message(FATAL_ERROR "afterlife_discover_tests: '${arg_TARGET}' is not a target")
  endif()
  _afterlife_prepare_runs("afterlife_discover_tests(TARGET ${arg_TARGET})" EXTRA_ARGS)
  if(NOT arg_WORKING_DIRECTORY)
    set(arg_WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
  endif()

  # What the discovery step needs, with the generator expressions resolved, one file per
  # configuration; bracket arguments keep each value as written.
  set(base "${CMAKE_CURRENT_BINARY_DIR}/${arg_TARGET}_afterlife")
  set(ctest_file "${base}_tests.cmake")
  set(params "")
  foreach(name IN ITEMS MODES LABELS PROPERTIES EXTRA_ARGS TIMEOUT WORKING_DIRECTORY
                        TEST_PREFIX)
    string(APPEND params "set(${name} [==[${arg_${name}}]==])\n")
  endforeach()
  foreach(mode IN LISTS arg_MODES)
    # A case that fails its own assertions fails its test: a natural run expects exit 0
    # unless an expectation says otherwise (`clean` alone does not look at the status).
    if(mode STREQUAL "natural" AND NOT "${arg_EXPECT};${arg_EXPECT_NATURAL}" MATCHES "(^|;)exit=")
      list(APPEND expect_args_${mode} --expect exit=0)
    endif()
    string(APPEND params "set(RUN_${mode} [==[${afterlife_exe};run;--quiet;--mode;${mode};"
                         "${common};${expect_args_${mode}}]==])\n")
  endforeach()
  file(GENERATE OUTPUT "${base}_params_$<CONFIG>.cmake" CONTENT "${params}")
  add_custom_command(
    TARGET ${arg_TARGET} POST_BUILD
    COMMAND "${CMAKE_COMMAND}" "-DPROGRAM=$<TARGET_FILE:${arg_TARGET}>"
            "-DPARAMS=${base}_params_$<CONFIG>.cmake" "-DCTEST_FILE=${ctest_file}"
            -P "${_AFTERLIFE_DISCOVER_SCRIPT}"
    BYPRODUCTS "${ctest_file}"
    VERBATIM)

  # CTest reads the discovered tests; before the first build, one test says so and fails.
  file(WRITE "${base}_include.cmake"
       "if(EXISTS [==[${ctest_file}]==])\n"
       "  include([==[${ctest_file}]==])\n"
       "else()\n"
       "  add_test([==[${arg_TARGET}_NOT_BUILT]==] [==[${arg_TARGET}_NOT_BUILT]==])\n"
       "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${base}_include.cmake")
endfunction()
