// jemalloc, linked as the creditmeter executable's allocator (its malloc replaces glibc's).
#include <jemalloc/jemalloc.h>
