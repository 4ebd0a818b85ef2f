/*
 * The guest page walker: one function for the whole two-level 32-bit format
 * (4 KiB pages and, with CR4.PSE, 4 MiB pages), with the access checks of
 * the SDM (U/S, R/W, CR0.WP) and the accessed/dirty updates the hardware
 * makes. PAE would be a second table format behind the same interface.
 */
#ifndef TACHYON_WALK_H
#define TACHYON_WALK_H

#include <stdbool.h>
#include <stdint.h>

struct machine;
struct mem_fault;

#define ACC_WRITE 1u
#define ACC_USER 2u
#define ACC_FETCH 4u

#define PTE_P 0x001u
#define PTE_RW 0x002u
#define PTE_US 0x004u
#define PTE_A 0x020u
#define PTE_D 0x040u
#define PTE_PS 0x080u
#define PTE_G 0x100u

#define PFERR_P 1u
#define PFERR_W 2u
#define PFERR_U 4u

struct walk {
    uint32_t gpa;        /* physical address of the byte */
    uint32_t pde_gpa;    /* where the PDE is */
    uint32_t pte_gpa;    /* where the PTE is (0 for a 4 MiB page) */
    bool user;           /* user accesses allowed (U/S in both levels) */
    bool writable;       /* writes allowed for the view asked (R/W, or CR0.WP=0 supervisor) */
    bool dirty;          /* D is set in the final entry (after this walk's update) */
    bool global;
    bool large;
};

/* Walk the guest tables at cr3 for an access `acc` (ACC_*). With set_ad the A (and, for
 * writes, D) bits are set as the hardware would. Returns 0, or -1 with a #PF in *f. */
int walk__lin(struct machine *m, uint32_t cr3, uint32_t lin, unsigned acc, bool set_ad,
              struct walk *w, struct mem_fault *f);

#endif
