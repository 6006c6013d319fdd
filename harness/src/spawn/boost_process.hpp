// Boost.Process v2, included the way that compiles on every Boost we support (1.81 .. 1.9x).
#pragma once

#include "spawn/boost_process_fixups.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
