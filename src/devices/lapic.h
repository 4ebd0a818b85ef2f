/*
 * The local APIC of the one vCPU (an xAPIC of the P6/Pentium 4 kind at 0xFEE00000), and the
 * CPU's interrupt input once it is enabled. See lapic.c.
 */
#ifndef TACHYON_LAPIC_H
#define TACHYON_LAPIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct machine;

#define LAPIC_DEFAULT_BASE 0xfee00000u
#define LAPIC_VERSION 0x00050014u  /* xAPIC, version 0x14, 6 LVT entries (max LVT 5) */
#define LAPIC_BUS_HZ 1000000000ull /* timer input before the divider, as QEMU: 1 GHz */

/* Machine table entry. Must come after the 8259 (it saves m->intr_pending/m->intr_ack and
 * installs its own on top) and before the I/O APIC. */
int lapic__create(struct machine *m, char *err, size_t errlen);
void lapic__destroy(struct machine *m);

/* The CPU's interrupt input (also installed as m->intr_pending/m->intr_ack). pending: an
 * APIC vector above the processor priority, or the 8259 through LINT0 in ExtINT mode (or
 * directly while the APIC is disabled). ack: the INTA cycle; returns the vector (moved from
 * IRR to ISR for an APIC vector), the 8259's vector for ExtINT, or the spurious vector
 * when nothing is left (-1 only on a machine without a local APIC). */
bool lapic__intr_pending(struct machine *m);
int lapic__intr_ack(struct machine *m);

/* A message from the I/O APIC (or any other source): accept `vector` into IRR, edge or level
 * triggered (TMR). Kicks the vCPU when it becomes deliverable. */
void lapic__set_irq(struct machine *m, int vector, bool level_trigger);

/* Does the interrupt destination `dest` (8 bits; logical when `logical`, else physical)
 * name this CPU? Physical 0xff is the broadcast. */
bool lapic__match_dest(struct machine *m, uint8_t dest, bool logical);

/* The I/O APIC's redirection entry in ExtINT mode: while `on`, the 8259's output reaches the
 * CPU as it does through LINT0 in ExtINT mode (virtual wire through the I/O APIC). */
void lapic__set_extint_route(struct machine *m, bool on);

/* Called with the vector on every EOI of a level-triggered interrupt (the EOI message the
 * I/O APIC listens to, to clear remote IRR). One hook; NULL removes it. */
void lapic__set_eoi_hook(struct machine *m, void (*hook)(struct machine *m, int vector));

#endif
