// Must not compile: a target that links only ragd_index cannot reach service/,
// which is further along the data flow.
#include "service/service.h"

int main() { return 0; }
