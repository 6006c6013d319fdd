# Scenarios and their cells. scenarios/catalog.json is the one place that says what each
# scenario is expected to leave behind per exit mode; this file turns it into CTest tests
# `scenario::NAME::MODE`, one per cell. Each runs `afterlife matrix --scenario NAME --mode MODE`:
# the cell's `afterlife run` command comes from the one translator, afterlife::cell_run_arguments
# (harness/src/catalog.cpp), and the harness itself checks exit status and leftovers (no
# reliance on CTest's WILL_FAIL). This file only learns which cells exist.

set(AFTERLIFE_CATALOG "${PROJECT_SOURCE_DIR}/scenarios/catalog.json")
set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${AFTERLIFE_CATALOG}")
file(READ "${AFTERLIFE_CATALOG}" _afterlife_catalog_json)
set_property(GLOBAL PROPERTY AFTERLIFE_CATALOG_JSON "${_afterlife_catalog_json}")
set_property(GLOBAL PROPERTY AFTERLIFE_SCENARIO_TARGETS "")
# Each cell's matrix (matrix.json with the cell's run report, matrix.xml, matrix.html) lands in
# reports/NAME.MODE/.
file(MAKE_DIRECTORY ${PROJECT_BINARY_DIR}/scenarios/reports)

# Sets out_var to the catalog entry (a JSON object) of scenario `name`, or to NOTFOUND.
function(_afterlife_catalog_entry name out_var)
  get_property(catalog GLOBAL PROPERTY AFTERLIFE_CATALOG_JSON)
  get_property(names GLOBAL PROPERTY AFTERLIFE_CATALOG_NAMES)
  list(FIND names "${name}" index)
  if(index EQUAL -1)
    set(${out_var} NOTFOUND PARENT_SCOPE)
  else()
    string(JSON entry GET "${catalog}" scenarios ${index})
    set(${out_var} "${entry}" PARENT_SCOPE)
  endif()
endfunction()

# Sets out_var to the CMake list of strings in the JSON array at path... of json.
function(_afterlife_json_strings json out_var)
  set(values "")
  string(JSON count ERROR_VARIABLE err LENGTH "${json}" ${ARGN})
  if(NOT err AND count GREATER 0)
    math(EXPR last "${count} - 1")
    foreach(i RANGE ${last})
      string(JSON value GET "${json}" ${ARGN} ${i})
      # A `;` would split the value into two list elements (two arguments); as a generator
      # expression it reaches the command line whole.
      string(REPLACE ";" "$<SEMICOLON>" value "${value}")
      list(APPEND values "${value}")
    endforeach()
  endif()
  set(${out_var} "${values}" PARENT_SCOPE)
endfunction()

# The scenario names in catalog order, read once: every lookup below goes through them.
block()
  set(names "")
  string(JSON count LENGTH "${_afterlife_catalog_json}" scenarios)
  if(count GREATER 0)
    math(EXPR last "${count} - 1")
    foreach(i RANGE ${last})
      string(JSON name GET "${_afterlife_catalog_json}" scenarios ${i} name)
      list(APPEND names "${name}")
    endforeach()
  endif()
  set_property(GLOBAL PROPERTY AFTERLIFE_CATALOG_NAMES "${names}")
endblock()

# afterlife_add_scenario(NAME SOURCES src... [LIBRARIES lib...])
# Builds <build>/scenarios/NAME and registers one CTest test per catalog cell of NAME.
function(afterlife_add_scenario name)
  cmake_parse_arguments(arg "" "" "SOURCES;LIBRARIES" ${ARGN})
  add_executable(${name} ${arg_SOURCES})
  # ENABLE_EXPORTS (-rdynamic): the interposer names creation sites by symbol through dladdr.
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/scenarios
                                           ENABLE_EXPORTS ON)
  target_link_libraries(${name} PRIVATE afterlife_scenario_support afterlife_build_settings ${arg_LIBRARIES})
  set_property(GLOBAL APPEND PROPERTY AFTERLIFE_SCENARIO_TARGETS ${name})

  _afterlife_catalog_entry(${name} entry)
  if(NOT entry)
    message(FATAL_ERROR "scenario '${name}' has no entry in ${AFTERLIFE_CATALOG}: add its expected outcome per mode")
  endif()
  if(NOT AFTERLIFE_BUILD_TESTS)
    return()
  endif()

  get_property(catalog GLOBAL PROPERTY AFTERLIFE_CATALOG_JSON)
  _afterlife_json_strings("${catalog}" modes modes)
  foreach(mode IN LISTS modes)
    string(JSON has_mode ERROR_VARIABLE not_applicable GET "${entry}" expect ${mode})
    if(not_applicable)
      continue()
    endif()
    add_test(NAME scenario::${name}::${mode}
      COMMAND $<TARGET_FILE:afterlife> matrix --scenario ${name} --mode ${mode} --jobs 1
              --catalog ${AFTERLIFE_CATALOG} --scenario-dir ${PROJECT_BINARY_DIR}/scenarios
              --out ${PROJECT_BINARY_DIR}/scenarios/reports/${name}.${mode})
    set_tests_properties(scenario::${name}::${mode} PROPERTIES LABELS scenario TIMEOUT 120)
  endforeach()
endfunction()

# Every catalog scenario must be built somewhere (and every built one is in the catalog, checked
# by afterlife_add_scenario): call once after all scenarios are added.
function(afterlife_check_catalog)
  get_property(names GLOBAL PROPERTY AFTERLIFE_CATALOG_NAMES)
  get_property(targets GLOBAL PROPERTY AFTERLIFE_SCENARIO_TARGETS)
  foreach(name IN LISTS names)
    if(NOT name IN_LIST targets)
      message(FATAL_ERROR "${AFTERLIFE_CATALOG} lists scenario '${name}', but no afterlife_add_scenario(${name} ...) builds it")
    endif()
  endforeach()
endfunction()
