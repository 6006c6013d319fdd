# The CMake package users' projects consume with find_package(afterlife [COMPONENTS lifecycle]):
# the command, the control-client header and afterlife_add_test (cmake/afterlife-functions.cmake);
# the lifecycle library as a component.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Two export sets, one per component of the package (afterlifeConfig.cmake.in): the harness
# (the command and the control-client header; no dependency at all) and lifecycle (the library,
# whose link carries fmt and Threads, and its resource tracker).
install(TARGETS afterlife afterlife_control_client
  EXPORT afterlifeTargets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS afterlife_lifecycle afterlife_rt afterlife_fmt afterlife-resource-tracker
  EXPORT afterlifeLifecycleTargets
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
# What a run needs beside the command: the interposer (found from bin/ as ../lib/afterlife/),
# and for `afterlife matrix` / `afterlife scenarios` the catalog and the scenario programs. All
# relative to the executable, so the installed prefix can be moved.
install(TARGETS afterlife_interposer LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/afterlife)
install(FILES ${PROJECT_SOURCE_DIR}/scenarios/catalog.json DESTINATION ${CMAKE_INSTALL_DATADIR}/afterlife)
get_property(afterlife_scenario_targets GLOBAL PROPERTY AFTERLIFE_SCENARIO_TARGETS)
if(afterlife_scenario_targets)
  install(TARGETS ${afterlife_scenario_targets} RUNTIME DESTINATION ${CMAKE_INSTALL_LIBDIR}/afterlife/scenarios)
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/protocol/include/afterlife DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/lifecycle/include/lifecycle DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/afterlife)
install(EXPORT afterlifeTargets NAMESPACE afterlife:: DESTINATION ${config_dir})
install(EXPORT afterlifeLifecycleTargets NAMESPACE afterlife:: DESTINATION ${config_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/afterlifeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/afterlifeConfig.cmake INSTALL_DESTINATION ${config_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/afterlifeConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/afterlifeConfig.cmake ${PROJECT_BINARY_DIR}/afterlifeConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/afterlife-functions.cmake
  ${PROJECT_SOURCE_DIR}/cmake/afterlife-discover-tests.cmake DESTINATION ${config_dir})
