/*
 * The fixed layout both sides of the differential test agree on: where a
 * snippet's code and data live in the (guest or native) 32-bit address space,
 * and the byte protocol between the 64-bit driver and the 32-bit native
 * runner (tests/diff/native32.c). Every field is a uint32_t so the structs
 * have the same layout under -m32 and -m64; the pipe carries them raw (both
 * ends run on the same little-endian host).
 *
 * Driver -> runner: struct diff_req, then code_len code bytes, then
 * DIFF_DATA_SIZE bytes of initial data. Runner -> driver: struct diff_rep,
 * then DIFF_DATA_SIZE bytes of final data. A request with code_len == 0 and
 * magic DIFF_MAGIC_QUIT ends the runner.
 */
#ifndef TACHYON_DIFF_PROTO_H
#define TACHYON_DIFF_PROTO_H

#include <stdint.h>

#define DIFF_CODE_BASE 0x01000000u /* snippet code; the driver appends the way back */
#define DIFF_CODE_SIZE 0x00010000u
#define DIFF_DATA_BASE 0x01100000u /* 64 KiB of data, the stack included */
#define DIFF_DATA_SIZE 0x00010000u
#define DIFF_MAX_CODE 0x2000u      /* largest snippet (bytes), leaves room for the tail */

#define DIFF_MAGIC_REQ 0x52464944u  /* "DIFR" */
#define DIFF_MAGIC_REP 0x50464944u  /* "DIFP" */
#define DIFF_MAGIC_QUIT 0x51464944u /* "DIFQ" */

/* Registers in the vCPU's order (EAX ECX EDX EBX ESP EBP ESI EDI), then EFLAGS. */
struct diff_regs {
    uint32_t gpr[8];
    uint32_t eflags;
};

struct diff_req {
    uint32_t magic;
    uint32_t code_len;
    struct diff_regs in;
};

struct diff_rep {
    uint32_t magic;
    uint32_t signo;      /* 0: the snippet reached its end; else the signal that stopped it */
    uint32_t fault_eip;  /* where the signal hit (signo != 0) */
    uint32_t fault_addr; /* si_addr of the signal */
    struct diff_regs out;
};

#endif
