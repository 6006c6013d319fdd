# Third-party packages. ci/deps installs every one of them (apt-get on Debian/Ubuntu, Homebrew
# on macOS); the messages below name the package when one is missing.

find_package(Threads REQUIRED)

find_package(Boost 1.81 CONFIG)
if(NOT Boost_FOUND)
  message(FATAL_ERROR "Boost >= 1.81 not found (Debian bookworm: libboost1.81-dev, not the "
                      "1.74 default). Run ci/deps.")
endif()

# Boost.Process v2: header-only up to 1.85 (one translation unit includes src.hpp, see
# harness/src/spawn/boost_process_src.cpp); a compiled library Boost::process from 1.86 on.
add_library(afterlife_boost_process INTERFACE)
if(Boost_VERSION VERSION_GREATER_EQUAL 1.86)
  find_package(Boost ${Boost_VERSION} EXACT CONFIG REQUIRED COMPONENTS process)
  target_link_libraries(afterlife_boost_process INTERFACE Boost::process Boost::headers)
  set(AFTERLIFE_BOOST_PROCESS_HEADER_ONLY OFF)
else()
  # std::filesystem keeps Boost.Filesystem (a compiled library) out of the build.
  target_compile_definitions(afterlife_boost_process INTERFACE
    BOOST_PROCESS_USE_STD_FS BOOST_PROCESS_V2_SEPARATE_COMPILATION)
  target_link_libraries(afterlife_boost_process INTERFACE Boost::headers Threads::Threads)
  set(AFTERLIFE_BOOST_PROCESS_HEADER_ONLY ON)
endif()

find_package(fmt CONFIG REQUIRED)
# What every afterlife target links for fmt. AFTERLIFE_FMT_HEADER_ONLY takes the header-only form:
# for a build whose C++ library is not the one the installed libfmt was built for (Debian's is
# libstdc++'s; the clang-libcxx preset uses libc++).
option(AFTERLIFE_FMT_HEADER_ONLY "Use fmt header-only (fmt::fmt-header-only)" OFF)
add_library(afterlife_fmt INTERFACE)
if(AFTERLIFE_FMT_HEADER_ONLY)
  target_link_libraries(afterlife_fmt INTERFACE fmt::fmt-header-only)
else()
  target_link_libraries(afterlife_fmt INTERFACE fmt::fmt)
endif()
find_package(nlohmann_json 3.10 CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)

if(AFTERLIFE_BUILD_TESTS)
  find_package(Catch2 CONFIG REQUIRED)
endif()
if(AFTERLIFE_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
  find_package(mimalloc CONFIG)
endif()

# elfutils' libdwfl names call sites by function, file and line (harness/src/symbolize/). Linux
# only (macOS has no elfutils: sites stay module+offset). Without it the build goes on and says
# so. Through pkg-config for its static libraries too: the afterlife command is linked static-pie.
set(AFTERLIFE_SYMBOLIZER none)
if(NOT APPLE)
  find_package(PkgConfig)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(AFTERLIFE_LIBDW QUIET libdw)
  endif()
  if(AFTERLIFE_LIBDW_FOUND)
    set(AFTERLIFE_SYMBOLIZER dwfl)
  else()
    message(STATUS "libdw not found (Debian: libdw-dev, run ci/deps): call sites will read "
                   "module+offset, without function, file and line")
  endif()
endif()

# POSIX real-time functions (shm_open, mq_open) live in librt on older glibc and in libc on macOS.
include(CheckLibraryExists)
check_library_exists(rt shm_open "" AFTERLIFE_HAVE_LIBRT)
add_library(afterlife_rt INTERFACE)
if(AFTERLIFE_HAVE_LIBRT)
  target_link_libraries(afterlife_rt INTERFACE rt)
endif()
