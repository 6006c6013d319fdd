# Project-wide compile settings, carried by interface targets rather than global flags so that
# users embedding lifecycle or the harness keep their own CMAKE_CXX_FLAGS.

# The C++ standard, position-independent code and the default build type are afterlife's
# defaults only when it is the top-level project. Added to another project (add_subdirectory,
# FetchContent), the parent's choices stand: our targets ask for C++20 themselves
# (target_compile_features), and the cache (global to the whole build) gets nothing from us.
if(PROJECT_IS_TOP_LEVEL)
  set(CMAKE_CXX_STANDARD 20)
  set(CMAKE_CXX_STANDARD_REQUIRED ON)
  set(CMAKE_CXX_EXTENSIONS OFF)
  set(CMAKE_POSITION_INDEPENDENT_CODE ON)
  set(CMAKE_EXPORT_COMPILE_COMMANDS ON)
  if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
    set(CMAKE_BUILD_TYPE Debug CACHE STRING "Build type" FORCE)
  endif()
endif()

# Warnings for our own targets. CI turns them into errors with CMAKE_COMPILE_WARNING_AS_ERROR.
add_library(afterlife_warnings INTERFACE)
target_compile_options(afterlife_warnings INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang,AppleClang>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2>)

# Sanitizers (the asan and tsan presets). The interposer never gets them: it is preloaded into
# programs that are not sanitized.
add_library(afterlife_sanitizers INTERFACE)
if(AFTERLIFE_SANITIZE)
  target_compile_options(afterlife_sanitizers INTERFACE
    -fsanitize=${AFTERLIFE_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(afterlife_sanitizers INTERFACE -fsanitize=${AFTERLIFE_SANITIZE})
  # Boost.Asio (under Boost.Process) uses std::atomic_thread_fence, which ThreadSanitizer cannot
  # model; GCC 12 warns about every use (-Wtsan), which -Werror would turn into a failed build.
  if(AFTERLIFE_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(afterlife_sanitizers INTERFACE -Wno-tsan)
  endif()
endif()

# What every afterlife target links: C++20 (whoever the top-level project is), warnings,
# sanitizers.
add_library(afterlife_build_settings INTERFACE)
target_compile_features(afterlife_build_settings INTERFACE cxx_std_20)
target_link_libraries(afterlife_build_settings INTERFACE afterlife_warnings afterlife_sanitizers)
