/*
 * monitor/linuxboot: fake bzImages (a setup header and a patterned protected-mode part)
 * are written to temporary files and loaded into a fresh 32 MiB machine; the zero page,
 * the e820 map, the kernel and initrd placement, the command line, the boot GDT and the
 * vCPU entry state are checked against Documentation/arch/x86/boot.rst. Bad images and
 * impossible layouts must be refused with a message naming the file, before anything is
 * written.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "monitor/acpi.h"
#include "monitor/linuxboot.h"
#include "monitor/multiboot.h"

#define BP LINUXBOOT_BOOT_PARAMS_ADDR
#define KSIZE 0x10000u /* protected-mode part of the fake kernels */
#define MiB (1u << 20)
#define TOP (32 * MiB - ACPI_REGION_SIZE) /* usable RAM ends where the ACPI tables begin */

static char err[512];
static char *tmpfiles[16];
static int ntmp;

/* The header fields a test may change before the image is written. */
struct fake {
    uint8_t setup_sects;
    uint16_t version;
    uint8_t loadflags;
    uint32_t initrd_addr_max, kernel_alignment, cmdline_size, init_size, syssize;
    uint8_t relocatable;
    uint64_t pref_address;
    bool no_magic;
};

static const struct fake defaults = {
    .setup_sects = 1,
    .version = 0x020f,
    .loadflags = 0x01,
    .initrd_addr_max = 0x7fffffff,
    .kernel_alignment = 0x200000,
    .cmdline_size = 2047,
    .init_size = 4 * MiB,
    .syssize = KSIZE / 16,
    .relocatable = 1,
    .pref_address = 16 * MiB,
};

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static const char *tmpfile_with(const void *data, size_t len)
{
    char *path = strdup("/tmp/tachyon-lb-XXXXXX");
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    tmpfiles[ntmp++] = path;
    return path;
}

static const char *bzimage(const struct fake *f)
{
    size_t setup = ((size_t)(f->setup_sects ? f->setup_sects : 4) + 1) * 512;
    size_t len = setup + KSIZE;
    uint8_t *img = calloc(1, len);
    const char *path;

    img[0x1f1] = f->setup_sects;
    put32(img + 0x1f4, f->syssize);
    put16(img + 0x1fe, 0xaa55);
    img[0x200] = 0xeb;
    img[0x201] = 0x66; /* the header runs to 0x268 */
    memcpy(img + 0x202, f->no_magic ? "HdrX" : "HdrS", 4);
    put16(img + 0x206, f->version);
    img[0x211] = f->loadflags;
    put32(img + 0x214, 0x100000);
    put32(img + 0x22c, f->initrd_addr_max);
    put32(img + 0x230, f->kernel_alignment);
    img[0x234] = f->relocatable;
    put32(img + 0x238, f->cmdline_size);
    put32(img + 0x258, (uint32_t)f->pref_address);
    put32(img + 0x25c, (uint32_t)(f->pref_address >> 32));
    put32(img + 0x260, f->init_size);
    img[0x1ef] = 0x5a; /* a sentinel the loader must clear */
    for (size_t i = 0; i < KSIZE; i++)
        img[setup + i] = (uint8_t)(i * 7 + 3);
    path = tmpfile_with(img, len);
    free(img);
    return path;
}

static const char *blob(size_t len, uint8_t fill)
{
    uint8_t *p = malloc(len);
    const char *path;

    memset(p, fill, len);
    path = tmpfile_with(p, len);
    free(p);
    return path;
}

static void setup(void)
{
    fixture_machine_setup();
    memset(fx->ram, 0xaa, 1 * MiB);
    err[0] = 0;
}

static void teardown(void)
{
    while (ntmp)
        unlink(tmpfiles[--ntmp]), free(tmpfiles[ntmp]);
    fixture_machine_teardown();
}

static uint32_t rd32(uint32_t gpa)
{
    uint32_t v;

    ck_assert_ptr_nonnull(machine__gpa(fx, gpa, 4));
    memcpy(&v, fx->ram + gpa, 4);
    return v;
}

static uint64_t rd64(uint32_t gpa)
{
    return rd32(gpa) | (uint64_t)rd32(gpa + 4) << 32;
}

static bool kernel_at(uint32_t gpa)
{
    for (uint32_t i = 0; i < KSIZE; i++)
        if (fx->ram[gpa + i] != (uint8_t)(i * 7 + 3))
            return false;
    return true;
}

static void load_ok(const char *k, const char *initrd, const char *cmdline)
{
    int rc = linuxboot__load(fx, k, initrd, cmdline, err, sizeof(err));

    ck_assert_msg(rc == 0, "load failed: %s", err);
}

static void load_fails(const char *k, const char *initrd, const char *cmdline, const char *want)
{
    uint32_t eip = fx->cpu->eip;

    ck_assert_int_eq(linuxboot__load(fx, k, initrd, cmdline, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, want), "message '%s' lacks '%s'", err, want);
    ck_assert_uint_eq(fx->cpu->eip, eip);
    ck_assert_uint_eq(fx->ram[BP], 0xaa); /* nothing written */
}

START_TEST(relocatable_loads_at_pref_address)
{
    load_ok(bzimage(&defaults), NULL, "console=ttyS0");
    ck_assert(kernel_at(16 * MiB));
    ck_assert_uint_eq(rd32(BP + 0x214), 16 * MiB); /* code32_start */
    ck_assert_uint_eq(fx->cpu->eip, 16 * MiB);
}
END_TEST

START_TEST(fixed_kernel_loads_at_1mib)
{
    struct fake f = defaults;

    f.relocatable = 0;
    load_ok(bzimage(&f), NULL, NULL);
    ck_assert(kernel_at(1 * MiB));
    ck_assert_uint_eq(rd32(BP + 0x214), 1 * MiB);
    ck_assert_uint_eq(fx->cpu->eip, 1 * MiB);
}
END_TEST

START_TEST(big_init_size_still_fits)
{
    struct fake f = defaults;

    f.init_size = 12 * MiB; /* 16 + 12 = 28 MiB: fits */
    load_ok(bzimage(&f), NULL, NULL);
    ck_assert(kernel_at(16 * MiB));
}
END_TEST

/* The decompressor runs at pref_address (LOAD_PHYSICAL_ADDR) wherever the kernel is loaded,
 * so a buffer that does not fit there cannot be helped by loading at 1 MiB. */
START_TEST(pref_address_beyond_ram_refused)
{
    struct fake f = defaults;

    f.init_size = 12 * MiB;
    f.pref_address = 24 * MiB;
    load_fails(bzimage(&f), NULL, NULL, "needs guest RAM up to 0x2400000");
}
END_TEST

/* An unaligned pref_address is not used: the kernel goes to 1 MiB. */
START_TEST(unaligned_pref_address_loads_low)
{
    struct fake f = defaults;

    f.pref_address = 16 * MiB + 0x1000;
    load_ok(bzimage(&f), NULL, NULL);
    ck_assert(kernel_at(1 * MiB));
    ck_assert_uint_eq(fx->cpu->eip, 1 * MiB);
}
END_TEST

START_TEST(zero_page_fields)
{
    load_ok(bzimage(&defaults), NULL, "console=ttyS0 nokaslr");
    ck_assert_uint_eq(fx->ram[BP + 0x1f1], 1); /* setup_sects copied */
    ck_assert_mem_eq(fx->ram + BP + 0x202, "HdrS", 4);
    ck_assert_uint_eq(rd32(BP + 0x206) & 0xffff, 0x020f);
    ck_assert_uint_eq(fx->ram[BP + 0x210], 0xff);    /* type_of_loader */
    ck_assert_uint_eq(fx->ram[BP + 0x211], 0x01);    /* loadflags */
    ck_assert_uint_eq(rd32(BP + 0x22c), 0x7fffffff); /* initrd_addr_max copied */
    ck_assert_uint_eq(fx->ram[BP + 0x1ef], 0);       /* sentinel */
    ck_assert_uint_eq(rd32(BP + 0x228), LINUXBOOT_CMDLINE_ADDR);
    ck_assert_str_eq((char *)fx->ram + LINUXBOOT_CMDLINE_ADDR, "console=ttyS0 nokaslr");
    ck_assert_uint_eq(rd32(BP + 0x218), 0); /* no initrd */
    ck_assert_uint_eq(rd32(BP + 0x21c), 0);
    ck_assert_uint_eq(rd32(BP + 0x1e0), (TOP - MiB) / 1024);       /* alt_mem_k */
    ck_assert_uint_eq(rd32(BP + 0x000) >> 16, (TOP - MiB) / 1024); /* ext_mem_k */
    ck_assert_uint_eq(fx->ram[BP + 0x400], 0);                     /* the rest is zero */
    /* the BIOS data area a BIOS would have filled */
    ck_assert_uint_eq(rd32(0x400) & 0xffff, 0x3f8);
    ck_assert_uint_eq(rd32(0x40e) & 0xffff, 0x9fc0);
    ck_assert_uint_eq(rd32(0x413) & 0xffff, 639);
}
END_TEST

START_TEST(e820_map)
{
    static const struct {
        uint64_t base, len;
        uint32_t type;
    } want[] = {
        {0, 0x9fc00, 1},          {0x9fc00, 0x400, 2},        {0xf0000, 0x10000, 2},
        {0x100000, TOP - MiB, 1}, {TOP, ACPI_REGION_SIZE, 2},
    };
    int n;

    load_ok(bzimage(&defaults), NULL, NULL);
    n = fx->ram[BP + 0x1e8];
    ck_assert_int_eq(n, fx->rom_size ? 6 : 5);
    for (int i = 0; i < 5; i++) {
        uint32_t e = BP + 0x2d0 + (uint32_t)i * 20;

        ck_assert_uint_eq(rd64(e), want[i].base);
        ck_assert_uint_eq(rd64(e + 8), want[i].len);
        ck_assert_uint_eq(rd32(e + 16), want[i].type);
    }
    if (fx->rom_size) {
        uint32_t e = BP + 0x2d0 + 5 * 20;

        ck_assert_uint_eq(rd64(e), 0x100000000ull - fx->rom_size);
        ck_assert_uint_eq(rd64(e + 8), fx->rom_size);
        ck_assert_uint_eq(rd32(e + 16), 2);
    }
}
END_TEST

/* The tables are built and their RSDP handed over in boot_params.acpi_rsdp_addr. */
START_TEST(acpi_rsdp_passed)
{
    uint64_t rsdp;

    load_ok(bzimage(&defaults), NULL, NULL);
    rsdp = rd64(BP + 0x070);
    ck_assert_uint_ge(rsdp, TOP);
    ck_assert_uint_lt(rsdp, 32 * MiB);
    ck_assert_mem_eq(fx->ram + rsdp, "RSD PTR ", 8);
}
END_TEST

START_TEST(initrd_placed_high_and_aligned)
{
    const char *rd = blob(100000, 0x5c);
    uint32_t at, size;

    load_ok(bzimage(&defaults), rd, NULL);
    at = rd32(BP + 0x218);
    size = rd32(BP + 0x21c);
    ck_assert_uint_eq(size, 100000);
    ck_assert_uint_eq(at & 0xfff, 0);
    ck_assert_uint_le(at + size, TOP);          /* below the ACPI tables */
    ck_assert_uint_gt(at + size + 0x1000, TOP); /* and as high as it goes */
    ck_assert_uint_eq(fx->ram[at], 0x5c);
    ck_assert_uint_eq(fx->ram[at + size - 1], 0x5c);
}
END_TEST

START_TEST(initrd_respects_initrd_addr_max)
{
    struct fake f = defaults;
    uint32_t at;

    f.initrd_addr_max = 24 * MiB - 1;
    load_ok(bzimage(&f), blob(8192, 1), NULL);
    at = rd32(BP + 0x218);
    ck_assert_uint_eq(at, 24 * MiB - 8192);
}
END_TEST

START_TEST(entry_state)
{
    struct vcpu *c = fx->cpu;
    uint64_t gdt[4];

    vcpu_set_eflags(c, 0x202);
    c->gpr[R_EBX] = c->gpr[R_EBP] = c->gpr[R_EDI] = 0x1234;
    load_ok(bzimage(&defaults), NULL, NULL);
    ck_assert_uint_eq(c->seg[SEG_CS].sel, 0x10);
    ck_assert_uint_eq(c->seg[SEG_DS].sel, 0x18);
    ck_assert_uint_eq(c->seg[SEG_ES].sel, 0x18);
    ck_assert_uint_eq(c->seg[SEG_SS].sel, 0x18);
    for (int s = 0; s < SEG_NR; s++) {
        ck_assert_uint_eq(c->seg[s].base, 0);
        ck_assert_uint_eq(c->seg[s].limit, 0xffffffff);
        ck_assert_uint_eq(c->seg_base[s], 0);
    }
    ck_assert(c->seg[SEG_CS].flags & SEGF_DB);
    ck_assert_uint_eq(c->seg[SEG_CS].flags & 0x1f, 0x1b); /* code, readable, accessed */
    ck_assert_uint_eq(c->seg[SEG_DS].flags & 0x1f, 0x13); /* data, writable, accessed */
    ck_assert_uint_eq(c->cr0 & (CR0_PE | CR0_PG), CR0_PE);
    ck_assert_uint_eq(vcpu_eflags(c) & EFL_IF, 0);
    ck_assert_uint_eq((uint32_t)c->gpr[R_ESI], BP);
    ck_assert_uint_eq((uint32_t)c->gpr[R_EBX], 0);
    ck_assert_uint_eq((uint32_t)c->gpr[R_EBP], 0);
    ck_assert_uint_eq((uint32_t)c->gpr[R_EDI], 0);
    /* the GDT in guest memory holds the descriptors the segment caches came from */
    ck_assert_uint_eq(c->gdtr.base, LINUXBOOT_GDT_ADDR);
    ck_assert_uint_ge(c->gdtr.limit, 0x1f);
    memcpy(gdt, fx->ram + c->gdtr.base, sizeof(gdt));
    ck_assert_uint_eq((uint16_t)(gdt[2] >> 40), c->seg[SEG_CS].flags);
    ck_assert_uint_eq((uint16_t)(gdt[3] >> 40), c->seg[SEG_DS].flags);
    ck_assert_uint_eq(gdt[2] & 0xffff, 0xffff);
}
END_TEST

START_TEST(not_a_bzimage)
{
    load_fails(blob(4096, 0), NULL, NULL, "is not a Linux bzImage");
    load_fails("/nonexistent/vmlinuz", NULL, NULL, "cannot open kernel '/nonexistent/vmlinuz'");
    {
        struct fake f = defaults;

        f.no_magic = true;
        load_fails(bzimage(&f), NULL, NULL, "is not a Linux bzImage");
    }
}
END_TEST

START_TEST(old_protocol_refused)
{
    struct fake f = defaults;

    f.version = 0x0204;
    load_fails(bzimage(&f), NULL, NULL, "boot protocol 2.04");
}
END_TEST

START_TEST(zimage_refused)
{
    struct fake f = defaults;

    f.loadflags = 0;
    load_fails(bzimage(&f), NULL, NULL, "zImage");
}
END_TEST

START_TEST(truncated_refused)
{
    struct fake f = defaults;

    f.syssize = KSIZE / 16 + 100;
    load_fails(bzimage(&f), NULL, NULL, "truncated");
}
END_TEST

START_TEST(too_large_for_ram)
{
    struct fake f = defaults;
    const char *k;

    f.init_size = 64 * MiB;
    k = bzimage(&f);
    load_fails(k, NULL, NULL, "give more memory with -m");
    ck_assert(strstr(err, k));
}
END_TEST

START_TEST(initrd_errors)
{
    const char *k = bzimage(&defaults);

    load_fails(k, "/nonexistent/initrd.gz", NULL, "cannot open initrd '/nonexistent/initrd.gz'");
    /* footprint ends at 20 MiB; 13 MiB cannot fit under 32 MiB above it */
    load_fails(k, blob(13 * MiB, 0), NULL, "does not fit");
}
END_TEST

START_TEST(cmdline_too_long)
{
    struct fake f = defaults;

    f.cmdline_size = 10;
    load_fails(bzimage(&f), NULL, "console=ttyS0", "at most 10");
}
END_TEST

START_TEST(detects_bzimage_only)
{
    uint8_t mb[64] = {0};
    uint32_t magic = MULTIBOOT_HEADER_MAGIC, flags = 0, sum = -(MULTIBOOT_HEADER_MAGIC);

    ck_assert(linuxboot__is_bzimage(bzimage(&defaults)));
    ck_assert(!linuxboot__is_bzimage(blob(4096, 0)));
    ck_assert(!linuxboot__is_bzimage("/nonexistent"));
    memcpy(mb + 16, &magic, 4);
    memcpy(mb + 20, &flags, 4);
    memcpy(mb + 24, &sum, 4);
    ck_assert(!linuxboot__is_bzimage(tmpfile_with(mb, sizeof(mb))));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("monitor/linuxboot");
    TCase *load = tcase_create("load");
    TCase *bad = tcase_create("bad_images");

    tcase_add_checked_fixture(load, setup, teardown);
    tcase_add_test(load, relocatable_loads_at_pref_address);
    tcase_add_test(load, fixed_kernel_loads_at_1mib);
    tcase_add_test(load, big_init_size_still_fits);
    tcase_add_test(load, unaligned_pref_address_loads_low);
    tcase_add_test(load, zero_page_fields);
    tcase_add_test(load, e820_map);
    tcase_add_test(load, acpi_rsdp_passed);
    tcase_add_test(load, initrd_placed_high_and_aligned);
    tcase_add_test(load, initrd_respects_initrd_addr_max);
    tcase_add_test(load, entry_state);
    tcase_add_test(load, detects_bzimage_only);
    suite_add_tcase(s, load);

    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_add_test(bad, not_a_bzimage);
    tcase_add_test(bad, old_protocol_refused);
    tcase_add_test(bad, zimage_refused);
    tcase_add_test(bad, truncated_refused);
    tcase_add_test(bad, too_large_for_ram);
    tcase_add_test(bad, pref_address_beyond_ram_refused);
    tcase_add_test(bad, initrd_errors);
    tcase_add_test(bad, cmdline_too_long);
    suite_add_tcase(s, bad);

    return fixture_run_suite(s);
}
