/*
 * devices/lsi53c895a driven the way a driver drives it: PCI BARs programmed, registers
 * through the I/O BAR, SCRIPTS programs in guest RAM started by writing DSP, a raw image
 * behind target 0. Covers select/message/command/data/status/message-in, phase mismatch,
 * selection timeout, interrupts (SIR, INTFLY, the INTA# pin), memory moves, load/store,
 * and one regression test per kind of guest misbehaviour (issue 7 part 3): endless
 * SCRIPTS loops, DMA outside RAM and across its end, register writes that re-enter the
 * chip from its own DMA, bogus message lengths and CDBs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/bus.h"
#include "devices/lsi53c895a.h"
#include "devices/pci.h"
#include "fixture.h"
#include "mmu-shadow/mem.h"
#include "monitor/timer.h"

#define IO 0xc000
#define MMIO 0xfebf0000u
#define RAMBAR 0xfebf2000u
#define SCRIPT 0x10000u
#define DATA 0x20000u
#define IMG_SECTORS 2048

static char img[64];
static bool ro;

static uint8_t pattern(unsigned sector, unsigned i)
{
    return (uint8_t)(sector * 7 + i);
}

static void setup(void)
{
    static char drive[128];
    struct options o;
    FILE *f;

    snprintf(img, sizeof(img), "/tmp/test_lsi.%d.img", (int)getpid());
    f = fopen(img, "wb");
    ck_assert_ptr_nonnull(f);
    for (unsigned s = 0; s < IMG_SECTORS; s++)
        for (unsigned i = 0; i < 512; i++)
            fputc(pattern(s, i), f);
    fclose(f);
    memset(&o, 0, sizeof(o));
    o.ram_mb = 32;
    o.machine = "pc";
    snprintf(drive, sizeof(drive), "if=none,id=d0,file=%s,format=raw%s", img,
             ro ? ",readonly=on" : "");
    o.drive[o.ndrives++] = drive;
    o.device[o.ndevices++] = "lsi53c895a,id=scsi0";
    o.device[o.ndevices++] = "scsi-hd,drive=d0,bus=scsi0.0,scsi-id=0";
    fx = machine__create(&o);
    ck_assert_ptr_nonnull(fx);
    pci__config_write(fx, LSI_PCI_DEV, 0, 0x10, 4, IO);
    pci__config_write(fx, LSI_PCI_DEV, 0, 0x14, 4, MMIO);
    pci__config_write(fx, LSI_PCI_DEV, 0, 0x18, 4, RAMBAR);
    pci__config_write(fx, LSI_PCI_DEV, 0, 0x04, 2, 0x0007);
}

static void setup_ro(void)
{
    ro = true;
    setup();
}

static void teardown(void)
{
    machine__destroy(fx);
    fx = NULL;
    unlink(img);
    ro = false;
}

static uint8_t rd(unsigned reg)
{
    return (uint8_t)bus__pio_read(fx, IO + reg, 1);
}

static uint32_t rd32(unsigned reg)
{
    return bus__pio_read(fx, IO + reg, 4);
}

static void wr(unsigned reg, uint8_t v)
{
    bus__pio_write(fx, IO + reg, 1, v);
}

static void wr32(unsigned reg, uint32_t v)
{
    bus__pio_write(fx, IO + reg, 4, v);
}

static uint32_t pc; /* where the next instruction goes */

static void emit(uint32_t a, uint32_t b)
{
    mem__phys_write(fx, pc, 4, a);
    mem__phys_write(fx, pc + 4, 4, b);
    pc += 8;
}

static void put(uint32_t gpa, const void *p, uint32_t n)
{
    mem__phys_write_buf(fx, gpa, p, n);
}

/* Start at SCRIPT and wait (polling the disk's completions as the run loop would) until the
 * chip interrupts or halts. Returns ISTAT. */
static uint8_t go(void)
{
    uint8_t istat = 0;

    wr32(0x2c, SCRIPT); /* DSP */
    for (int i = 0; i < 20000; i++) {
        istat = rd(0x14);
        if (istat & 0x03)
            break;
        timers__run(fx);
        usleep(100);
    }
    return istat;
}

/* A whole command to target 0: select with ATN, IDENTIFY, CDB, one data move of `len`
 * bytes in `phase`, status, message in, INT 0x99. */
static void command_script(const uint8_t *cdb, unsigned cdblen, int phase, uint32_t len)
{
    static const uint8_t identify = 0x80;

    put(DATA, &identify, 1);
    put(DATA + 0x10, cdb, cdblen);
    pc = SCRIPT;
    emit(0x41000000, SCRIPT + 0x800);              /* SELECT ATN 0, alt */
    emit(0x0e000001, DATA);                        /* MOVE 1, WHEN MSG_OUT */
    emit(0x0a000000 | cdblen, DATA + 0x10);        /* MOVE n, WHEN CMD */
    if (len)
        emit(0x08000000 | (uint32_t)phase << 24 | len, DATA + 0x1000);
    emit(0x0b000001, DATA + 0x30);                 /* MOVE 1, WHEN STATUS */
    emit(0x0f000001, DATA + 0x31);                 /* MOVE 1, WHEN MSG_IN */
    emit(0x60000040, 0);                           /* CLEAR ACK */
    emit(0x48000000, 0);                           /* WAIT DISCONNECT */
    emit(0x98080000, 0x99);                        /* INT 0x99 */
}

static uint8_t status_byte(void)
{
    return (uint8_t)mem__phys_read(fx, DATA + 0x30, 1);
}

static void expect_sir(uint32_t vector)
{
    ck_assert_int_eq(rd(0x0c) & 0x7f, 0x04); /* DSTAT: SIR only */
    ck_assert_uint_eq(rd32(0x30), vector);   /* DSPS */
}

START_TEST(test_pci_identity)
{
    ck_assert_uint_eq(pci__config_read(fx, LSI_PCI_DEV, 0, 0, 4), 0x00121000u);
    ck_assert_uint_eq(pci__config_read(fx, LSI_PCI_DEV, 0, 0x08, 4) >> 8, 0x010000u);
    ck_assert_uint_eq(pci__config_read(fx, LSI_PCI_DEV, 0, 0x3d, 1), 1);
    /* The same registers through BAR1, and SCRIPTS RAM through BAR2. */
    wr32(0x34, 0x12345678);
    ck_assert_uint_eq(mem__phys_read(fx, MMIO + 0x34, 4), 0x12345678u);
    ck_assert_uint_eq(mem__phys_read(fx, MMIO + 0x134, 4), 0x12345678u);
    mem__phys_write(fx, RAMBAR + 0x1ffc, 4, 0xcafef00d);
    ck_assert_uint_eq(mem__phys_read(fx, RAMBAR + 0x1ffc, 4), 0xcafef00du);
    /* The clock quadrupler locks once enabled; the bus is LVD. */
    ck_assert_int_eq(rd(0x52) & 0x20, 0);
    wr(0x4d, 0x08);
    ck_assert_int_eq(rd(0x52) & 0xe0, 0xe0);
}
END_TEST

START_TEST(test_inquiry)
{
    static const uint8_t cdb[6] = {0x12, 0, 0, 0, 36, 0};
    uint8_t buf[36];

    command_script(cdb, 6, 1, 36);
    ck_assert_int_eq(go() & 0x01, 0x01);
    expect_sir(0x99);
    ck_assert_int_eq(status_byte(), 0);
    ck_assert_int_eq(mem__phys_read(fx, DATA + 0x31, 1), 0); /* COMMAND COMPLETE */
    mem__phys_read_buf(fx, DATA + 0x1000, buf, 36);
    ck_assert_int_eq(buf[0], 0);
    ck_assert_mem_eq(buf + 8, "TACHYON ", 8);
    ck_assert_int_eq(rd(0x14) & 0x08, 0); /* bus free: ISTAT.CON clear */
}
END_TEST

START_TEST(test_read_write)
{
    static const uint8_t rd10[10] = {0x28, 0, 0, 0, 0, 5, 0, 0, 2, 0};
    static const uint8_t wr10[10] = {0x2a, 0, 0, 0, 0, 9, 0, 0, 1, 0};
    uint8_t buf[1024], out[512];
    FILE *f;

    command_script(rd10, 10, 1, 1024);
    go();
    expect_sir(0x99);
    ck_assert_int_eq(status_byte(), 0);
    mem__phys_read_buf(fx, DATA + 0x1000, buf, 1024);
    for (unsigned i = 0; i < 1024; i++)
        ck_assert_int_eq(buf[i], pattern(5 + i / 512, i % 512));

    memset(out, 0xa5, sizeof(out));
    put(DATA + 0x1000, out, 512);
    command_script(wr10, 10, 0, 512);
    go();
    expect_sir(0x99);
    ck_assert_int_eq(status_byte(), 0);
    f = fopen(img, "rb");
    fseek(f, 9 * 512, SEEK_SET);
    ck_assert_int_eq((int)fread(buf, 1, 512, f), 512);
    fclose(f);
    ck_assert_mem_eq(buf, out, 512);
}
END_TEST

START_TEST(test_phase_mismatch)
{
    static const uint8_t cdb[6] = {0x12, 0, 0, 0, 36, 0};

    /* The driver expects 100 bytes; the target sends 36 and goes to STATUS. */
    command_script(cdb, 6, 1, 100);
    ck_assert_int_eq(go() & 0x02, 0x02);      /* SIP */
    ck_assert_int_eq(rd(0x42) & 0x80, 0x80);  /* SIST0.MA */
    ck_assert_uint_eq(rd32(0x24) & 0xffffff, 64); /* DBC: bytes not moved */
    ck_assert_uint_eq(rd32(0x28), DATA + 0x1000 + 36); /* DNAD */
    ck_assert_uint_eq(rd32(0x2c), SCRIPT + 0x20); /* DSP: past the data move */
    ck_assert_int_eq(rd(0x0e) & 7, 3);            /* SSTAT1: STATUS phase */
    /* Continuing at the status move finishes the command. */
    wr32(0x2c, SCRIPT + 0x20);
    for (int i = 0; i < 1000 && !(rd(0x14) & 1); i++)
        usleep(100);
    expect_sir(0x99);
}
END_TEST

START_TEST(test_selection_timeout)
{
    pc = SCRIPT;
    emit(0x41030000, SCRIPT + 0x800); /* SELECT ATN 3: nobody there */
    emit(0x7a340000, 0);              /* SCRATCHA0 = 0 | 0: runs during selection */
    emit(0x86820000, 0x10);           /* JUMP REL IF NOT MSG_OUT (waits for the bus) */
    wr(0x41, 0x04);                   /* SIEN1.STO */
    ck_assert_int_eq(go() & 0x02, 0x02);
    ck_assert_int_eq(pci__function(fx, LSI_PCI_DEV, 0)->intx_level, 1); /* INTA# */
    ck_assert_int_eq(rd(0x43) & 0x04, 0x04);
    ck_assert_int_eq(pci__function(fx, LSI_PCI_DEV, 0)->intx_level, 0); /* read: cleared */
    ck_assert_uint_eq(rd32(0x2c), SCRIPT + 0x18);
}
END_TEST

START_TEST(test_interrupts)
{
    pc = SCRIPT;
    emit(0x98180000, 0x11); /* INTFLY: goes on */
    emit(0x98080000, 0x22); /* INT */
    wr(0x39, 0x04);         /* DIEN.SIR */
    go();
    ck_assert_int_eq(rd(0x14) & 0x05, 0x05); /* INTF and DIP */
    ck_assert_int_eq(pci__function(fx, LSI_PCI_DEV, 0)->intx_level, 1);
    expect_sir(0x22);
    wr(0x14, 0x04); /* clear INTF */
    ck_assert_int_eq(rd(0x14) & 0x07, 0);
    ck_assert_int_eq(pci__function(fx, LSI_PCI_DEV, 0)->intx_level, 0);
}
END_TEST

START_TEST(test_memory_move_load_store)
{
    static const uint8_t src[16] = "sixteen bytes!!";
    uint32_t v;

    put(DATA, src, 16);
    mem__phys_write(fx, DATA + 0x40, 4, 0xdeadbeef);
    pc = SCRIPT;
    emit(0xc0000010, DATA);      /* MEMORY MOVE 16, DATA -> */
    mem__phys_write(fx, pc, 4, DATA + 0x100);
    pc += 4;
    emit(0xe1340004, DATA + 0x40); /* LOAD SCRATCHA, 4 */
    emit(0xf11c0004, 0x50);        /* LOAD TEMP, 4 from DSA + 0x50 */
    emit(0xe0340004, DATA + 0x60); /* STORE SCRATCHA, 4 */
    emit(0x98080000, 1);
    wr32(0x10, DATA);           /* DSA */
    mem__phys_write(fx, DATA + 0x50, 4, 0x01020304);
    go();
    expect_sir(1);
    ck_assert_mem_eq(fx->ram + DATA + 0x100, src, 16);
    ck_assert_uint_eq(rd32(0x34), 0xdeadbeefu);
    ck_assert_uint_eq(rd32(0x1c), 0x01020304u);
    v = (uint32_t)mem__phys_read(fx, DATA + 0x60, 4);
    ck_assert_uint_eq(v, 0xdeadbeefu);
}
END_TEST

START_TEST(test_scripts_from_onchip_ram)
{
    /* INT 7 in SCRIPTS RAM, reached through BAR2's bus address. */
    mem__phys_write(fx, RAMBAR + 0x100, 4, 0x98080000);
    mem__phys_write(fx, RAMBAR + 0x104, 4, 7);
    wr32(0x2c, RAMBAR + 0x100);
    expect_sir(7);
}
END_TEST

/* Issue 7 regression: an endless SCRIPTS loop returns to the vCPU, keeps running from the
 * timer, and ends with ISTAT.ABRT. */
START_TEST(test_regress_endless_loop)
{
    pc = SCRIPT;
    emit(0x80080000, SCRIPT); /* JUMP self */
    wr32(0x2c, SCRIPT);       /* returns: the slice ended */
    ck_assert_int_eq(rd(0x14) & 0x03, 0);
    usleep(200);
    timers__run(fx);          /* another slice */
    ck_assert_int_eq(rd(0x14) & 0x03, 0);
    wr(0x14, 0x80);           /* ABRT */
    ck_assert_int_eq(rd(0x14) & 0x01, 0x01);
    wr(0x14, 0x00);
    ck_assert_int_eq(rd(0x0c) & 0x10, 0x10); /* DSTAT.ABRT */
}
END_TEST

/* Issue 7 regression: DMA outside RAM, across its end, and fetches from nowhere fault. */
START_TEST(test_regress_dma_outside_ram)
{
    static const uint8_t cdb[6] = {0x12, 0, 0, 0, 36, 0};
    uint32_t end = (uint32_t)fx->ram_size;

    command_script(cdb, 6, 1, 36);
    /* Patch the data move's address to just below the end of RAM: it would cross it. */
    mem__phys_write(fx, SCRIPT + 0x1c, 4, end - 8);
    go();
    ck_assert_int_eq(rd(0x0c) & 0x20, 0x20); /* DSTAT.BF */

    pc = SCRIPT;
    emit(0xc0000100, 0xfff00000); /* MEMORY MOVE from ROM space */
    mem__phys_write(fx, pc, 4, DATA);
    pc += 4;
    go();
    ck_assert_int_eq(rd(0x0c) & 0x20, 0x20);

    wr32(0x2c, 0xe0000000); /* fetch from unassigned space */
    ck_assert_int_eq(rd(0x0c) & 0x20, 0x20);

    pc = SCRIPT;
    emit(0xe0340004, 0xfffffffe); /* STORE wrapping at 4 GiB */
    go();
    ck_assert_int_eq(rd(0x0c) & 0x20, 0x20);
}
END_TEST

/* Issue 7 regression: SCRIPTS writing the chip's own registers through BAR1 (DSP, ISTAT
 * with SRST) neither nest a second run nor break the running one. */
START_TEST(test_regress_reentry)
{
    uint32_t target = SCRIPT + 0x40;

    mem__phys_write(fx, DATA, 4, target);
    pc = SCRIPT;
    emit(0xc0000004, DATA); /* MEMORY MOVE 4 into DSP */
    mem__phys_write(fx, pc, 4, MMIO + 0x2c);
    pc = target;
    emit(0x98080000, 0x40);
    go();
    expect_sir(0x40);

    mem__phys_write(fx, DATA, 1, 0x40); /* SRST */
    pc = SCRIPT;
    emit(0xc0000001, DATA);
    mem__phys_write(fx, pc, 4, MMIO + 0x14);
    pc += 4;
    emit(0x98080000, 0x41); /* never reached: the chip reset itself */
    wr32(0x2c, SCRIPT);
    ck_assert_int_eq(rd(0x14) & 0x03, 0);
    ck_assert_uint_eq(rd32(0x2c), 0);

    /* A data phase cannot write registers: an INQUIRY aimed at BAR1 is a bus fault. */
    {
        static const uint8_t cdb[6] = {0x12, 0, 0, 0, 36, 0};
        command_script(cdb, 6, 1, 36);
        mem__phys_write(fx, SCRIPT + 0x1c, 4, MMIO);
        go();
        ck_assert_int_eq(rd(0x0c) & 0x20, 0x20);
    }
}
END_TEST

/* Issue 7 regression: message lengths that do not match what the target sends. */
START_TEST(test_regress_message_lengths)
{
    static const uint8_t cdb[6] = {0x00, 0, 0, 0, 0, 0};
    static const uint8_t ext[] = {0x80, 0x01, 0xff, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    uint8_t m;

    /* MESSAGE IN of 200 bytes: one comes, then the target leaves the bus. */
    command_script(cdb, 6, 0, 0);
    mem__phys_write(fx, SCRIPT + 0x20, 4, 0x0f0000c8); /* the MESSAGE IN move */
    ck_assert_int_eq(go() & 0x02, 0x02);
    ck_assert_int_eq(rd(0x42) & 0x04, 0x04); /* UDC */

    /* An extended message claiming 255 bytes, cut short by the end of the move: the target
     * rejects it and the command still runs. */
    put(DATA + 0x200, ext, sizeof(ext));
    command_script(cdb, 6, 0, 0);
    pc = SCRIPT + 8;
    emit(0x0e000000 | (uint32_t)sizeof(ext), DATA + 0x200);
    emit(0x0f000001, DATA + 0x32); /* MESSAGE REJECT comes in */
    emit(0x0a000006, DATA + 0x10);
    emit(0x0b000001, DATA + 0x30);
    emit(0x0f000001, DATA + 0x31);
    emit(0x98080000, 0x99);
    go();
    expect_sir(0x99);
    m = (uint8_t)mem__phys_read(fx, DATA + 0x32, 1);
    ck_assert_int_eq(m, 0x07);
    ck_assert_int_eq(status_byte(), 0);
}
END_TEST

static void request_sense(uint8_t *sense)
{
    static const uint8_t rs[6] = {0x03, 0, 0, 0, 18, 0};

    command_script(rs, 6, 1, 18);
    go();
    expect_sir(0x99);
    mem__phys_read_buf(fx, DATA + 0x1000, sense, 18);
}

/* Issue 7 regression: CDBs the disk does not take end in CHECK CONDITION with sense. */
START_TEST(test_regress_bogus_cdb)
{
    static const uint8_t bad[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t far[10] = {0x28, 0, 0, 0, 0x10, 0, 0, 0, 1, 0};
    uint8_t sense[18];

    command_script(bad, 6, 1, 0);
    go();
    expect_sir(0x99);
    ck_assert_int_eq(status_byte(), 2);
    request_sense(sense);
    ck_assert_int_eq(sense[2] & 0xf, 5);
    ck_assert_int_eq(sense[12], 0x20);

    command_script(far, 10, 1, 0);
    go();
    expect_sir(0x99);
    ck_assert_int_eq(status_byte(), 2);
    request_sense(sense);
    ck_assert_int_eq(sense[12], 0x21);
}
END_TEST

START_TEST(test_readonly_data_protect)
{
    static const uint8_t wr10[10] = {0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0};
    uint8_t sense[18];

    command_script(wr10, 10, 0, 512);
    /* The target goes to STATUS at once: the data move mismatches. */
    go();
    ck_assert_int_eq(rd(0x42) & 0x80, 0x80);
    wr32(0x2c, SCRIPT + 0x20);
    for (int i = 0; i < 1000 && !(rd(0x14) & 1); i++)
        usleep(100);
    expect_sir(0x99);
    ck_assert_int_eq(status_byte(), 2);
    request_sense(sense);
    ck_assert_int_eq(sense[2] & 0xf, 7);
    ck_assert_int_eq(sense[12], 0x27);
}
END_TEST

static Suite *lsi_suite(void)
{
    Suite *s = suite_create("devices/lsi53c895a");
    TCase *t = tcase_create("scripts");
    TCase *r = tcase_create("readonly");

    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_pci_identity);
    tcase_add_test(t, test_inquiry);
    tcase_add_test(t, test_read_write);
    tcase_add_test(t, test_phase_mismatch);
    tcase_add_test(t, test_selection_timeout);
    tcase_add_test(t, test_interrupts);
    tcase_add_test(t, test_memory_move_load_store);
    tcase_add_test(t, test_scripts_from_onchip_ram);
    tcase_add_test(t, test_regress_endless_loop);
    tcase_add_test(t, test_regress_dma_outside_ram);
    tcase_add_test(t, test_regress_reentry);
    tcase_add_test(t, test_regress_message_lengths);
    tcase_add_test(t, test_regress_bogus_cdb);
    suite_add_tcase(s, t);
    tcase_add_checked_fixture(r, setup_ro, teardown);
    tcase_add_test(r, test_readonly_data_protect);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    return fixture_run_suite(lsi_suite());
}
