/*
 * devices/scsi-disk and devices/blockdev without an adapter: commands go straight to the
 * target and completions are waited for with blockdev__poll. INQUIRY VPD pages, READ
 * CAPACITY (16), MODE SENSE with the caching page and the WP bit, REPORT LUNS, LUNs other
 * than 0, multi-piece READs, SYNCHRONIZE CACHE, snapshot=on, and -drive parsing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/blockdev.h"
#include "devices/scsi-disk.h"
#include "fixture.h"

#define SECTORS 4096 /* 2 MiB: a READ of all of it takes several pieces */

static char img[64];
static struct blockdev *bdev;
static struct scsi_disk *disk;

static void open_disk(const char *extra)
{
    char spec[256], err[256];
    struct drive_spec d;

    snprintf(spec, sizeof(spec), "if=none,id=d0,file=%s,format=raw%s", img, extra);
    ck_assert_int_eq(blockdev__parse_spec(spec, &d, err, sizeof(err)), 0);
    bdev = blockdev__open(NULL, &d, err, sizeof(err));
    ck_assert_ptr_nonnull(bdev);
    disk = scsi_disk__new(NULL, bdev, "d0");
    ck_assert_ptr_nonnull(disk);
}

static void setup(void)
{
    FILE *f;

    snprintf(img, sizeof(img), "/tmp/test_scsi.%d.img", (int)getpid());
    f = fopen(img, "wb");
    ck_assert_ptr_nonnull(f);
    for (unsigned i = 0; i < SECTORS * 512u; i++)
        fputc((int)(i / 512 + i) & 0xff, f);
    fclose(f);
    open_disk("");
}

static void teardown(void)
{
    scsi_disk__free(disk);
    unlink(img);
}

/* Run a command to its end, collecting up to max bytes of DATA IN (or sending out). */
static uint8_t run(const uint8_t *cdb, unsigned len, uint8_t *data, uint32_t max,
                   uint32_t *got, unsigned lun)
{
    uint32_t n = 0;

    scsi_disk__command(disk, lun, cdb, len);
    for (;;) {
        enum scsi_req_state st = scsi_disk__state(disk);
        uint32_t avail;
        uint8_t *p;

        if (st == SCSI_REQ_BUSY) {
            blockdev__poll(bdev, true);
            continue;
        }
        if (st == SCSI_REQ_STATUS)
            break;
        ck_assert(st == SCSI_REQ_DATA_IN || st == SCSI_REQ_DATA_OUT);
        p = scsi_disk__data(disk, &avail);
        ck_assert_uint_le(n + avail, max);
        if (st == SCSI_REQ_DATA_IN)
            memcpy(data + n, p, avail);
        else
            memcpy(p, data + n, avail);
        n += avail;
        scsi_disk__advance(disk, avail);
    }
    if (got)
        *got = n;
    {
        uint8_t s = scsi_disk__status(disk);
        scsi_disk__done(disk);
        return s;
    }
}

static uint8_t buf[SECTORS * 512];

START_TEST(test_vpd_pages)
{
    static const uint8_t p0[6] = {0x12, 1, 0x00, 0, 255, 0};
    static const uint8_t p80[6] = {0x12, 1, 0x80, 0, 255, 0};
    static const uint8_t p83[6] = {0x12, 1, 0x83, 0, 255, 0};
    static const uint8_t pbad[6] = {0x12, 1, 0xb0, 0, 255, 0};
    uint32_t n;

    ck_assert_int_eq(run(p0, 6, buf, 256, &n, 0), 0);
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(buf[5], 0x80);
    ck_assert_int_eq(buf[6], 0x83);
    ck_assert_int_eq(run(p80, 6, buf, 256, &n, 0), 0);
    ck_assert_mem_eq(buf + 4, "d0", 2);
    ck_assert_int_eq(run(p83, 6, buf, 256, &n, 0), 0);
    ck_assert_int_eq(buf[5] & 0xf, 1);
    ck_assert_mem_eq(buf + 8, "TACHYON d0", 10);
    ck_assert_int_eq(run(pbad, 6, buf, 256, &n, 0), 2);
}
END_TEST

START_TEST(test_capacity_mode_luns)
{
    static const uint8_t rc16[16] = {0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0};
    static const uint8_t ms6[6] = {0x1a, 0x08, 0x08, 0, 255, 0};
    static const uint8_t rl[12] = {0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0};
    static const uint8_t tur[6] = {0};
    static const uint8_t inq[6] = {0x12, 0, 0, 0, 36, 0};
    uint32_t n;

    ck_assert_int_eq(run(rc16, 16, buf, 64, &n, 0), 0);
    ck_assert_uint_eq(n, 32);
    ck_assert_int_eq(buf[7], (SECTORS - 1) & 0xff);
    ck_assert_int_eq(buf[6], (SECTORS - 1) >> 8);
    ck_assert_int_eq(run(ms6, 6, buf, 255, &n, 0), 0);
    ck_assert_uint_eq(n, 4 + 20);
    ck_assert_int_eq(buf[2] & 0x80, 0); /* not write protected */
    ck_assert_int_eq(buf[4], 0x08);
    ck_assert_int_eq(buf[6] & 0x04, 0x04); /* WCE */
    ck_assert_int_eq(run(rl, 12, buf, 64, &n, 0), 0);
    ck_assert_uint_eq(n, 16);
    ck_assert_int_eq(buf[3], 8);
    ck_assert_int_eq(run(tur, 6, buf, 0, &n, 1), 2); /* LUN 1 does not exist */
    ck_assert_int_eq(run(inq, 6, buf, 64, &n, 1), 0);
    ck_assert_int_eq(buf[0], 0x7f);
}
END_TEST

START_TEST(test_big_read_and_sync)
{
    static const uint8_t rd16[16] = {0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, SECTORS >> 8, 0,
                                     0, 0};
    static const uint8_t sync10[10] = {0x35, 0};
    uint32_t n;

    ck_assert_int_eq(run(rd16, 16, buf, sizeof(buf), &n, 0), 0);
    ck_assert_uint_eq(n, SECTORS * 512u);
    for (unsigned i = 0; i < n; i += 4099)
        ck_assert_int_eq(buf[i], (i / 512 + i) & 0xff);
    ck_assert_int_eq(run(sync10, 10, buf, 0, &n, 0), 0);
}
END_TEST

START_TEST(test_snapshot_overlay)
{
    static const uint8_t wr10[10] = {0x2a, 0, 0, 0, 0, 3, 0, 0, 1, 0};
    static const uint8_t rd10[10] = {0x28, 0, 0, 0, 0, 2, 0, 0, 3, 0};
    uint8_t sector[512];
    FILE *f;

    scsi_disk__free(disk);
    open_disk(",snapshot=on");
    memset(buf, 0x5a, 512);
    ck_assert_int_eq(run(wr10, 10, buf, 512, NULL, 0), 0);
    ck_assert_int_eq(run(rd10, 10, buf, 3 * 512, NULL, 0), 0);
    ck_assert_int_eq(buf[0], (2 * 512 + 2) & 0xff); /* sector 2 from the image */
    ck_assert_int_eq(buf[512], 0x5a);               /* sector 3 from the overlay */
    ck_assert_int_eq(buf[1024], (4 * 512 + 4) & 0xff);
    f = fopen(img, "rb");
    fseek(f, 3 * 512, SEEK_SET);
    ck_assert_int_eq((int)fread(sector, 1, 512, f), 512);
    fclose(f);
    ck_assert_int_eq(sector[0], (3 * 512 + 3) & 0xff); /* the image is untouched */
}
END_TEST

START_TEST(test_drive_spec)
{
    struct drive_spec d;
    char err[256];

    ck_assert_int_eq(blockdev__parse_spec("if=none,id=x,file=a,format=raw,readonly=on,cache=none",
                                          &d, err, sizeof(err)), 0);
    ck_assert(d.readonly && d.if_none);
    ck_assert_int_eq(blockdev__parse_spec("file=a,format=qcow2", &d, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "raw"));
    ck_assert_int_eq(blockdev__parse_spec("file=a,colour=red", &d, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "colour"));
    ck_assert_int_eq(blockdev__parse_spec("if=none,id=x", &d, err, sizeof(err)), -1);
    ck_assert_int_eq(blockdev__parse_spec("file=a,snapshot=maybe", &d, err, sizeof(err)), -1);
}
END_TEST

static Suite *scsi_suite(void)
{
    Suite *s = suite_create("devices/scsi-disk");
    TCase *t = tcase_create("commands");

    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_vpd_pages);
    tcase_add_test(t, test_capacity_mode_luns);
    tcase_add_test(t, test_big_read_and_sync);
    tcase_add_test(t, test_snapshot_overlay);
    tcase_add_test(t, test_drive_spec);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return fixture_run_suite(scsi_suite());
}
