/*
 * Address-space windows: 4 GiB host reservations that hold a guest linear
 * address space. Translated code reaches guest memory only as gs:[addr32], so
 * the window the GS base points at is all it can touch (DESIGN.md §1).
 *
 * With paging off one window maps guest-physical memory 1:1: RAM from the
 * memfd, firmware ROM read-only, everything else (MMIO, unassigned) left
 * PROT_NONE so accesses fault and get emulated. With paging on there is one
 * window per (CR3, user or supervisor view), kept in a small LRU cache; pages
 * are mapped on demand by hidden faults after a walk of the guest tables,
 * and a true fault becomes a guest #PF. Pages the translator made code from
 * and pages that serve as page directories or page tables of a cached
 * window are mapped read-only everywhere; writes to them are emulated and
 * reported through mmu__note_write(), which drops stale translations and
 * shadow mappings. A page table the guest writes is instead left writable
 * ("unsynced", unsync.c) until the guest flushes its TLB (CR3 load, INVLPG),
 * when what changed since a snapshot is applied: the shadow then lags the
 * tables exactly as far as a TLB may. A guard region follows each window; an access that
 * straddles 0xFFFFFFFF runs into it and is served by mapping the wrapped
 * page there too.
 */
#ifndef TACHYON_WINDOW_H
#define TACHYON_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "mmu-shadow/mem.h"

struct machine;

#define WINDOW_SIZE (1ull << 32)
#define WINDOW_GUARD (64u << 10)
#define MMU_WINDOWS 8

struct window {
    uint8_t *base;
    uint32_t cr3;          /* page-directory base (paged windows) */
    bool user;             /* CPL-3 view: only U/S=1 pages are mapped */
    bool used;
    uint32_t gen;          /* bumped when the window is emptied: stale reverse-map entries */
    uint64_t stamp;        /* LRU */
    uint32_t mapped;       /* pages mapped since the last flush (VMA budget) */
    uint8_t *present;      /* bit per linear page that may be mapped (paged windows) */
    uint8_t present4m[128];/* bit per 4 MiB region with any bit set in present */
};

struct rmap_node;
struct unsync_page;

struct mmu {
    struct window phys;               /* paging off */
    struct window win[MMU_WINDOWS];   /* paging on */
    struct window *active;
    uint64_t stamp;
    uint64_t reserved;                /* bytes per window: WINDOW_SIZE + WINDOW_GUARD */
    bool use_wrgsbase;                /* the CPU and kernel allow FSGSBASE */
    uint32_t paging_bits;             /* CR0.WP | CR4.PSE | CR4.PGE the paged windows were built for */
    uint32_t ram_pages;
    uint8_t *code_pages;              /* bit per RAM page: holds translations */
    uint8_t *table_pages;             /* bit per RAM page: a PD or PT of some window */
    struct rmap_node **maps;          /* per RAM page: where windows map it */
    struct rmap_node **deps;          /* per RAM page used as a PT: (window, PDE index) users */
    uint64_t total_mapped;
    uint8_t *unsynced;                /* bit per RAM page: a traced PT left writable (unsync.c) */
    uint8_t *smc_writes;              /* per RAM page: translations dropped by writes (saturating) */
    uint8_t *selfcheck;               /* bit per RAM page: left writable, its blocks self-check */
    struct unsync_page *unsync;       /* their snapshots */
    unsigned nunsync, unsync_next;
    bool no_unsync;                   /* a test asked for every traced write to be emulated */
    int uffd;                         /* userfaultfd for write protection, or -1 (wprot.c) */
    bool hint;                        /* a guest #PF at hint_lin under hint_cr3 is being handled */
    uint32_t hint_lin, hint_cr3;
};

int mmu__init(struct machine *m);
void mmu__destroy(struct machine *m);

/* Choose the window for the vCPU's current CR0.PG/CR3/CPL and point the host GS base at
 * it. Cheap when nothing changed; call after anything that may change those. */
void mmu__sync(struct machine *m);
/* Point the host GS base at the active window (call on the vCPU thread once). */
void mmu__activate(struct machine *m);
/* Drop every paged window (CR0.WP/CR4 changes, VMA pressure). */
void mmu__flush_all(struct machine *m);

enum mmu_fault_result {
    MMU_FAULT_RETRY,     /* a hidden fault: the mapping was fixed, rerun the instruction */
    MMU_FAULT_EMULATE,   /* the access must be emulated (MMIO, ROM write, protected page) */
    MMU_FAULT_GUEST,     /* a true fault: deliver *f to the guest */
    MMU_FAULT_OUTSIDE,   /* the host address is not in the active window: a monitor bug */
};

/* Classify a host fault at host address `addr` (from siginfo) on the vCPU thread. */
enum mmu_fault_result mmu__handle_fault(struct machine *m, uint64_t addr, bool write,
                                        uint32_t *linear, struct mem_fault *f);

/* Guest-physical address of the instruction byte at linear lin (code fetch in the current
 * mode); *global (if not NULL) says whether the page is global (G with CR4.PGE). Returns
 * 0, or -1 with a #PF in *f. */
int mmu__fetch_phys(struct machine *m, uint32_t lin, uint32_t *gpa, bool *global,
                    struct mem_fault *f);

/* Test hook: make every write to [gpa, gpa+len) by translated code fault and be emulated, as
 * writes to page tables are (the differential test checks the interpreter this way). */
void mmu__trap_writes(struct machine *m, uint32_t gpa, uint32_t len);

/* The A20 gate changed (vcpu.a20_mask): with it closed, the 64 KiB above 1 MiB that real-
 * mode code can reach wraps to 0 in the physical window, as address line 20 is held low. */
void mmu__a20_changed(struct machine *m);

/* INVLPG: drop the page at lin from the windows of the current address space. */
void mmu__invlpg(struct machine *m, uint32_t lin);
/* A page fault at lin goes to the guest; mmu__refault (at the IRET that ends its handler)
 * maps the page if the handler made it present and accessed, so the retried access does
 * not take a host fault of its own (and, like a hidden fault, its accessed neighbours). */
void mmu__refault_hint(struct machine *m, uint32_t lin);
void mmu__refault(struct machine *m);

/* A CR3 load (even of the same value): the guest's TLB is empty, so every change it made
 * to page tables left writable (unsynced) takes effect now. */
void mmu__cr3_loaded(struct machine *m);

/* The translator made code from guest-physical page gpa: write-protect it everywhere
 * (unless it is a self-checking page). */
void mmu__protect_code(struct machine *m, uint32_t gpa);

/* Is page gpa written so often while executed that its translations check their own
 * bytes on entry instead of the page being write-protected? */
bool mmu__selfcheck(struct machine *m, uint32_t gpa);

/* Every write the monitor makes to guest RAM (interpreter, devices, DMA) is reported
 * here; it drops translations of code pages and shadow mappings that depended on a
 * page-table entry that changed. */
void mmu__note_write(struct machine *m, uint32_t gpa, uint32_t len);

/* Is [gpa, gpa+len) in traced page tables (where a store of the bytes already there
 * changes nothing, and need not be reported)? Not for code pages: their stores are. */
bool mmu__traced(struct machine *m, uint32_t gpa, uint32_t len);

#endif
