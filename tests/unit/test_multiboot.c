/*
 * monitor/multiboot: small Multiboot images are built here (ELF32 and the
 * a.out kludge), written to temporary files, loaded into a fresh machine,
 * and the guest memory, the vCPU and the information structure are checked
 * against the Multiboot 0.6.96 specification and QEMU's choices. Broken
 * images must be refused with a message that says why.
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "monitor/multiboot.h"

#define MB_MAGIC 0x1badb002u

static char err[512];
static char *tmpfiles[16];
static int ntmp;

static const char *tmpfile_with(const void *data, size_t len)
{
    char *path = strdup("/tmp/tachyon-mb-XXXXXX");
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    tmpfiles[ntmp++] = path;
    return path;
}

static void cleanup(void)
{
    while (ntmp)
        unlink(tmpfiles[--ntmp]), free(tmpfiles[ntmp]);
}

static void setup(void)
{
    fixture_machine_setup();
    /* Dirty RAM, so zeroing of BSS is visible. */
    memset(fx->ram, 0xaa, 4u << 20);
    err[0] = 0;
}

static void teardown(void)
{
    cleanup();
    fixture_machine_teardown();
}

static uint32_t rd32(uint32_t gpa)
{
    uint32_t v;

    ck_assert_ptr_nonnull(machine__gpa(fx, gpa, 4));
    memcpy(&v, fx->ram + gpa, 4);
    return v;
}

static const char *str_at(uint32_t gpa)
{
    ck_assert_ptr_nonnull(machine__gpa(fx, gpa, 1));
    return (const char *)fx->ram + gpa;
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* A 12-byte Multiboot header, or 32 bytes with the a.out address fields. */
static void mb_header(uint8_t *p, uint32_t flags, bool good_sum, const uint32_t aout[5])
{
    put32(p, MB_MAGIC);
    put32(p + 4, flags);
    put32(p + 8, -(MB_MAGIC + flags) + (good_sum ? 0 : 1));
    if (aout)
        for (int i = 0; i < 5; i++)
            put32(p + 12 + 4 * i, aout[i]);
}

struct seg {
    uint32_t vaddr, paddr, filesz, memsz;
};

static uint8_t seg_byte(int seg, uint32_t i)
{
    return (uint8_t)(0x11 * (seg + 1) + i * 7);
}

/* ELF32 image: headers, the Multiboot header at 0x100, segment i's bytes at 0x1000 * (i+1). */
static size_t build_elf(uint8_t *img, const struct seg *s, int n, uint32_t entry, uint32_t mbflags)
{
    Elf32_Ehdr eh = {0};
    size_t size = 0x1000;

    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS32;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_386;
    eh.e_version = EV_CURRENT;
    eh.e_entry = entry;
    eh.e_phoff = sizeof(eh);
    eh.e_ehsize = sizeof(eh);
    eh.e_phentsize = sizeof(Elf32_Phdr);
    eh.e_phnum = (uint16_t)n;
    memset(img, 0, 0x1000 * (n + 1));
    memcpy(img, &eh, sizeof(eh));
    for (int i = 0; i < n; i++) {
        Elf32_Phdr ph = {.p_type = PT_LOAD,
                         .p_offset = 0x1000 * (i + 1),
                         .p_vaddr = s[i].vaddr,
                         .p_paddr = s[i].paddr,
                         .p_filesz = s[i].filesz,
                         .p_memsz = s[i].memsz,
                         .p_flags = PF_R | PF_W | PF_X,
                         .p_align = 0x1000};

        memcpy(img + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
        for (uint32_t j = 0; j < s[i].filesz; j++)
            img[0x1000 * (i + 1) + j] = seg_byte(i, j);
        size = 0x1000 * (i + 1) + s[i].filesz;
    }
    mb_header(img + 0x100, mbflags, true, NULL);
    return size;
}

static uint8_t img[0x10000];

static const char *elf_file(const struct seg *s, int n, uint32_t entry)
{
    return tmpfile_with(img, build_elf(img, s, n, entry, 0x3));
}

static const struct seg two[] = {{0x100000, 0x100000, 0x200, 0x1000},
                                 {0x200000, 0x200000, 0x100, 0x100}};

START_TEST(elf_segments_and_registers)
{
    const char *k = elf_file(two, 2, 0x100010);
    struct vcpu *c = fx->cpu;

    ck_assert_int_eq(multiboot__load(fx, k, NULL, "console=ttyS0", err, sizeof(err)), 0);
    for (uint32_t j = 0; j < 0x200; j++)
        ck_assert_uint_eq(fx->ram[0x100000 + j], seg_byte(0, j));
    for (uint32_t j = 0x200; j < 0x1000; j++)
        ck_assert_uint_eq(fx->ram[0x100000 + j], 0); /* bss */
    for (uint32_t j = 0; j < 0x100; j++)
        ck_assert_uint_eq(fx->ram[0x200000 + j], seg_byte(1, j));

    ck_assert_uint_eq(c->gpr[R_EAX], 0x2badb002);
    ck_assert_uint_eq(c->gpr[R_EBX], MULTIBOOT_INFO_ADDR);
    ck_assert_uint_eq(c->eip, 0x100010);
    ck_assert_uint_eq(vcpu_eflags(c), 0x2);
    ck_assert_uint_eq(c->cr0 & (CR0_PE | CR0_PG), CR0_PE);
    ck_assert_uint_eq(c->seg[SEG_CS].sel, 0x08);
    ck_assert_uint_eq(c->seg[SEG_CS].limit, 0xffffffff);
    ck_assert(c->seg[SEG_CS].flags & SEGF_DB);
    ck_assert_uint_eq(c->seg[SEG_DS].sel, 0x10);
    ck_assert_uint_eq(c->seg[SEG_SS].sel, 0x10);
    ck_assert_uint_eq(c->seg_base[SEG_DS], 0);
}
END_TEST

START_TEST(info_structure)
{
    const char *k = elf_file(two, 2, 0x100010);
    uint32_t info, mmap, len, p;
    char expect[256];
    int n = 0;

    ck_assert_int_eq(multiboot__load(fx, k, NULL, "console=ttyS0 x", err, sizeof(err)), 0);
    info = (uint32_t)fx->cpu->gpr[R_EBX];
    ck_assert_uint_eq(rd32(info), 0x24f);   /* MEM BOOTDEV CMDLINE MODS MMAP LOADER, as QEMU */
    ck_assert_uint_eq(rd32(info + 4), 639); /* what QEMU reports: the map reserves the EBDA */
    ck_assert_uint_eq(rd32(info + 8), (32 - 1) * 1024);
    ck_assert_uint_eq(rd32(info + 12), 0x8000ffff);
    snprintf(expect, sizeof(expect), "%s console=ttyS0 x", k);
    ck_assert_str_eq(str_at(rd32(info + 16)), expect);
    ck_assert_uint_eq(rd32(info + 20), 0); /* no modules */
    ck_assert_str_eq(str_at(rd32(info + 64)), "tachyon");
    /* Everything lies after the kernel, or in the low area QEMU uses. */
    ck_assert_uint_ge(rd32(info + 16), 0x201000);

    mmap = rd32(info + 48);
    len = rd32(info + 44);
    ck_assert_uint_eq(mmap, MULTIBOOT_MMAP_ADDR);
    for (p = mmap; p < mmap + len; p += rd32(p) + 4, n++) {
        uint64_t base = rd32(p + 4) | (uint64_t)rd32(p + 8) << 32;
        uint64_t size = rd32(p + 12) | (uint64_t)rd32(p + 16) << 32;
        uint32_t type = rd32(p + 20);

        ck_assert_uint_eq(rd32(p), 20);
        switch (n) {
        case 0:
            ck_assert(base == 0 && size == 0x9fc00 && type == 1);
            break;
        case 1:
            ck_assert(base == 0x9fc00 && size == 0x400 && type == 2);
            break;
        case 2:
            ck_assert(base == 0xf0000 && size == 0x10000 && type == 2);
            break;
        case 3:
            ck_assert(base == 0x100000 && size == (31u << 20) && type == 1);
            break;
        case 4:
            ck_assert(base == 0xfffc0000 && size == 0x40000 && type == 2);
            break;
        }
    }
    ck_assert_int_eq(n, 5);
    ck_assert_uint_eq(p, mmap + len);
}
END_TEST

START_TEST(cmdline_without_append)
{
    const char *k = elf_file(two, 2, 0x100010);
    char expect[256];

    ck_assert_int_eq(multiboot__load(fx, k, NULL, NULL, err, sizeof(err)), 0);
    snprintf(expect, sizeof(expect), "%s ", k); /* QEMU keeps the space */
    ck_assert_str_eq(str_at(rd32((uint32_t)fx->cpu->gpr[R_EBX] + 16)), expect);
}
END_TEST

START_TEST(modules)
{
    static uint8_t m1[5000], m2[3] = {1, 2, 3};
    const char *k = elf_file(two, 2, 0x100010), *p1, *p2;
    char spec[256], s1[128];
    uint32_t info, mods, start0, end0, start1, end1;

    for (size_t i = 0; i < sizeof(m1); i++)
        m1[i] = (uint8_t)(i * 13);
    p1 = tmpfile_with(m1, sizeof(m1));
    p2 = tmpfile_with(m2, sizeof(m2));
    snprintf(spec, sizeof(spec), "%s arg1 a,,b,%s", p1, p2);
    ck_assert_int_eq(multiboot__load(fx, k, spec, "", err, sizeof(err)), 0);
    info = (uint32_t)fx->cpu->gpr[R_EBX];
    ck_assert_uint_eq(rd32(info + 20), 2);
    mods = rd32(info + 24);
    start0 = rd32(mods), end0 = rd32(mods + 4);
    start1 = rd32(mods + 16), end1 = rd32(mods + 20);
    ck_assert_uint_eq(start0 & 0xfff, 0);
    ck_assert_uint_eq(start1 & 0xfff, 0);
    ck_assert_uint_ge(start0, 0x201000); /* after the kernel's last byte */
    ck_assert_uint_eq(end0 - start0, sizeof(m1));
    ck_assert_uint_eq(end1 - start1, sizeof(m2));
    ck_assert_uint_ge(start1, end0);
    ck_assert_mem_eq(fx->ram + start0, m1, sizeof(m1));
    ck_assert_mem_eq(fx->ram + start1, m2, sizeof(m2));
    snprintf(s1, sizeof(s1), "%s arg1 a,b", p1); /* ",," is a comma in the arguments */
    ck_assert_str_eq(str_at(rd32(mods + 8)), s1);
    ck_assert_str_eq(str_at(rd32(mods + 24)), p2);
    ck_assert_uint_eq(rd32(mods + 12), 0);
}
END_TEST

/* Regression: the block sized without the module strings let long ones run into module 0. */
START_TEST(long_module_strings_stay_in_the_block)
{
    static uint8_t m1[4096];
    const char *k = elf_file(two, 2, 0x100010), *p1;
    static char spec[12000];
    uint32_t mods, start0, s0, s1;
    size_t n;

    memset(m1, 0x5e, sizeof(m1));
    p1 = tmpfile_with(m1, sizeof(m1));
    n = (size_t)snprintf(spec, sizeof(spec), "%s ", p1);
    memset(spec + n, 'a', 5000);
    n += 5000;
    n += (size_t)snprintf(spec + n, sizeof(spec) - n, ",%s ", p1);
    memset(spec + n, 'b', 5000);
    spec[n + 5000] = 0;
    ck_assert_int_eq(multiboot__load(fx, k, spec, "", err, sizeof(err)), 0);
    mods = rd32((uint32_t)fx->cpu->gpr[R_EBX] + 24);
    start0 = rd32(mods);
    s0 = rd32(mods + 8);
    s1 = rd32(mods + 24);
    ck_assert_uint_eq(strlen(str_at(s0)), strlen(p1) + 1 + 5000);
    ck_assert_uint_eq(strlen(str_at(s1)), strlen(p1) + 1 + 5000);
    ck_assert_uint_ge(start0, s1 + strlen(str_at(s1)) + 1);
    ck_assert_mem_eq(fx->ram + start0, m1, sizeof(m1));
}
END_TEST

START_TEST(virtual_entry_is_translated)
{
    static const struct seg hi[] = {{0xc0100000, 0x100000, 0x100, 0x100}};
    const char *k = elf_file(hi, 1, 0xc0100020);

    ck_assert_int_eq(multiboot__load(fx, k, NULL, NULL, err, sizeof(err)), 0);
    ck_assert_uint_eq(fx->cpu->eip, 0x100020);
    ck_assert_uint_eq(fx->ram[0x100000], seg_byte(0, 0));
}
END_TEST

START_TEST(kernel_in_the_low_info_area)
{
    static const struct seg low[] = {{0x8000, 0x8000, 0x2000, 0x2000}};
    const char *k = elf_file(low, 1, 0x8000);
    uint32_t info;

    ck_assert_int_eq(multiboot__load(fx, k, NULL, NULL, err, sizeof(err)), 0);
    info = (uint32_t)fx->cpu->gpr[R_EBX];
    ck_assert_uint_ge(info, 0xa000);                         /* moved out of the kernel's way */
    ck_assert_uint_eq(fx->ram[0x9500], seg_byte(0, 0x1500)); /* kernel bytes intact */
    ck_assert_uint_eq(rd32(info), 0x24f);
    ck_assert_uint_ge(rd32(info + 48), 0xa000);
    ck_assert_uint_eq(rd32(rd32(info + 48)), 20);
}
END_TEST

START_TEST(aout_kludge)
{
    /* header at file offset 0x40; the file is loaded at 0x100000 up to 0x100300, bss to
     * 0x102000, entry 0x100080. The ELF flag-16 rule: these fields win over any ELF. */
    static const uint32_t f[5] = {0x100040, 0x100000, 0x100300, 0x102000, 0x100080};
    const char *k;

    for (int i = 0; i < 0x400; i++)
        img[i] = (uint8_t)(i ^ 0x5c);
    mb_header(img + 0x40, 0x00010003, true, f);
    k = tmpfile_with(img, 0x400);
    ck_assert_int_eq(multiboot__load(fx, k, NULL, NULL, err, sizeof(err)), 0);
    ck_assert_mem_eq(fx->ram + 0x100000, img, 0x300);
    for (uint32_t a = 0x100300; a < 0x102000; a++)
        ck_assert_uint_eq(fx->ram[a], 0);
    /* The information block follows bss_end. */
    ck_assert_uint_ge(rd32((uint32_t)fx->cpu->gpr[R_EBX] + 16), 0x102000);
    ck_assert_uint_eq(fx->cpu->eip, 0x100080);
    ck_assert_uint_eq(fx->cpu->gpr[R_EAX], 0x2badb002);
}
END_TEST

START_TEST(aout_kludge_load_to_end_of_file)
{
    static const uint32_t f[5] = {0x100040, 0x100000, 0, 0, 0x100080};
    const char *k;

    for (int i = 0; i < 0x500; i++)
        img[i] = (uint8_t)(i * 3);
    mb_header(img + 0x40, 0x00010000, true, f);
    k = tmpfile_with(img, 0x500);
    ck_assert_int_eq(multiboot__load(fx, k, NULL, NULL, err, sizeof(err)), 0);
    ck_assert_mem_eq(fx->ram + 0x100000, img, 0x500);
    ck_assert_uint_eq(fx->ram[0x100500], 0xaa);
}
END_TEST

/* ---- refusals ---- */

#define REFUSED(what, k, mods)                                                                     \
    do {                                                                                           \
        ck_assert_int_eq(multiboot__load(fx, k, mods, NULL, err, sizeof(err)), -1);                \
        ck_assert_msg(strstr(err, what), "message '%s' lacks '%s'", err, what);                    \
    } while (0)

START_TEST(missing_and_headerless)
{
    const char *k;

    REFUSED("cannot open kernel '/nonexistent/k.elf'", "/nonexistent/k.elf", NULL);
    memset(img, 0x90, sizeof(img));
    k = tmpfile_with(img, 0x4000);
    REFUSED("no Multiboot header in its first 8192 bytes", k, NULL);
    /* A header just past the first 8 KiB is not found. */
    mb_header(img + 8192, 0x3, true, NULL);
    k = tmpfile_with(img, 0x4000);
    REFUSED("no Multiboot header", k, NULL);
    memset(img, 0, 0x300);
    memcpy(img + 0x202, "HdrS", 4);
    k = tmpfile_with(img, 0x300);
    REFUSED("Linux bzImage", k, NULL);
    REFUSED("no Multiboot header", tmpfile_with("", 0), NULL);
}
END_TEST

START_TEST(bad_checksum)
{
    build_elf(img, two, 2, 0x100010, 0x3);
    mb_header(img + 0x100, 0x3, false, NULL);
    REFUSED("bad checksum", tmpfile_with(img, 0x2100), NULL);
}
END_TEST

START_TEST(segments_outside_ram_or_overlapping)
{
    struct seg s[2] = {{0x100000, 0x100000, 0x100, 0x100}, {0, 0, 0x100, 0x100}};

    s[0].paddr = (32u << 20) - 0x80; /* runs 0x80 bytes past the end of RAM */
    REFUSED("outside guest RAM", elf_file(s, 1, 0), NULL);
    s[0].paddr = 0xfffffff0; /* wraps past 4 GiB */
    REFUSED("outside guest RAM", elf_file(s, 1, 0), NULL);
    s[0].paddr = 0xb8000;
    REFUSED("VGA/BIOS area", elf_file(s, 1, 0), NULL);
    s[0].paddr = 0x100000;
    s[1].paddr = 0x1000ff;
    REFUSED("overlaps", elf_file(s, 2, 0), NULL);
    /* Nothing was written for the refused images. */
    ck_assert_uint_eq(fx->ram[0x100000], 0xaa);
}
END_TEST

START_TEST(truncated_images)
{
    size_t n = build_elf(img, two, 2, 0x100010, 0x3);
    static const uint32_t f[5] = {0x100040, 0x100000, 0x100800, 0, 0x100000};

    REFUSED("truncated", tmpfile_with(img, n - 1), NULL);
    REFUSED("truncated", tmpfile_with(img, 0x100 + 12), NULL); /* segment data missing */
    memset(img, 0, 0x400);
    mb_header(img + 0x40, 0x00010000, true, f);
    REFUSED("truncated", tmpfile_with(img, 0x400), NULL);
}
END_TEST

START_TEST(wrong_elf_kinds)
{
    build_elf(img, two, 2, 0x100010, 0x3);
    img[EI_CLASS] = ELFCLASS64;
    REFUSED("64-bit", tmpfile_with(img, 0x2100), NULL);
    build_elf(img, two, 2, 0x100010, 0x3);
    img[0] = 0; /* not ELF, and no flag 16 */
    REFUSED("must be an ELF image", tmpfile_with(img, 0x2100), NULL);
    build_elf(img, two, 2, 0x100010, 0x3);
    img[18] = 62; /* e_machine = x86-64 */
    REFUSED("not i386", tmpfile_with(img, 0x2100), NULL);
    build_elf(img, two, 0, 0x100010, 0x3);
    REFUSED("no loadable segments", tmpfile_with(img, 0x1000), NULL);
}
END_TEST

START_TEST(bad_aout_fields)
{
    uint32_t f[5] = {0x100000, 0x100040, 0, 0, 0};

    memset(img, 0, 0x400);
    mb_header(img + 0x40, 0x00010000, true, f); /* header_addr below load_addr */
    REFUSED("do not match", tmpfile_with(img, 0x400), NULL);
    f[0] = 0x100040, f[1] = 0x100000, f[2] = 0x100100, f[3] = 0x1000ff;
    mb_header(img + 0x40, 0x00010000, true, f);
    REFUSED("bss_end_addr", tmpfile_with(img, 0x400), NULL);
    f[2] = 0xfff00, f[3] = 0;
    mb_header(img + 0x40, 0x00010000, true, f);
    REFUSED("load_end_addr", tmpfile_with(img, 0x400), NULL);
    f[0] = 0x1f00040, f[1] = 0x1f00000, f[2] = 0, f[3] = 0x2100000; /* bss past RAM's end */
    mb_header(img + 0x40, 0x00010000, true, f);
    REFUSED("outside guest RAM", tmpfile_with(img, 0x400), NULL);
}
END_TEST

START_TEST(bad_modules)
{
    static uint8_t big[1];
    const char *k = elf_file(two, 2, 0x100010);
    char spec[256];

    REFUSED("cannot open module '/nonexistent/mod'", k, "/nonexistent/mod args");
    snprintf(spec, sizeof(spec), "%s,", tmpfile_with(big, 1));
    REFUSED("empty module name", k, spec);
    /* A module larger than the RAM left after the kernel. */
    {
        char path[] = "/tmp/tachyon-mb-big-XXXXXX";
        int fd = mkstemp(path);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ftruncate(fd, 31u << 20), 0);
        close(fd);
        REFUSED("does not fit in guest RAM", k, path);
        unlink(path);
    }
}
END_TEST

static Suite *multiboot_suite(void)
{
    Suite *s = suite_create("monitor/multiboot");
    TCase *load = tcase_create("load");
    TCase *bad = tcase_create("refuse");

    tcase_add_checked_fixture(load, setup, teardown);
    tcase_add_test(load, elf_segments_and_registers);
    tcase_add_test(load, info_structure);
    tcase_add_test(load, cmdline_without_append);
    tcase_add_test(load, modules);
    tcase_add_test(load, long_module_strings_stay_in_the_block);
    tcase_add_test(load, virtual_entry_is_translated);
    tcase_add_test(load, kernel_in_the_low_info_area);
    tcase_add_test(load, aout_kludge);
    tcase_add_test(load, aout_kludge_load_to_end_of_file);
    suite_add_tcase(s, load);

    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_add_test(bad, missing_and_headerless);
    tcase_add_test(bad, bad_checksum);
    tcase_add_test(bad, segments_outside_ram_or_overlapping);
    tcase_add_test(bad, truncated_images);
    tcase_add_test(bad, wrong_elf_kinds);
    tcase_add_test(bad, bad_aout_fields);
    tcase_add_test(bad, bad_modules);
    suite_add_tcase(s, bad);
    return s;
}

int main(void)
{
    return fixture_run_suite(multiboot_suite());
}
