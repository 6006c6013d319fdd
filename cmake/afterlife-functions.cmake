# afterlife_add_test: run a program of your own under `afterlife run` in CTest, once per exit mode.
#
#   afterlife_add_test(NAME leaky_service
#                      COMMAND $<TARGET_FILE:my_service> --port 0
#                      MODES natural sigterm sigkill
#                      EXPECT posix_shm=0 survivors=0
#                      [AT checkpoint:ready] [TIMEOUT 30s] [GRACE 1s] [WATCH dir...])
#
# Registers the CTest tests NAME::MODE. Each runs `afterlife run --mode MODE ... -- COMMAND`;
# the harness checks every EXPECT expression (see `afterlife run --help`) and exits 0 only when
# all are met, so the CTest verdict is the harness's. Signal modes fire at AT (default: the
# program's first checkpoint, else at once).
function(afterlife_add_test)
  cmake_parse_arguments(arg "" "NAME;AT;TIMEOUT;GRACE" "COMMAND;MODES;EXPECT;WATCH" ${ARGN})
  if(NOT arg_NAME OR NOT arg_COMMAND)
    message(FATAL_ERROR "afterlife_add_test needs NAME and COMMAND")
  endif()
  if(NOT arg_MODES)
    set(arg_MODES natural)
  endif()
  if(NOT arg_EXPECT)
    set(arg_EXPECT clean)
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
  if(arg_TIMEOUT)
    list(APPEND common --timeout ${arg_TIMEOUT})
  endif()
  if(arg_GRACE)
    list(APPEND common --grace ${arg_GRACE})
  endif()
  foreach(dir IN LISTS arg_WATCH)
    list(APPEND common --watch ${dir})
  endforeach()
  foreach(expr IN LISTS arg_EXPECT)
    list(APPEND common --expect "${expr}")
  endforeach()

  foreach(mode IN LISTS arg_MODES)
    add_test(NAME ${arg_NAME}::${mode}
             COMMAND ${afterlife_exe} run --mode ${mode} ${common} -- ${arg_COMMAND})
  endforeach()
endfunction()
