/*
 * mmu-shadow/walk: the guest page walker against hand-built tables — 4 KiB
 * and 4 MiB pages, U/S and R/W in both levels, CR0.WP, accessed and dirty
 * updates, and the #PF error codes and CR2 of each refusal.
 */
#include <check.h>

#include "fixture.h"
#include "mmu-shadow/mem.h"
#include "mmu-shadow/walk.h"

#define PD 0x10000u
#define PT 0x11000u

static void put(uint32_t gpa, uint32_t v)
{
    mem__phys_write(fx, gpa, 4, v);
}

static uint32_t get(uint32_t gpa)
{
    return (uint32_t)mem__phys_read(fx, gpa, 4);
}

static void setup(void)
{
    fixture_machine_setup();
    fx->cpu->cr3 = PD;
    fx->cpu->cr0 |= CR0_PG;
    /* 0x00400000-0x007fffff through PT; 0x00800000 a 4 MiB page (needs CR4.PSE). */
    put(PD + 1 * 4, PT | PTE_P | PTE_RW | PTE_US);
    put(PD + 2 * 4, 0x01000000u | PTE_P | PTE_RW | PTE_PS);
    put(PT + 0 * 4, 0x00200000u | PTE_P | PTE_RW | PTE_US); /* 0x400000: user rw */
    put(PT + 1 * 4, 0x00201000u | PTE_P | PTE_US);          /* 0x401000: user ro */
    put(PT + 2 * 4, 0x00202000u | PTE_P | PTE_RW);          /* 0x402000: supervisor rw */
}

START_TEST(four_kib_pages_and_ad_bits)
{
    struct walk w;
    struct mem_fault f;

    ck_assert_int_eq(walk__lin(fx, PD, 0x400123, 0, true, &w, &f), 0);
    ck_assert_uint_eq(w.gpa, 0x200123);
    ck_assert(get(PT) & PTE_A);
    ck_assert(!(get(PT) & PTE_D));
    ck_assert(get(PD + 4) & PTE_A);
    ck_assert(!w.dirty);
    ck_assert_int_eq(walk__lin(fx, PD, 0x400123, ACC_WRITE, true, &w, &f), 0);
    ck_assert(get(PT) & PTE_D);
    ck_assert(w.dirty);
    /* Without set_ad nothing is written. */
    ck_assert_int_eq(walk__lin(fx, PD, 0x401000, 0, false, &w, &f), 0);
    ck_assert(!(get(PT + 4) & PTE_A));
}
END_TEST

START_TEST(not_present_faults)
{
    struct walk w;
    struct mem_fault f;

    ck_assert_int_eq(walk__lin(fx, PD, 0x403000, ACC_WRITE | ACC_USER, true, &w, &f), -1);
    ck_assert_int_eq(f.vector, 14);
    ck_assert_uint_eq(f.cr2, 0x403000);
    ck_assert_uint_eq(f.error_code, PFERR_W | PFERR_U);
    ck_assert_int_eq(walk__lin(fx, PD, 0x00c00000, 0, true, &w, &f), -1); /* PDE 3 absent */
    ck_assert_uint_eq(f.error_code, 0);
}
END_TEST

START_TEST(user_supervisor_and_write_protect)
{
    struct walk w;
    struct mem_fault f;

    /* User read of a supervisor page: protection fault. */
    ck_assert_int_eq(walk__lin(fx, PD, 0x402000, ACC_USER, true, &w, &f), -1);
    ck_assert_uint_eq(f.error_code, PFERR_P | PFERR_U);
    /* User write to a read-only page. */
    ck_assert_int_eq(walk__lin(fx, PD, 0x401000, ACC_USER | ACC_WRITE, true, &w, &f), -1);
    ck_assert_uint_eq(f.error_code, PFERR_P | PFERR_W | PFERR_U);
    /* Supervisor write to a read-only page: allowed with CR0.WP = 0, refused with WP = 1. */
    fx->cpu->cr0 &= ~CR0_WP;
    ck_assert_int_eq(walk__lin(fx, PD, 0x401000, ACC_WRITE, true, &w, &f), 0);
    fx->cpu->cr0 |= CR0_WP;
    ck_assert_int_eq(walk__lin(fx, PD, 0x401000, ACC_WRITE, true, &w, &f), -1);
    ck_assert_uint_eq(f.error_code, PFERR_P | PFERR_W);
    /* R/W is the AND of both levels. */
    put(PD + 4, PT | PTE_P | PTE_US);
    ck_assert_int_eq(walk__lin(fx, PD, 0x400000, ACC_USER | ACC_WRITE, true, &w, &f), -1);
}
END_TEST

START_TEST(large_pages_need_pse)
{
    struct walk w;
    struct mem_fault f;

    fx->cpu->cr4 |= CR4_PSE;
    ck_assert_int_eq(walk__lin(fx, PD, 0x00812345, ACC_WRITE, true, &w, &f), 0);
    ck_assert(w.large);
    ck_assert_uint_eq(w.gpa, 0x01012345);
    ck_assert(get(PD + 8) & PTE_D);
    /* Without PSE the PDE points at a page table (at 0x01000000, all zero: not present). */
    fx->cpu->cr4 &= ~CR4_PSE;
    ck_assert_int_eq(walk__lin(fx, PD, 0x00812345, 0, true, &w, &f), -1);
}
END_TEST

START_TEST(linear_accessors_walk)
{
    struct mem_fault f;
    uint64_t v;

    mem__phys_write(fx, 0x200010, 4, 0xcafef00d);
    ck_assert_int_eq(mem__lin_read(fx, 0x400010, 4, &v, &f), 0);
    ck_assert_uint_eq(v, 0xcafef00d);
    /* A write straddling into an absent page faults before writing anything. */
    ck_assert_int_eq(mem__lin_write(fx, 0x402ffe, 4, 0x11111111, &f), -1);
    ck_assert_uint_eq(f.cr2, 0x403000);
    ck_assert_uint_eq(mem__phys_read(fx, 0x202ffe, 2), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mmu/walk");
    TCase *tc = tcase_create("two-level");

    tcase_add_checked_fixture(tc, setup, fixture_machine_teardown);
    tcase_add_test(tc, four_kib_pages_and_ad_bits);
    tcase_add_test(tc, not_present_faults);
    tcase_add_test(tc, user_supervisor_and_write_protect);
    tcase_add_test(tc, large_pages_need_pse);
    tcase_add_test(tc, linear_accessors_walk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(suite());
}
