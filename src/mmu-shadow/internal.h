/*
 * What window.c and unsync.c share: the reverse maps and the invalidation
 * primitives. Not for use outside src/mmu-shadow.
 */
#ifndef TACHYON_MMU_INTERNAL_H
#define TACHYON_MMU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mmu-shadow/window.h"

#define PAGE 4096u

struct rmap_node {
    struct rmap_node *next;
    uint32_t lin;                  /* linear page (maps) or PDE index (deps) */
    uint16_t win;                  /* index into mmu->win, or MMU_WINDOWS for phys */
    uint32_t gen;
};

static inline bool bit(const uint8_t *map, uint32_t pn)
{
    return map[pn / 8] & (1u << (pn % 8));
}

static inline void set_bit(uint8_t *map, uint32_t pn, bool v)
{
    if (v)
        map[pn / 8] |= (uint8_t)(1u << (pn % 8));
    else
        map[pn / 8] &= (uint8_t) ~(1u << (pn % 8));
}

static inline struct window *win_of(struct mmu *mmu, unsigned i)
{
    return i == MMU_WINDOWS ? &mmu->phys : &mmu->win[i];
}

/* window.c */
/* Make every existing mapping of RAM page pn read-only. */
void mmu_downgrade(struct machine *m, uint32_t pn);
/* Entries [first, last] of page-table page pn changed: unmap what they mapped in every
 * window. `frames` is false when no entry changed its frame, P or U/S bit (only R/W, D or
 * A): then what code the linear pages hold is unchanged, and lookup tables are kept. */
void mmu_table_written(struct machine *m, uint32_t pn, uint32_t first, uint32_t last,
                       bool frames);

#define RAM_LIMIT 0xe0000000u /* RAM above this would collide with PCI/MMIO space */
#define LOW_ROM_BASE 0xe0000u  /* the firmware's last 128 KiB also appear here */
#define LOW_ROM_SIZE 0x20000u

/* window.c */
int map_fixed(void *at, size_t len, int prot, int fd, off_t off);
/* Is RAM page pn write-protected (translations, or a traced table not unsynced)? */
bool protected_page(struct mmu *mmu, uint32_t pn);

/* legacy.c: the BIOS areas (PAM) and the A20 gate */
/* Is guest-physical page gpa RAM for reads (not shadowed by the low ROM copy)? */
bool page_is_ram(struct machine *m, uint32_t gpa);
/* Does a write to RAM page gpa reach RAM (PAM write enable in the BIOS areas)? */
bool page_ram_writable(struct machine *m, uint32_t gpa);
/* Offset into the ROM memfd for a ROM-backed physical page, or -1. */
int64_t rom_offset(struct machine *m, uint32_t gpa);
/* The PAM registers changed: remap the physical window's view of 0xC0000-0xFFFFF. */
void mmu_pam_changed(struct machine *m);

/* wprot.c: write protection by userfaultfd or mprotect */
void wprot__init(struct mmu *mmu);
void wprot__fini(struct mmu *mmu);
/* A RAM mapping was just made at [addr, addr+len): register it for write protection. */
void wprot__mapped(struct mmu *mmu, void *addr, size_t len);
/* Write-protect [addr, addr+len), or lift the protection (writable). */
void wprot__set(struct mmu *mmu, void *addr, size_t len, bool writable);

/* unsync.c: page tables the guest may write freely until its next TLB flush */
/* A write fault hit page table pn: leave it writable if it may be; true if so. */
bool unsync__try(struct machine *m, uint32_t pn);
/* Bring page pn (unsynced) back under write protection, applying what changed; a page
 * no window uses as a table any more is simply forgotten. */
void unsync__page(struct machine *m, uint32_t pn);
/* Every unsynced page (a CR3 load: the guest's TLB is empty). */
void unsync__all(struct machine *m);
/* Apply entry idx of unsynced page pn and take it into the snapshot: an INVLPG of an
 * address it maps, or a mapping or lookup about to be made from it (what the snapshot
 * held goes first, early, as a TLB may drop an entry whenever it likes; the next flush
 * compares against what was mapped). */
void unsync__entry(struct machine *m, uint32_t pn, uint32_t idx);
/* Forget all unsync state (every window was emptied). */
void unsync__reset(struct machine *m);
/* Free what unsync__try allocated. */
void unsync__destroy(struct machine *m);

#endif
