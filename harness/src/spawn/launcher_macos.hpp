// The Boost.Process v2 launcher spawn.cpp uses on macOS: fork. vfork is deprecated there since
// macOS 12 (a warning, an error with warnings as errors) and behaves as fork anyway.
#pragma once

#include "spawn/boost_process.hpp"

namespace afterlife::detail {
using os_launcher = boost::process::v2::posix::default_launcher;
using fork_launcher = os_launcher;
}  // namespace afterlife::detail
