// Which CPython lifecycle models: the behaviour of this version is the reference, and every
// difference from it is either documented (lifecycle/README.md) or a bug. The differential
// tests compare the twins with the python3 they find and say which version that was.
#pragma once

namespace lifecycle {

struct cpython_version {
  int major;
  int minor;
};

// CPython 3.11, any 3.11.x release: the differential twins hold on 3.11.2 (Debian bookworm) and
// 3.11.7, and CPython's own Lib/test cases ported in tests/cpython are 3.11's.
inline constexpr cpython_version modelled_cpython{3, 11};

}  // namespace lifecycle
