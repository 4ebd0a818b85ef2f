/*
 * System instructions executed in C: segment-register moves and loads, the
 * descriptor-table and task registers, control, debug and model-specific
 * registers, interrupts and far control transfers (INT, IRET, far JMP/CALL/
 * RET, SYSENTER/SYSEXIT), CLI/STI, HLT. The run loop offers every callout
 * instruction here first and to the interpreter (bt/interp.h) second.
 */
#ifndef TACHYON_SYSINSN_H
#define TACHYON_SYSINSN_H

#include <Zydis/Zydis.h>

#include "bt/interp.h"

struct machine;

/* Execute the instruction at CS:EIP that the caller decoded (ops: in->operand_count operands
 * from ZydisDecoderDecodeFull). Returns an enum interp_status:
 *   INTERP_UNSUPPORTED  not a system instruction (nothing changed): try the interpreter; also
 *                       for system features tachyon lacks (task switches), after a message
 *   INTERP_OK           done: EIP past the instruction or at the transfer target
 *   INTERP_EXCEPTION    *exc to deliver; the vCPU and EIP are as before the instruction
 *   INTERP_HALT         HLT at CPL 0, EIP past it
 * INT n and friends deliver their interrupt here; if that ends in a triple fault the
 * machine gets REQ_RESET (machine__request) and the result is INTERP_OK. */
int sys__exec(struct machine *m, const ZydisDecodedInstruction *in,
              const ZydisDecodedOperand *ops, struct interp_exc *exc);

#endif
