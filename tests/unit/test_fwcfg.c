/*
 * devices/fwcfg through its ports as SeaBIOS uses them: the signature and
 * feature bits, fixed keys, the file directory and etc/e820, reads past an
 * item's end, the DMA interface (read, skip, select, the error bit for
 * writes and for addresses outside RAM, the "QEMU CFG" signature), and items
 * added by setup code.
 */
#include <string.h>

#include "devices/bus.h"
#include "devices/fwcfg.h"
#include "fixture.h"

#define SEL 0x510
#define DATA 0x511
#define DMA_HI 0x514
#define DMA_LO 0x518

#define CTL_ERROR 0x01
#define CTL_READ 0x02
#define CTL_SKIP 0x04
#define CTL_SELECT 0x08
#define CTL_WRITE 0x10

static void select_key(uint16_t key)
{
    bus__pio_write(fx, SEL, 2, key);
}

static void read_data(void *buf, size_t n)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)bus__pio_read(fx, DATA, 1);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;

    while (n--)
        v = v << 8 | p[n];
    return v;
}

/* Find a file in the directory: its select key and size, or -1. */
static int find_file(const char *name, uint32_t *size)
{
    uint8_t count[4], e[64];

    select_key(FW_CFG_FILE_DIR);
    read_data(count, 4);
    for (uint32_t i = 0; i < be32(count); i++) {
        read_data(e, 64);
        if (!strcmp((char *)e + 8, name)) {
            *size = be32(e);
            return e[4] << 8 | e[5];
        }
    }
    return -1;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Write an FWCfgDmaAccess at guest address desc and start it as SeaBIOS does:
 * outl(cpu_to_be32(high)), outl(cpu_to_be32(low)). Returns the control word after. */
static uint32_t dma(uint32_t desc, uint32_t control, uint32_t len, uint64_t addr)
{
    uint8_t *d = fx->ram + desc;

    put_be32(d, control);
    put_be32(d + 4, len);
    put_be32(d + 8, (uint32_t)(addr >> 32));
    put_be32(d + 12, (uint32_t)addr);
    bus__pio_write(fx, DMA_HI, 4, __builtin_bswap32(0));
    bus__pio_write(fx, DMA_LO, 4, __builtin_bswap32(desc));
    return be32(d);
}

START_TEST(signature_and_id)
{
    char sig[5] = {0};
    uint8_t id[4];

    select_key(FW_CFG_SIGNATURE);
    read_data(sig, 4);
    ck_assert_str_eq(sig, "QEMU");
    ck_assert_uint_eq(bus__pio_read(fx, DATA, 1), 0); /* past the end */
    select_key(FW_CFG_SIGNATURE);                     /* selecting rewinds */
    ck_assert_uint_eq(bus__pio_read(fx, DATA, 1), 'Q');
    select_key(FW_CFG_ID);
    read_data(id, 4);
    ck_assert_uint_eq(le(id, 4), 3); /* traditional interface and DMA */
}
END_TEST

START_TEST(fixed_keys)
{
    uint8_t b[8];

    select_key(FW_CFG_NB_CPUS);
    read_data(b, 2);
    ck_assert_uint_eq(le(b, 2), 1);
    select_key(FW_CFG_MAX_CPUS);
    read_data(b, 2);
    ck_assert_uint_eq(le(b, 2), 1);
    select_key(FW_CFG_RAM_SIZE);
    read_data(b, 8);
    ck_assert_uint_eq(le(b, 8), 32u << 20);
    select_key(0x4000 | FW_CFG_NB_CPUS); /* the old write channel bit is ignored */
    read_data(b, 2);
    ck_assert_uint_eq(le(b, 2), 1);
    select_key(0x1234); /* no such item: zeros */
    read_data(b, 4);
    ck_assert_uint_eq(le(b, 4), 0);
    select_key(0x8000 | 0x0123);
    read_data(b, 4);
    ck_assert_uint_eq(le(b, 4), 0);
}
END_TEST

START_TEST(directory_and_e820)
{
    uint32_t size;
    int sel = find_file("etc/e820", &size);
    uint8_t e[20];

    ck_assert_int_ge(sel, FW_CFG_FILE_FIRST);
    ck_assert_uint_eq(size, 20);
    select_key((uint16_t)sel);
    read_data(e, 20);
    ck_assert_uint_eq(le(e, 8), 0);
    ck_assert_uint_eq(le(e + 8, 8), 32u << 20);
    ck_assert_uint_eq(le(e + 16, 4), 1); /* E820_RAM */
    sel = find_file("bootorder", &size);
    ck_assert_int_ge(sel, FW_CFG_FILE_FIRST);
    ck_assert_uint_eq(size, 0);
    ck_assert_int_eq(find_file("etc/table-loader", &size), -1);
}
END_TEST

START_TEST(dma_signature_and_read)
{
    uint32_t ctl;

    /* "QEMU CFG" big-endian: byte-wise it is the string */
    ck_assert_uint_eq(bus__pio_read(fx, DMA_HI, 4), 0x554d4551);
    ck_assert_uint_eq(__builtin_bswap32(bus__pio_read(fx, DMA_LO, 4)), 0x20434647);

    memset(fx->ram + 0x2000, 0xcc, 16);
    ctl = dma(0x1000, (uint32_t)FW_CFG_SIGNATURE << 16 | CTL_SELECT | CTL_READ, 4, 0x2000);
    ck_assert_uint_eq(ctl, 0);
    ck_assert_mem_eq(fx->ram + 0x2000, "QEMU", 4);
    ck_assert_uint_eq(fx->ram[0x2004], 0xcc);

    /* past the end: zeros, no error */
    ctl = dma(0x1000, (uint32_t)FW_CFG_ID << 16 | CTL_SELECT | CTL_READ, 8, 0x2000);
    ck_assert_uint_eq(ctl, 0);
    ck_assert_uint_eq(le(fx->ram + 0x2000, 8), 3);

    /* skip, then read without select: the offset carries on, also to the data port */
    ctl = dma(0x1000, (uint32_t)FW_CFG_SIGNATURE << 16 | CTL_SELECT | CTL_SKIP, 2, 0);
    ck_assert_uint_eq(ctl, 0);
    ctl = dma(0x1000, CTL_READ, 1, 0x2000);
    ck_assert_uint_eq(fx->ram[0x2000], 'M');
    ck_assert_uint_eq(bus__pio_read(fx, DATA, 1), 'U');
}
END_TEST

START_TEST(dma_errors)
{
    uint32_t ctl;

    ctl = dma(0x1000, (uint32_t)FW_CFG_SIGNATURE << 16 | CTL_SELECT | CTL_READ, 4, 0xf0000000);
    ck_assert_uint_eq(ctl, CTL_ERROR); /* outside RAM */
    ctl = dma(0x1000, (uint32_t)FW_CFG_SIGNATURE << 16 | CTL_SELECT | CTL_READ, 4,
              0x100000000ull + 0x2000);
    ck_assert_uint_eq(ctl, CTL_ERROR); /* above 4 GiB */
    ctl = dma(0x1000, (uint32_t)FW_CFG_SIGNATURE << 16 | CTL_SELECT | CTL_WRITE, 4, 0x2000);
    ck_assert_uint_eq(ctl, CTL_ERROR); /* read-only */
    ctl = dma(0x1000, (uint32_t)FW_CFG_SIGNATURE << 16 | CTL_SELECT | CTL_READ,
              (32u << 20) - 0x2000 + 1, 0x2000);
    ck_assert_uint_eq(ctl, CTL_ERROR); /* runs off the end of RAM */
    /* a descriptor outside RAM: nothing to report into, nothing happens */
    bus__pio_write(fx, DMA_HI, 4, 0);
    bus__pio_write(fx, DMA_LO, 4, __builtin_bswap32(0xfff00000));
    /* the register is 0 again after each operation: a low-half write alone is enough */
    ctl = dma(0x1000, (uint32_t)FW_CFG_SIGNATURE << 16 | CTL_SELECT | CTL_READ, 4, 0x3000);
    ck_assert_uint_eq(ctl, 0);
    ck_assert_mem_eq(fx->ram + 0x3000, "QEMU", 4);
}
END_TEST

START_TEST(data_writes_are_ignored)
{
    select_key(FW_CFG_SIGNATURE);
    bus__pio_write(fx, DATA, 1, 'X');
    bus__pio_write(fx, SEL, 1, 'Y'); /* a byte write to the selector is a data write */
    ck_assert_uint_eq(bus__pio_read(fx, DATA, 1), 'Q');
}
END_TEST

START_TEST(items_added_by_setup)
{
    uint32_t size;
    char buf[8] = {0};
    int sel, sel2;

    sel = fwcfg__add_file(fx, "etc/boot-fail-wait", "\x05\0\0\0", 4);
    ck_assert_int_ge(sel, FW_CFG_FILE_FIRST);
    ck_assert_int_eq(find_file("etc/boot-fail-wait", &size), sel);
    ck_assert_uint_eq(size, 4);
    sel2 = fwcfg__add_file(fx, "etc/boot-fail-wait", "\x07\0", 2); /* replaces */
    ck_assert_int_eq(sel2, sel);
    ck_assert_int_eq(find_file("etc/boot-fail-wait", &size), sel);
    ck_assert_uint_eq(size, 2);
    select_key((uint16_t)sel);
    ck_assert_uint_eq(bus__pio_read(fx, DATA, 1), 7);
    ck_assert_int_eq(find_file("etc/e820", &size), FW_CFG_FILE_FIRST); /* unchanged */
    ck_assert_int_lt(fwcfg__add_file(fx,
                                     "a-name-that-is-much-too-long-for-the-fifty-six-bytes-"
                                     "of-a-directory-entry",
                                     "", 0),
                     0);

    ck_assert_int_eq(fwcfg__add_key(fx, FW_CFG_CMDLINE_DATA, "root=x", 7), 0);
    select_key(FW_CFG_CMDLINE_DATA);
    read_data(buf, 7);
    ck_assert_str_eq(buf, "root=x");
    ck_assert_int_eq(fwcfg__add_key(fx, FW_CFG_ARCH_LOCAL | 2, "\x01\0\0\0", 4), 0);
    select_key(FW_CFG_ARCH_LOCAL | 2);
    ck_assert_uint_eq(bus__pio_read(fx, DATA, 1), 1);
    ck_assert_int_lt(fwcfg__add_key(fx, FW_CFG_FILE_DIR, "", 0), 0);
}
END_TEST

static Suite *fwcfg_suite(void)
{
    Suite *s = suite_create("devices/fwcfg");
    TCase *t = tcase_create("fwcfg");

    tcase_add_checked_fixture(t, fixture_machine_setup, fixture_machine_teardown);
    tcase_add_test(t, signature_and_id);
    tcase_add_test(t, fixed_keys);
    tcase_add_test(t, directory_and_e820);
    tcase_add_test(t, dma_signature_and_read);
    tcase_add_test(t, dma_errors);
    tcase_add_test(t, data_writes_are_ignored);
    tcase_add_test(t, items_added_by_setup);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return fixture_run_suite(fwcfg_suite());
}
