/*
 * Guest memory as the monitor, the interpreter and devices see it.
 *
 * Physical: RAM (a memfd), firmware ROM, MMIO claimed on the bus, and
 * unassigned space (reads all ones, writes dropped). Linear: with paging off,
 * linear = physical (masked by A20); the shadow-MMU issue adds the page walk
 * behind the same calls. Every access here is bounds-checked: a guest can
 * never make the monitor read or write outside guest RAM.
 */
#ifndef TACHYON_MEM_H
#define TACHYON_MEM_H

#include <stdbool.h>
#include <stdint.h>

struct machine;
struct vcpu;

/* Result of a linear access: 0, or a guest exception to raise. */
struct mem_fault {
    int vector;          /* 14 (#PF), 13 (#GP), ... ; -1 when none */
    uint32_t error_code;
    uint32_t cr2;        /* faulting linear address for #PF */
};

/* Physical accesses (size 1, 2, 4 or 8; any alignment; crossing regions is split). */
uint64_t mem__phys_read(struct machine *m, uint32_t gpa, unsigned size);
void mem__phys_write(struct machine *m, uint32_t gpa, unsigned size, uint64_t value);
void mem__phys_read_buf(struct machine *m, uint32_t gpa, void *buf, uint32_t len);
void mem__phys_write_buf(struct machine *m, uint32_t gpa, const void *buf, uint32_t len);

/* Linear accesses as the guest's current mode sees them (CPL from the vCPU; `user`
 * forces a CPL-3 check). Return 0 on success, -1 with *f filled on a guest fault.
 * Accesses that wrap past 0xffffffff wrap to 0, as on the hardware. */
int mem__lin_read(struct machine *m, uint32_t lin, unsigned size, uint64_t *value,
                  struct mem_fault *f);
int mem__lin_write(struct machine *m, uint32_t lin, unsigned size, uint64_t value,
                   struct mem_fault *f);
int mem__lin_read_buf(struct machine *m, uint32_t lin, void *buf, uint32_t len,
                      struct mem_fault *f);
/* Implicit supervisor accesses (SDM 4.6: descriptor tables, IDT, TSS, and the stack of a
 * more privileged level) are checked as CPL 0 whatever the current CPL. */
int mem__sys_read(struct machine *m, uint32_t lin, unsigned size, uint64_t *value,
                  struct mem_fault *f);
int mem__sys_write(struct machine *m, uint32_t lin, unsigned size, uint64_t value,
                   struct mem_fault *f);

/* Translate lin to a physical address for an access of this kind. */
int mem__lin_to_phys(struct machine *m, uint32_t lin, bool write, uint32_t *gpa,
                     struct mem_fault *f);

#endif
