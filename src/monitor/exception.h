/*
 * Delivering exceptions and interrupts to the guest through its IDT (real
 * mode: the IVT), the way the processor does it: gate checks, privilege
 * change with the stack switch from the TSS, the pushed frame, the flags a
 * gate clears, and the double-fault and triple-fault escalation when the
 * delivery itself faults. Everything happens on the vCPU state in C while the
 * monitor has control; the run loop re-derives the translation mode after.
 */
#ifndef TACHYON_EXCEPTION_H
#define TACHYON_EXCEPTION_H

#include <stdbool.h>
#include <stdint.h>

struct machine;

enum deliver_kind {
    DELIVER_EXCEPTION,    /* processor-detected: EIP as the caller left it (faulting insn for a
                             fault, next insn for a trap); EXT set in nested error codes */
    DELIVER_SOFTWARE_INT, /* INT n, INT3, INTO: gate DPL checked against CPL; c->eip is already
                             the next instruction; no error code */
    DELIVER_EXTERNAL,     /* hardware interrupt (PIC/APIC vector): EXT set, no error code */
};

/* cpu__deliver() results besides 0. */
#define DELIVER_TRIPLE_FAULT (-1) /* shutdown: the caller resets the machine or exits */
#define DELIVER_STOP (-2)         /* needs a feature tachyon lacks (task gate, delivery from
                                     virtual-8086 mode): a message is printed; stop the VM */

/* Deliver `vector`. For DELIVER_EXCEPTION, has_error/error_code say whether an error code is
 * pushed (vectors 8, 10-14, 17); the others never push one. Returns 0 when the guest is at
 * the handler, or DELIVER_TRIPLE_FAULT / DELIVER_STOP with the vCPU as it was. */
int cpu__deliver(struct machine *m, int vector, bool has_error, uint32_t error_code,
                 enum deliver_kind kind);

/* A software interrupt instruction at c->eip whose length is len: the frame gets the next
 * EIP, while exceptions raised by the delivery itself (gate DPL, not present, stack) report
 * the INT instruction, as the hardware does. kind is DELIVER_SOFTWARE_INT, or
 * DELIVER_EXCEPTION for INT1 (ICEBP), which skips the DPL check. Same results as above. */
int cpu__deliver_int(struct machine *m, int vector, unsigned len, enum deliver_kind kind);

/* Does the vector push an error code when the processor raises it? */
bool cpu__vector_has_error(int vector);

#endif
