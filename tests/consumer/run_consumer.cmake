# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DC_COMPILER=... -DCXX_COMPILER=...
#       [-DCXX_FLAGS=...] -P run_consumer.cmake
# Installs the afterlife build into WORK_DIR/staging and moves it to WORK_DIR/moved (the package
# must be relocatable), checks that the package config finds every package its exported
# targets carry, then configures, builds and tests the consumer project against the moved
# prefix twice: with the lifecycle component, and with the harness alone while every other
# package is disabled (CMAKE_DISABLE_FIND_PACKAGE_*): afterlife_add_test needs nothing else.
function(step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer step failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
step(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/staging")
file(RENAME "${WORK_DIR}/staging" "${WORK_DIR}/moved")
set(prefix "${WORK_DIR}/moved")

# Every package an exported target names (NAMESPACE::target in the export files) has its
# find_dependency in the config; the harness's export set names none.
file(GLOB config_file "${prefix}/lib*/cmake/afterlife/afterlifeConfig.cmake")
file(READ "${config_file}" config)
get_filename_component(config_dir "${config_file}" DIRECTORY)
foreach(export IN ITEMS afterlifeTargets afterlifeLifecycleTargets)
  file(STRINGS "${config_dir}/${export}.cmake" links REGEX "INTERFACE_LINK_LIBRARIES")
  string(REGEX MATCHALL "[A-Za-z0-9_]+::" namespaces "${links}")
  list(REMOVE_DUPLICATES namespaces)
  list(REMOVE_ITEM namespaces "afterlife::")
  if(export STREQUAL "afterlifeTargets" AND namespaces)
    message(FATAL_ERROR "the harness component's targets carry other packages: ${namespaces}")
  endif()
  foreach(namespace IN LISTS namespaces)
    string(REPLACE "::" "" package "${namespace}")
    if(NOT config MATCHES "find_dependency\\(${package}[ )]")
      message(FATAL_ERROR "${export}.cmake links ${namespace}..., but afterlifeConfig.cmake has "
                          "no find_dependency(${package})")
    endif()
  endforeach()
endforeach()

set(compilers -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
              "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_PREFIX_PATH=${prefix}")

# With lifecycle: 2 shm_writer tests and lifecycle_user's natural and sigkill.
step(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build" -G Ninja ${compilers})
step(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
step(${CMAKE_CTEST_COMMAND} --test-dir "${WORK_DIR}/build" --output-on-failure)
if(NOT step_output MATCHES "100% tests passed, 0 tests failed out of 4")
  message(FATAL_ERROR "the consumer's 4 tests did not all run and pass:\n${step_output}")
endif()
# The labels: afterlife and the mode on every test, the project's own after them.
step(${CMAKE_CTEST_COMMAND} --test-dir "${WORK_DIR}/build" -N -L "^consumer_lifecycle$")
if(NOT step_output MATCHES "lifecycle_user::natural.*lifecycle_user::sigkill.*Total Tests: 2")
  message(FATAL_ERROR "LABELS consumer_lifecycle does not select lifecycle_user's 2 tests:\n${step_output}")
endif()
step(${CMAKE_CTEST_COMMAND} --test-dir "${WORK_DIR}/build" -N -L "^sigkill$")
if(NOT step_output MATCHES "Total Tests: 2")
  message(FATAL_ERROR "the label sigkill does not select the 2 sigkill tests:\n${step_output}")
endif()

# The harness alone, with every other package out of reach.
set(no_packages "")
foreach(package IN ITEMS fmt Boost nlohmann_json CLI11 Threads Catch2)
  list(APPEND no_packages -DCMAKE_DISABLE_FIND_PACKAGE_${package}=ON)
endforeach()
step(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build-harness" -G Ninja
     ${compilers} -DCONSUMER_WITH_LIFECYCLE=OFF ${no_packages})
step(${CMAKE_COMMAND} --build "${WORK_DIR}/build-harness")
step(${CMAKE_CTEST_COMMAND} --test-dir "${WORK_DIR}/build-harness" --output-on-failure)
if(NOT step_output MATCHES "100% tests passed, 0 tests failed out of 2")
  message(FATAL_ERROR "the harness-only consumer's 2 tests did not all run and pass:\n${step_output}")
endif()
message(STATUS "consumer: 4 of 4 tests passed with lifecycle, 2 of 2 with the harness alone, "
               "from a moved prefix")
