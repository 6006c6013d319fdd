// Work-arounds for Boost 1.81's Boost.Process v2 headers; harmless on later releases.
// Include before any <boost/process/v2/...> header.
#pragma once

#include <memory>
#include <type_traits>

// v2/detail/config.hpp says `using boost::optional;` but includes <boost/optional.hpp> only when
// Boost.Filesystem is used, not with BOOST_PROCESS_USE_STD_FS.
#include <boost/optional.hpp>

// v2/environment.hpp names `remove_pointer` unqualified inside boost::process::v2.
namespace boost::process::v2 {
using std::remove_pointer;
}  // namespace boost::process::v2
