// Buffered stdout: under the harness stdout is a pipe, so stdio buffers it fully. The program
// prints "buffered tail" with printf (it stays in the buffer) and then writes "unbuffered|"
// straight to fd 1 without a newline. Exits that finalize flush the buffer in the
// `flush_streams` phase, so stdout ends "unbuffered|buffered tail"; _exit, abort and
// default-action signals lose the buffer, so stdout ends with "unbuffered|" and nothing after
// it — which a regex anchored at the end of the text (or of the last line) can tell apart.
#include <unistd.h>

#include <cstdio>

#include "scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::printf("buffered tail\n");  // the stdio buffer: written only if somebody flushes it
  (void)!::write(STDOUT_FILENO, "unbuffered|", 11);
  scenario::ready(opts);
  scenario::finish(opts);
}
