// Boost.Process v2 up to Boost 1.85: its definitions are compiled into this one translation
// unit (the harness is built with BOOST_PROCESS_V2_SEPARATE_COMPILATION). CMake adds this file
// only when AFTERLIFE_BOOST_PROCESS_HEADER_ONLY is ON; from 1.86 on, Boost::process has them.
#include "spawn/boost_process.hpp"

#include <boost/process/v2/src.hpp>
