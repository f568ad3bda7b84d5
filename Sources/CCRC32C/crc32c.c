// See include/ccrc32c.h. One dependency chain of 8-byte `crc32` steps: about 8 bytes per 3
// cycles, several times the table-driven slicing-by-8 in Swift (README, "Recovery").
#include "ccrc32c.h"

#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

int ccrc32c_hardware_available(void) { return __builtin_cpu_supports("sse4.2") ? 1 : 0; }

__attribute__((target("sse4.2"))) uint32_t ccrc32c_update_hardware(uint32_t crc, const void *bytes, size_t count) {
    const unsigned char *next = bytes;
    uint64_t state = (uint32_t)~crc;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, next, 8);  // unaligned load; little-endian as the CRC wants
        state = _mm_crc32_u64(state, word);
        next += 8;
        count -= 8;
    }
    uint32_t state32 = (uint32_t)state;
    while (count > 0) {
        state32 = _mm_crc32_u8(state32, *next);
        next += 1;
        count -= 1;
    }
    return ~state32;
}

#else

int ccrc32c_hardware_available(void) { return 0; }

uint32_t ccrc32c_update_hardware(uint32_t crc, const void *bytes, size_t count) {
    (void)bytes;
    (void)count;
    return crc;  // never called: the Swift tables serve other CPUs
}

#endif
