#include "sidecar/app/cli.h"

int main(int argc, char** argv) { return rs::sidecar::run_cli(argc, argv); }
