/*
 * QEMU's pc-testdev (-device pc-testdev): scratch ports, ISA IRQ-line
 * control and a scratch MMIO page for test kernels. See testdev.c.
 */
#ifndef TACHYON_TESTDEV_H
#define TACHYON_TESTDEV_H

#include <stddef.h>

struct machine;

#define TESTDEV_IOMEM_BASE 0xff000000u
#define TESTDEV_IOMEM_LEN 0x10000u

/* Machine table entry: present only with -device pc-testdev; after the 8259. */
int testdev__create(struct machine *m, char *err, size_t errlen);
void testdev__destroy(struct machine *m);

#endif
