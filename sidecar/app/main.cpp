#include "sidecar/app/cli.h"
#include "sidecar/app/footprint.h"

int main(int argc, char** argv) {
  rs::sidecar::trim_footprint();
  return rs::sidecar::run_cli(argc, argv);
}
