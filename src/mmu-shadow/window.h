/*
 * Address-space windows: 4 GiB host reservations that hold a guest linear
 * address space. Translated code reaches guest memory only as gs:[addr32], so
 * the window the GS base points at is all it can touch (DESIGN.md §1).
 *
 * With paging off there is one window and it maps guest-physical memory 1:1:
 * RAM from the memfd, firmware ROM read-only, everything else (MMIO,
 * unassigned) left PROT_NONE so accesses fault and get emulated. A guard
 * region follows the 4 GiB; a straddling access that runs into it is served
 * by mirroring the window's first pages there (the address wraps on the
 * hardware).
 */
#ifndef TACHYON_WINDOW_H
#define TACHYON_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

struct machine;

#define WINDOW_SIZE (1ull << 32)
#define WINDOW_GUARD (64u << 10)

struct mmu {
    uint8_t *window;       /* base of the active window (the GS base) */
    uint64_t reserved;     /* bytes reserved: WINDOW_SIZE + WINDOW_GUARD */
    bool use_wrgsbase;     /* the CPU and kernel allow FSGSBASE */
    uint64_t mirrored;     /* bitmask of guard pages mapped as mirrors of pages 0..15 */
    uint8_t *code_pages;   /* bit per RAM page: write-protected because it holds translations */
    uint32_t ram_pages;
};

int mmu__init(struct machine *m);
void mmu__destroy(struct machine *m);
/* Point the host GS base at the active window (call on the vCPU thread). */
void mmu__activate(struct machine *m);

enum mmu_fault_result {
    MMU_FAULT_RETRY,     /* a hidden fault: the mapping was fixed, rerun the instruction */
    MMU_FAULT_EMULATE,   /* the access must be emulated (MMIO, ROM write, unassigned) */
    MMU_FAULT_OUTSIDE,   /* the host address is not in any window: a monitor bug */
};

/* Classify a host fault at host address `addr` (from siginfo) on the vCPU thread. */
enum mmu_fault_result mmu__handle_fault(struct machine *m, uint64_t addr, bool write,
                                        uint32_t *linear);

/* The translator made code from guest-physical page gpa: write-protect it in the window. */
void mmu__protect_code(struct machine *m, uint32_t gpa);

/* Every write the monitor makes to guest RAM (interpreter, devices, DMA) is reported
 * here; a write to a page holding translations drops them (bt__invalidate_page) and
 * lifts the protection until the next translation. */
void mmu__note_write(struct machine *m, uint32_t gpa, uint32_t len);

/* Is host address a inside the active window (including its guard)? */
static inline bool mmu__in_window(const struct mmu *mmu, uint64_t a)
{
    return a - (uint64_t)mmu->window < mmu->reserved;
}

#endif
