/*
 * The instruction interpreter: executes one guest instruction in C on the
 * vCPU state (struct vcpu) and guest memory (mem.h). The run loop uses it for
 * instructions the translator sends to C (I/O, CPUID, RDTSC, BCD, string
 * instructions, flag and stack oddities, HLT) and for translated instructions
 * whose memory access must be emulated (MMIO, ROM writes).
 *
 * Precise by construction: on INTERP_EXCEPTION the registers, flags and EIP
 * are as before the instruction, so the caller can deliver the exception with
 * EIP pointing at it. Two exceptions to that rule, both architectural:
 * string instructions with REP commit each completed iteration (ECX, ESI, EDI
 * are those of the faulting iteration, EIP still at the instruction), and
 * INTO's #OF is a trap (EIP is already past the INTO, as the hardware saves it).
 * Debug traps (TF, DRx) and interrupt shadows (STI, MOV SS) are the caller's.
 */
#ifndef TACHYON_INTERP_H
#define TACHYON_INTERP_H

#include <stdbool.h>
#include <stdint.h>

#include <Zydis/Zydis.h>

struct machine;

enum interp_status {
    INTERP_OK,          /* done: EIP is past the instruction, at a branch target, or (REP
                           instruction that yielded after a batch of iterations) unchanged */
    INTERP_EXCEPTION,   /* raise exc; state as described above */
    INTERP_UNSUPPORTED, /* not implemented here: nothing changed; stop the VM naming mnemonic/EIP */
    INTERP_HALT,        /* HLT at CPL 0: EIP is past the HLT; wait for an interrupt */
};

/* A guest exception for the caller to deliver through the IDT. */
struct interp_exc {
    int vector;
    bool has_error;
    uint32_t error_code;
    uint32_t cr2; /* faulting linear address when vector is 14 */
};

/* Iterations of a REP string instruction done per call before it yields (EIP unchanged). */
#define INTERP_REP_BATCH 4096

/* Fetch (through mem__lin_read_buf), decode and execute the instruction at CS:EIP. */
int interp__step(struct machine *m, struct interp_exc *exc);

/* Execute an instruction the caller already decoded at CS:EIP (the translator's callouts).
 * ops holds in->operand_count operands as ZydisDecoderDecodeFull() returned them. */
int interp__exec(struct machine *m, const ZydisDecodedInstruction *in,
                 const ZydisDecodedOperand *ops, struct interp_exc *exc);

#endif
