/*
 * The 8254 programmable interval timer at 0x40-0x43 (channel 0 on IRQ 0,
 * channel 2 behind port 0x61) and the PIIX4's NMI status and control port
 * 0x61. See i8254.c.
 */
#ifndef TACHYON_I8254_H
#define TACHYON_I8254_H

#include <stddef.h>

struct machine;

#define PIT_HZ 1193182ull /* the PC's 14.31818 MHz crystal divided by 12 */

/* Machine table entry: after the 8259. */
int i8254__create(struct machine *m, char *err, size_t errlen);
void i8254__destroy(struct machine *m);

#endif
