/*
 * The 8042 keyboard controller at 0x60/0x64 with an AT keyboard (IRQ 1) and
 * a PS/2 mouse on its auxiliary port (IRQ 12); its output port carries the
 * A20 gate and the CPU reset line. See i8042.c.
 */
#ifndef TACHYON_I8042_H
#define TACHYON_I8042_H

#include <stddef.h>

struct machine;

/* Machine table entry: after the 8259 and port92 (A20 is shared with port 0x92). */
int i8042__create(struct machine *m, char *err, size_t errlen);
void i8042__destroy(struct machine *m);

#endif
