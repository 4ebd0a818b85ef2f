/*
 * The 8259A pair of the PC/AT (master 0x20/0x21, slave 0xa0/0xa1 on master
 * IR2) with the PIIX4's edge/level control registers at 0x4d0/0x4d1. It is
 * the machine's interrupt input: it installs m->irq, m->intr_pending,
 * m->intr_ack and sets m->pic. See i8259.c.
 */
#ifndef TACHYON_I8259_H
#define TACHYON_I8259_H

#include <stdbool.h>
#include <stddef.h>

struct machine;

/* Machine table entry: must come before every device that drives an IRQ line. */
int i8259__create(struct machine *m, char *err, size_t errlen);
void i8259__destroy(struct machine *m);

/* The 8259's INT output and its INTA cycle (also installed as m->intr_pending and
 * m->intr_ack). ack returns the vector; with nothing requested it is the chip's spurious
 * IR7 vector. A local APIC that takes over the CPU's input calls these for ExtINT. */
bool i8259__pending(struct machine *m);
int i8259__ack(struct machine *m);

/* Every change of an interrupt line (0..23, as devices drive them through m->irq) is
 * also handed to `hook` (the I/O APIC's input: ioapic__isa_irq fits). Installing it
 * replays the lines that are high now; NULL removes it. Lines 16..23 exist only there. */
void i8259__set_ioapic_hook(struct machine *m,
                            void (*hook)(struct machine *m, int line, int level));

/* Current level of line 0..23 as last driven (0 or 1). */
int i8259__line(struct machine *m, int line);

#endif
