#include "afterlife/harness/cli.hpp"

int main(int argc, char** argv) { return afterlife::cli_main(argc, argv); }
