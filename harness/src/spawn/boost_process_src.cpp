// Boost.Process v2 before 1.86 compiles its definitions into the one translation unit that
// includes src.hpp (with BOOST_PROCESS_V2_SEPARATE_COMPILATION, set by CMake); from 1.86 on they
// are the compiled Boost::process library and CMake leaves this file out.
#include "spawn/boost_process_fixups.hpp"

#include <boost/process/v2/src.hpp>
