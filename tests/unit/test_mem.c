/*
 * mmu-shadow/mem: the physical map (RAM, ROM high and low, the VGA window,
 * MMIO, unassigned space), splitting of accesses that cross a region or page
 * boundary, wrap at 4 GiB, A20, and the bounds that keep every access inside
 * guest RAM. A recording MMIO device stands in for real ones.
 */
#include <check.h>
#include <string.h>

#include "devices/bus.h"
#include "fixture.h"
#include "mmu-shadow/mem.h"

/* A device that logs its accesses and reads back a fixed pattern. */
struct probe {
    int reads, writes;
    uint32_t off[8], size[8], val[8];
};

static struct probe probe;

static uint32_t probe_read(void *opaque, uint32_t offset, unsigned size)
{
    struct probe *p = opaque;
    int i = p->reads + p->writes;

    if (i < 8) {
        p->off[i] = offset;
        p->size[i] = size;
        p->val[i] = 0;
    }
    p->reads++;
    return 0x44332211u;
}

static void probe_write(void *opaque, uint32_t offset, unsigned size, uint32_t value)
{
    struct probe *p = opaque;
    int i = p->reads + p->writes;

    if (i < 8) {
        p->off[i] = offset;
        p->size[i] = size;
        p->val[i] = value;
    }
    p->writes++;
}

static const struct device_ops probe_ops = {
    .name = "probe", .read = probe_read, .write = probe_write,
};

static void claim(uint32_t base, uint32_t len)
{
    memset(&probe, 0, sizeof(probe));
    ck_assert_int_eq(bus__claim_mmio(fx, base, len, &probe_ops, &probe), 0);
}

START_TEST(ram_roundtrip_any_alignment)
{
    for (uint32_t a = 0x1000; a < 0x1010; a++) {
        mem__phys_write(fx, a, 4, 0xdeadbeef);
        ck_assert_uint_eq(mem__phys_read(fx, a, 4), 0xdeadbeef);
        ck_assert_uint_eq(mem__phys_read(fx, a, 2), 0xbeef);
    }
    mem__phys_write(fx, 0x2003, 8, 0x0123456789abcdefull);
    ck_assert_uint_eq(mem__phys_read(fx, 0x2003, 8), 0x0123456789abcdefull);
    ck_assert_uint_eq(fx->ram[0x2003], 0xef);
    ck_assert_uint_eq(fx->ram[0x200a], 0x01);
}
END_TEST

START_TEST(rom_high_and_low)
{
    uint32_t top = fx->rom_size;

    ck_assert_uint_gt(top, 0);
    /* The reset vector: the last 16 bytes of the image at 0xfffffff0 and at 0xffff0. */
    for (uint32_t i = 0; i < 16; i++) {
        ck_assert_uint_eq(mem__phys_read(fx, 0xfffffff0u + i, 1), fx->rom[top - 16 + i]);
        ck_assert_uint_eq(mem__phys_read(fx, 0xffff0u + i, 1), fx->rom[top - 16 + i]);
    }
    /* Below 1 MiB only the last 128 KiB show. */
    ck_assert_uint_eq(mem__phys_read(fx, 0xe0000, 4), mem__phys_read(fx, 0xfffe0000u, 4));
    ck_assert_uint_eq(mem__phys_read(fx, 0x100000000ull - top, 4), *(uint32_t *)fx->rom);
}
END_TEST

START_TEST(rom_writes_are_dropped)
{
    uint32_t before = (uint32_t)mem__phys_read(fx, 0xffff0, 4);

    mem__phys_write(fx, 0xffff0, 4, ~before);
    mem__phys_write(fx, 0xfffffff0u, 4, ~before);
    ck_assert_uint_eq(mem__phys_read(fx, 0xffff0, 4), before);
    ck_assert_uint_eq(mem__phys_read(fx, 0xfffffff0u, 4), before);
    /* RAM under the low ROM window is not written either. */
    ck_assert_uint_eq(fx->ram[0xffff0], 0);
}
END_TEST

START_TEST(unassigned_reads_ones)
{
    uint32_t hole = (uint32_t)fx->ram_size + 0x1000;

    ck_assert_uint_eq(mem__phys_read(fx, hole, 4), 0xffffffffu);
    ck_assert_uint_eq(mem__phys_read(fx, 0xd0000000u, 8), ~0ull);
    mem__phys_write(fx, hole, 4, 0x12345678);
    ck_assert_uint_eq(mem__phys_read(fx, hole, 4), 0xffffffffu);
}
END_TEST

START_TEST(split_at_end_of_ram)
{
    uint32_t end = (uint32_t)fx->ram_size;

    mem__phys_write(fx, end - 2, 4, 0xaabbccdd);
    ck_assert_uint_eq(fx->ram[end - 2], 0xdd);
    ck_assert_uint_eq(fx->ram[end - 1], 0xcc);
    ck_assert_uint_eq(mem__phys_read(fx, end - 2, 4), 0xffffccddu);
}
END_TEST

START_TEST(buffers_cross_regions)
{
    uint8_t buf[0x3000];
    uint32_t end = (uint32_t)fx->ram_size;

    memset(fx->ram + end - 0x1000, 0x5a, 0x1000);
    mem__phys_read_buf(fx, end - 0x1000, buf, sizeof(buf));
    ck_assert_uint_eq(buf[0], 0x5a);
    ck_assert_uint_eq(buf[0xfff], 0x5a);
    ck_assert_uint_eq(buf[0x1000], 0xff);
    ck_assert_uint_eq(buf[0x2fff], 0xff);
    /* A write that runs off the end of RAM stores only the RAM part. */
    memset(buf, 0x77, sizeof(buf));
    mem__phys_write_buf(fx, end - 4, buf, sizeof(buf));
    ck_assert_uint_eq(fx->ram[end - 1], 0x77);
}
END_TEST

START_TEST(vga_window_is_ram_unless_claimed)
{
    mem__phys_write(fx, 0xb8000, 2, 0x0741);
    ck_assert_uint_eq(fx->ram[0xb8000], 0x41);
    claim(0xb8000, 0x8000);
    ck_assert_uint_eq(mem__phys_read(fx, 0xb8000, 2), 0x2211);
    ck_assert_int_eq(probe.reads, 1);
    ck_assert_uint_eq(probe.off[0], 0);
    ck_assert_uint_eq(probe.size[0], 2);
    /* Straddling RAM and the device: two pieces, the device sees its own part only. */
    fx->ram[0xb7ffe] = 0x01;
    fx->ram[0xb7fff] = 0x02;
    ck_assert_uint_eq(mem__phys_read(fx, 0xb7ffe, 4), 0x22110201u);
    ck_assert_uint_eq(probe.off[1], 0);
    ck_assert_uint_eq(probe.size[1], 2);
    mem__phys_write(fx, 0xb8010, 4, 0xcafef00d);
    ck_assert_int_eq(probe.writes, 1);
    ck_assert_uint_eq(probe.off[2], 0x10);
    ck_assert_uint_eq(probe.size[2], 4);
    ck_assert_uint_eq(probe.val[2], 0xcafef00d);
    ck_assert_uint_eq(fx->ram[0xb8010], 0);
}
END_TEST

START_TEST(mmio_high_and_its_edge)
{
    claim(0xfed00000u, 0x20);
    ck_assert_uint_eq(mem__phys_read(fx, 0xfed00010u, 4), 0x44332211u);
    ck_assert_uint_eq(probe.off[0], 0x10);
    ck_assert_uint_eq(probe.size[0], 4);
    /* The last two bytes of the device, then two unassigned bytes. */
    ck_assert_uint_eq(mem__phys_read(fx, 0xfed0001eu, 4), 0xffff2211u);
    ck_assert_uint_eq(probe.off[1], 0x1e);
    ck_assert_uint_eq(probe.size[1], 2);
    /* 8-byte accesses reach a device as two 4-byte ones. */
    mem__phys_write(fx, 0xfed00000u, 8, 0x1111111122222222ull);
    ck_assert_int_eq(probe.writes, 2);
    ck_assert_uint_eq(probe.val[2], 0x22222222u);
    ck_assert_uint_eq(probe.off[3], 4);
    ck_assert_uint_eq(probe.val[3], 0x11111111u);
}
END_TEST

START_TEST(linear_equals_physical_without_paging)
{
    struct mem_fault f;
    uint64_t v;
    uint32_t gpa;

    ck_assert_int_eq(mem__lin_write(fx, 0x3000, 4, 0x11223344, &f), 0);
    ck_assert_uint_eq(mem__phys_read(fx, 0x3000, 4), 0x11223344);
    ck_assert_int_eq(mem__lin_read(fx, 0x3001, 2, &v, &f), 0);
    ck_assert_uint_eq(v, 0x2233);
    ck_assert_int_eq(mem__lin_to_phys(fx, 0x12345678, false, &gpa, &f), 0);
    ck_assert_uint_eq(gpa, 0x12345678);
    /* With paging on the tables are walked: CR3 = 0 holds no present PDE here. */
    fx->cpu->cr0 |= CR0_PG;
    mem__phys_write(fx, 0, 4, 0);
    ck_assert_int_eq(mem__lin_read(fx, 0x3000, 4, &v, &f), -1);
    ck_assert_int_eq(f.vector, 14);
    ck_assert_uint_eq(f.cr2, 0x3000);
    ck_assert_uint_eq(f.error_code, 0);
}
END_TEST

START_TEST(linear_wraps_at_4g)
{
    struct mem_fault f;
    uint64_t v;
    uint32_t top = fx->rom_size;

    /* The last two bytes are ROM (write dropped), the next two are RAM at 0. */
    ck_assert_int_eq(mem__lin_write(fx, 0xfffffffeu, 4, 0xa1b2c3d4u, &f), 0);
    ck_assert_uint_eq(fx->ram[0], 0xb2);
    ck_assert_uint_eq(fx->ram[1], 0xa1);
    ck_assert_int_eq(mem__lin_read(fx, 0xfffffffeu, 4, &v, &f), 0);
    ck_assert_uint_eq(v, 0xa1b20000u | fx->rom[top - 2] | (uint32_t)fx->rom[top - 1] << 8);
}
END_TEST

START_TEST(linear_buffers_cross_pages)
{
    struct mem_fault f;
    uint8_t buf[32];

    for (int i = 0; i < 32; i++)
        fx->ram[0x4ff0 + i] = (uint8_t)i;
    ck_assert_int_eq(mem__lin_read_buf(fx, 0x4ff0, buf, sizeof(buf), &f), 0);
    for (int i = 0; i < 32; i++)
        ck_assert_uint_eq(buf[i], i);
}
END_TEST

START_TEST(a20_gate)
{
    struct mem_fault f;
    uint64_t v;

    fx->ram[0x10] = 0x99;
    fx->ram[0x100010] = 0x42;
    ck_assert_int_eq(mem__lin_read(fx, 0x100010, 1, &v, &f), 0);
    ck_assert_uint_eq(v, 0x42);
    fx->cpu->a20_mask = 0xffefffffu;
    ck_assert_int_eq(mem__lin_read(fx, 0x100010, 1, &v, &f), 0);
    ck_assert_uint_eq(v, 0x99);
}
END_TEST

START_TEST(bounds_everywhere)
{
    /* Every page-aligned probe of the 4 GiB space must be safe, whatever lives there. */
    for (uint64_t a = 0; a < 0x100000000ull; a += 0x01000000ull - 2) {
        (void)mem__phys_read(fx, (uint32_t)a, 8);
        mem__phys_write(fx, (uint32_t)a, 4, 0);
    }
    ck_assert_ptr_null(machine__gpa(fx, fx->ram_size, 1));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mmu-shadow/mem");
    TCase *phys = tcase_create("phys");
    TCase *lin = tcase_create("linear");

    tcase_add_checked_fixture(phys, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(phys, ram_roundtrip_any_alignment);
    tcase_add_test(phys, rom_high_and_low);
    tcase_add_test(phys, rom_writes_are_dropped);
    tcase_add_test(phys, unassigned_reads_ones);
    tcase_add_test(phys, split_at_end_of_ram);
    tcase_add_test(phys, buffers_cross_regions);
    tcase_add_test(phys, vga_window_is_ram_unless_claimed);
    tcase_add_test(phys, mmio_high_and_its_edge);
    tcase_add_test(phys, bounds_everywhere);
    suite_add_tcase(s, phys);

    tcase_add_checked_fixture(lin, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(lin, linear_equals_physical_without_paging);
    tcase_add_test(lin, linear_wraps_at_4g);
    tcase_add_test(lin, linear_buffers_cross_pages);
    tcase_add_test(lin, a20_gate);
    suite_add_tcase(s, lin);
    return fixture_run_suite(s);
}
