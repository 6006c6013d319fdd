// A buffered file never closed: one line flushed, one still in the buffer. Normal and error
// exits finalize it (the tail is written, "unclosed file" warned); _exit, abort and signals
// lose the tail. The file itself stays in every mode.
//   file_unflushed --exit MODE [--path PATH]
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  std::string path = resource_scenario::option(
      opts, "--path",
      resource_scenario::tmp_dir() + "/afl-file-" + std::to_string(getpid()) + ".txt");
  lifecycle::file out(path);
  out.write("flushed line\n");
  out.flush();
  out.write("buffered tail\n");
  resource_scenario::say("path=" + out.name());
  scenario::ready(opts);
  scenario::finish(opts);
}
