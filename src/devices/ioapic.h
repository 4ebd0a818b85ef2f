/*
 * The I/O APIC: an Intel 82093AA at 0xFEC00000 with 24 redirection entries, delivering to
 * the local APIC. See ioapic.c.
 */
#ifndef TACHYON_IOAPIC_H
#define TACHYON_IOAPIC_H

#include <stddef.h>
#include <stdint.h>

struct machine;

#define IOAPIC_DEFAULT_BASE 0xfec00000u
#define IOAPIC_PINS 24
#define IOAPIC_VERSION 0x00170011u /* max redirection entry 23, version 0x11 */
#define IOAPIC_ISA_TIMER_GSI 2     /* IRQ0 (the PIT) is wired to pin 2: ACPI source override */

/* Machine table entry: after the 8259 and the local APIC. */
int ioapic__create(struct machine *m, char *err, size_t errlen);
void ioapic__destroy(struct machine *m);

/* Drive input pin `gsi` (0..23) to `level` (1 asserted, 0 idle). The level is the logical
 * one, as the platform wires it: the polarity bit of the entry is recorded for the guest
 * but not applied again (QEMU does the same; ISA lines are active high). */
void ioapic__set_irq(struct machine *m, int gsi, int level);

/* A line changed, as the 8259 forwards it (its I/O APIC hook, installed by ioapic__create):
 * IRQ0 goes to pin 2, ISA IRQs 1 and 3..15 and PCI lines 16..23 to the pin of the same
 * number. Line 2 (the cascade) has no input of its own. */
void ioapic__isa_irq(struct machine *m, int irq, int level);

#endif
