// CRC-32C with the CPU's own instruction (SSE 4.2 `crc32` on x86-64), for CreditJournal's
// CRC32C.swift. Swift cannot name the instruction, hence this small C file.
#ifndef CCRC32C_H
#define CCRC32C_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the instruction (x86-64 with SSE 4.2), else 0.
int ccrc32c_hardware_available(void);

/// Extends `crc` (the finished CRC-32C of the bytes before, 0 to start) over `count` bytes at
/// `bytes`. Only when `ccrc32c_hardware_available()` returned 1.
uint32_t ccrc32c_update_hardware(uint32_t crc, const void *bytes, size_t count);

#endif
