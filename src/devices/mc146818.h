/*
 * The MC146818 real-time clock and its 128 bytes of CMOS RAM at 0x70/0x71
 * (IRQ 8), with the CMOS layout a PC BIOS expects. See mc146818.c.
 */
#ifndef TACHYON_MC146818_H
#define TACHYON_MC146818_H

#include <stddef.h>
#include <stdint.h>

struct machine;

/* Machine table entry: after the 8259. Fills the CMOS from m->ram_size. */
int mc146818__create(struct machine *m, char *err, size_t errlen);
void mc146818__destroy(struct machine *m);

/* Setup code that owns other CMOS bytes (disk types, boot order) writes them here; bytes
 * in 0x10-0x2d keep the standard checksum at 0x2e/0x2f right. Indexes 0x0e-0x7f only. */
void mc146818__set_cmos(struct machine *m, unsigned index, uint8_t value);
uint8_t mc146818__get_cmos(struct machine *m, unsigned index);

#endif
