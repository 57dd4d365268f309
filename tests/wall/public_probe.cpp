// Compiles: a module that links ragd_retrieve sees index's public header.
#include "index/store.h"

int main() { return 0; }
