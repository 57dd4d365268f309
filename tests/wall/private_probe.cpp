// Must not compile: index/store_impl.h is private to index/.
#include "index/store_impl.h"

int main() { return 0; }
