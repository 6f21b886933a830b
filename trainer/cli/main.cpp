#include "Cli.h"

int main(int argc, char** argv) {
    return VAEPlugin::runCli(argc, argv);
}
