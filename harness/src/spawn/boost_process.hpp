// Boost.Process v2, included so that it compiles on every Boost the project supports
// (1.81 header-only .. the compiled library of 1.86+). Include it instead of the v2 headers.
#pragma once

#include <type_traits>

// 1.81: v2/detail/config.hpp declares `using boost::optional;` but includes
// <boost/optional.hpp> only without BOOST_PROCESS_USE_STD_FS, which we define.
#include <boost/optional.hpp>

// 1.81: v2/environment.hpp uses remove_pointer unqualified inside boost::process::v2.
namespace boost::process::v2 {
using std::remove_pointer;
}  // namespace boost::process::v2

#include <boost/asio/io_context.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/posix/default_launcher.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
