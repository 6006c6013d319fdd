// A temporary file (mkstemp in $TMPDIR) never unlinked: it stays in every mode.
//   temp_file_left --exit MODE [--prefix PREFIX]
#include "lifecycle/resources.hpp"
#include "resource_scenario.hpp"

int main(int argc, char** argv) {
  auto opts = scenario::parse(argc, argv);
  lifecycle::temp_file temp(resource_scenario::option(opts, "--prefix", "afl-temp"));
  temp.write("temporary data\n");
  resource_scenario::say("path=" + temp.name());
  scenario::ready(opts);
  scenario::finish(opts);
}
