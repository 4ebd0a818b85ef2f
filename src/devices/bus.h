/*
 * The platform bus: every device exposes one ops table (STYLE.md item 1) and
 * claims port ranges and MMIO ranges with it. Accesses are dispatched by
 * address; an access nobody claims reads as all ones and writes are dropped
 * (logged at guest-error level), as on an ISA bus.
 *
 * Offsets passed to the callbacks are relative to the start of the claimed
 * range; sizes are 1, 2 or 4 bytes.
 */
#ifndef TACHYON_BUS_H
#define TACHYON_BUS_H

#include <stdint.h>
#include <stdio.h>

struct machine;

struct device_ops {
    const char *name;
    void (*reset)(void *opaque);
    uint32_t (*read)(void *opaque, uint32_t offset, unsigned size);
    void (*write)(void *opaque, uint32_t offset, unsigned size, uint32_t value);
    void (*dump)(void *opaque, FILE *f);
};

/* Claim [base, base+len) of port space or physical address space. */
int bus__claim_pio(struct machine *m, uint16_t base, uint32_t len, const struct device_ops *ops,
                   void *opaque);
int bus__claim_mmio(struct machine *m, uint32_t base, uint32_t len, const struct device_ops *ops,
                    void *opaque);

/* Give back a range claimed earlier with exactly these arguments (a PCI BAR that moved or
 * stopped decoding). The tables keep their order, so a reset run by bus__reset_all() may give
 * back ranges claimed after its own without another device being skipped. 0 or -ENOENT. */
int bus__unclaim_pio(struct machine *m, uint16_t base, uint32_t len, const struct device_ops *ops,
                     void *opaque);
int bus__unclaim_mmio(struct machine *m, uint32_t base, uint32_t len, const struct device_ops *ops,
                      void *opaque);

uint32_t bus__pio_read(struct machine *m, uint16_t port, unsigned size);
void bus__pio_write(struct machine *m, uint16_t port, unsigned size, uint32_t value);
/* Returns 0 if some device claims addr, -1 if the address is unassigned. */
int bus__mmio_read(struct machine *m, uint32_t addr, unsigned size, uint32_t *value);
int bus__mmio_write(struct machine *m, uint32_t addr, unsigned size, uint32_t value);
int bus__mmio_claimed(struct machine *m, uint32_t addr);

void bus__reset_all(struct machine *m);

#endif
