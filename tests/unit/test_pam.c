/*
 * mmu/pam: the i440BX PAM registers steer 0xC0000-0xFFFFF between the firmware ROM (on
 * the bus) and shadow RAM, separately for reads and writes, both for the monitor's own
 * accesses (mem.c) and for translated code (the physical window).
 */
#include <check.h>
#include <string.h>

#include "devices/bus.h"
#include "fixture.h"
#include "mmu-shadow/mem.h"

#define PAM0 0x59 /* bits 5:4: the 64 KiB segment at 0xF0000 */
#define CODE 0x100000u

static void set_pam0(uint8_t v)
{
    bus__pio_write(fx, 0xcf8, 4, 0x80000000u | (PAM0 & ~3u));
    bus__pio_write(fx, 0xcfc + (PAM0 & 3), 1, v);
}

static uint32_t rom32(uint32_t a)
{
    uint32_t v;
    memcpy(&v, fx->rom + fx->rom_size - (0x100000u - a), 4);
    return v;
}

/* Run "mov eax, [addr]; mov dword [addr+4], 0x55; hlt" and return EAX. */
static uint32_t guest_read_write(uint32_t addr)
{
    uint8_t code[] = {0xa1, 0, 0, 0, 0, 0xc7, 0x05, 0, 0, 0, 0, 0x55, 0, 0, 0, 0xf4};
    uint32_t a4 = addr + 4;

    memcpy(code + 1, &addr, 4);
    memcpy(code + 7, &a4, 4);
    memcpy(fx->ram + CODE, code, sizeof(code));
    fx->cpu->eip = CODE;
    fx->cpu->halted = false;
    ck_assert_int_eq(machine__run(fx), RUN_HALTED);
    return (uint32_t)fx->cpu->gpr[R_EAX];
}

START_TEST(reset_state_reads_rom_and_drops_writes)
{
    ck_assert_uint_eq((uint32_t)mem__phys_read(fx, 0xffff0, 4), rom32(0xffff0));
    mem__phys_write(fx, 0xf0000, 4, 0x11223344);
    ck_assert_uint_eq((uint32_t)mem__phys_read(fx, 0xf0000, 4), rom32(0xf0000));
    ck_assert_uint_eq(guest_read_write(0xf0000), rom32(0xf0000));
    ck_assert_uint_eq((uint32_t)mem__phys_read(fx, 0xf0004, 4), rom32(0xf0004));
}
END_TEST

START_TEST(shadow_ram_read_write)
{
    set_pam0(0x30); /* RE | WE */
    mem__phys_write(fx, 0xf0000, 4, 0x11223344);
    ck_assert_uint_eq((uint32_t)mem__phys_read(fx, 0xf0000, 4), 0x11223344);
    ck_assert_uint_eq(guest_read_write(0xf0000), 0x11223344);
    ck_assert_uint_eq((uint32_t)mem__phys_read(fx, 0xf0004, 4), 0x55);
    set_pam0(0x00); /* back to the ROM: the translated code sees it too */
    ck_assert_uint_eq(guest_read_write(0xf0000), rom32(0xf0000));
}
END_TEST

START_TEST(write_protected_shadow)
{
    set_pam0(0x30);
    mem__phys_write(fx, 0xf0000, 4, 0xcafe0000);
    mem__phys_write(fx, 0xf0004, 4, 0x12345678);
    set_pam0(0x10); /* RE only: reads shadow RAM, writes are dropped */
    ck_assert_uint_eq(guest_read_write(0xf0000), 0xcafe0000);
    ck_assert_uint_eq((uint32_t)mem__phys_read(fx, 0xf0004, 4), 0x12345678);
    set_pam0(0x20); /* WE only: reads the ROM, writes reach RAM */
    ck_assert_uint_eq(guest_read_write(0xf0000), rom32(0xf0000));
    set_pam0(0x30);
    ck_assert_uint_eq((uint32_t)mem__phys_read(fx, 0xf0004, 4), 0x55);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("mmu/pam");
    TCase *tc = tcase_create("shadow");

    tcase_add_checked_fixture(tc, fixture_machine_setup, fixture_machine_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, reset_state_reads_rom_and_drops_writes);
    tcase_add_test(tc, shadow_ram_read_write);
    tcase_add_test(tc, write_protected_shadow);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return fixture_run_suite(suite());
}
