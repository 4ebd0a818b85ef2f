/*
 * The PIIX4's small system ports: 0x92 (fast A20 gate and fast reset) and
 * the POST diagnostic port 0x80. See port92.c.
 */
#ifndef TACHYON_PORT92_H
#define TACHYON_PORT92_H

#include <stdbool.h>
#include <stddef.h>

struct machine;

/* Machine table entry. */
int port92__create(struct machine *m, char *err, size_t errlen);
void port92__destroy(struct machine *m);

/* The 8042's A20 gate output changed. The CPU's A20 line is open while this or port 0x92
 * bit 1 is set (the PIIX4 ORs A20GATE with ALT_A20_GATE). */
void port92__kbc_a20(struct machine *m, bool open);

#endif
