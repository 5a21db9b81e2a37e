#include "exporter/cli.h"

int main(int argc, char** argv) { return poolwatch::RunPoolwatch(argc, argv); }
