// The Boost.Process v2 launcher spawn.cpp uses on Linux: vfork, so that starting a run does not
// copy the harness's page tables (~0.45 ms per run with fork). The child runs in the harness's
// memory until its exec; spawn.cpp's add-ons are written for that. The fork launcher is for a
// run held by a keeper process, which stays behind in the child (containment_linux.cpp).
#pragma once

#include "spawn/boost_process.hpp"

#include <boost/process/v2/posix/default_launcher.hpp>
#include <boost/process/v2/posix/vfork_launcher.hpp>

namespace afterlife::detail {
using os_launcher = boost::process::v2::posix::vfork_launcher;
using fork_launcher = boost::process::v2::posix::default_launcher;
}  // namespace afterlife::detail
