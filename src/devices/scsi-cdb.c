/*
 * The SCSI disk's command set (SBC-3, SPC-4): INQUIRY (standard data and the VPD pages
 * 0x00, 0x80, 0x83), TEST UNIT READY, REQUEST SENSE, READ CAPACITY (10) and (16),
 * READ/WRITE (6, 10, 12, 16), VERIFY (10, 16), MODE SENSE (6, 10) with the caching page,
 * SYNCHRONIZE CACHE (10, 16), START STOP UNIT and REPORT LUNS. Anything else ends in CHECK
 * CONDITION, ILLEGAL REQUEST with the sense code SPC gives for it, as do LBAs past the end
 * and commands to logical units other than 0.
 *
 * Emulated answers are built in the disk's buffer and cut to the CDB's allocation length.
 * Every command but REQUEST SENSE clears the sense of the previous one; there is no
 * autosense (the initiator asks for it), and no unit attention after reset.
 *
 * The INQUIRY data claim neither synchronous nor wide transfers nor tagged queueing: the
 * disk talks narrow and asynchronous, so initiators do not negotiate (and the adapter
 * answers negotiation messages with MESSAGE REJECT), and it holds one command at a time.
 */
#include <stdio.h>
#include <string.h>

#include "devices/scsi-internal.h"
#include "monitor/log.h"

/* Operation codes. */
#define TEST_UNIT_READY 0x00
#define REQUEST_SENSE 0x03
#define READ_6 0x08
#define WRITE_6 0x0a
#define INQUIRY 0x12
#define MODE_SELECT_6 0x15
#define MODE_SENSE_6 0x1a
#define START_STOP_UNIT 0x1b
#define READ_CAPACITY_10 0x25
#define READ_10 0x28
#define WRITE_10 0x2a
#define VERIFY_10 0x2f
#define SYNCHRONIZE_CACHE_10 0x35
#define MODE_SENSE_10 0x5a
#define READ_16 0x88
#define WRITE_16 0x8a
#define VERIFY_16 0x8f
#define SYNCHRONIZE_CACHE_16 0x91
#define SERVICE_ACTION_IN_16 0x9e
#define SAI_READ_CAPACITY_16 0x10
#define REPORT_LUNS 0xa0
#define READ_12 0xa8
#define WRITE_12 0xaa

#define MODE_PAGE_CACHING 0x08
#define MODE_PAGE_CONTROL 0x0a
#define MODE_PAGE_ALL 0x3f

#define VENDOR "TACHYON "
#define PRODUCT "TACHYON HARDDISK"
#define REVISION "0.1 "

unsigned scsi_cdb__length(uint8_t opcode)
{
    switch (opcode >> 5) { /* the group code (SPC-4 4.2.5.1) */
    case 0: return 6;
    case 1:
    case 2: return 10;
    case 4: return 16;
    case 5: return 12;
    default: return 6; /* reserved and vendor groups: the opcode is refused anyway */
    }
}

static uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static void reply(struct scsi_disk *d, uint32_t produced, uint32_t alloc)
{
    scsi_disk__data_in(d, produced < alloc ? produced : alloc);
}

static void invalid_field(struct scsi_disk *d)
{
    scsi_disk__check(d, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
}

static void inquiry(struct scsi_disk *d, unsigned lun, const uint8_t *cdb)
{
    uint8_t *b = d->buf;
    uint32_t alloc = be16(cdb + 3), n;
    size_t slen = strlen(d->serial);

    memset(b, 0, 256);
    if (!(cdb[1] & 1)) { /* standard data */
        if (cdb[2]) {
            invalid_field(d);
            return;
        }
        /* Peripheral qualifier 3 (no logical unit here) for LUNs other than 0. */
        b[0] = lun ? 0x7f : 0x00;
        b[2] = 0x05; /* SPC-3 */
        b[3] = 0x02; /* response data format 2 */
        b[4] = 36 - 5;
        memcpy(b + 8, VENDOR, 8);
        memcpy(b + 16, PRODUCT, 16);
        memcpy(b + 32, REVISION, 4);
        reply(d, 36, alloc);
        return;
    }
    if (lun) {
        scsi_disk__check(d, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LUN_NOT_SUPPORTED);
        return;
    }
    b[1] = cdb[2];
    switch (cdb[2]) {
    case 0x00: /* supported VPD pages */
        b[3] = 3;
        b[4] = 0x00, b[5] = 0x80, b[6] = 0x83;
        n = 7;
        break;
    case 0x80: /* unit serial number */
        b[3] = (uint8_t)slen;
        memcpy(b + 4, d->serial, slen);
        n = 4 + (uint32_t)slen;
        break;
    case 0x83: /* device identification: one T10 vendor ID designator */
        b[4] = 0x02; /* code set ASCII */
        b[5] = 0x01; /* association: logical unit; designator type: T10 vendor ID */
        b[7] = (uint8_t)(8 + slen);
        memcpy(b + 8, VENDOR, 8);
        memcpy(b + 16, d->serial, slen);
        n = 16 + (uint32_t)slen;
        put16(b + 2, n - 4);
        break;
    default:
        invalid_field(d);
        return;
    }
    reply(d, n, alloc);
}

/* The mode pages asked for after the header and block descriptor at p; returns their
 * length, or -1 for an unsupported page. pc: 0 current, 1 changeable, 2 default. */
static int mode_pages(const struct scsi_disk *d, uint8_t *p, unsigned page, unsigned pc)
{
    int n = 0;

    (void)d;
    if (page == MODE_PAGE_CACHING || page == MODE_PAGE_ALL) {
        p[n] = MODE_PAGE_CACHING;
        p[n + 1] = 0x12;
        /* Write cache enabled: writes reach the host's page cache, SYNCHRONIZE CACHE and FUA
         * reach the image's disk. Nothing is changeable. */
        if (pc != 1)
            p[n + 2] = 0x04; /* WCE */
        n += 20;
    }
    if (page == MODE_PAGE_CONTROL || page == MODE_PAGE_ALL) {
        p[n] = MODE_PAGE_CONTROL;
        p[n + 1] = 0x0a;
        n += 12;
    }
    return n ? n : -1;
}

static void mode_sense(struct scsi_disk *d, const uint8_t *cdb, bool ten)
{
    uint8_t *b = d->buf;
    unsigned page = cdb[2] & 0x3f, pc = cdb[2] >> 6, hdr = ten ? 8 : 4;
    bool dbd = cdb[1] & 0x08;
    uint32_t alloc = ten ? be16(cdb + 7) : cdb[4], n;
    int pages;

    if (pc == 3) {
        scsi_disk__check(d, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_SAVING_PARAMS_NOT_SUPPORTED);
        return;
    }
    if (cdb[3]) { /* subpages */
        invalid_field(d);
        return;
    }
    memset(b, 0, 512);
    n = hdr;
    if (!dbd) { /* one short block descriptor */
        uint64_t blocks = d->blocks > 0xffffff ? 0xffffff : d->blocks;
        put32(b + n, (uint32_t)blocks);
        put32(b + n + 4, SCSI_BLOCK);
        n += 8;
    }
    pages = mode_pages(d, b + n, page, pc);
    if (pages < 0) {
        invalid_field(d);
        return;
    }
    n += (uint32_t)pages;
    /* Device-specific parameter: WP for a read-only image, DPOFUA: FUA is honoured. */
    if (ten) {
        put16(b, n - 2);
        b[3] = (uint8_t)((d->readonly ? 0x80 : 0) | 0x10);
        b[7] = dbd ? 0 : 8;
    } else {
        b[0] = (uint8_t)(n - 1);
        b[2] = (uint8_t)((d->readonly ? 0x80 : 0) | 0x10);
        b[3] = dbd ? 0 : 8;
    }
    reply(d, n, alloc);
}

static void read_capacity(struct scsi_disk *d, const uint8_t *cdb, bool sixteen)
{
    uint64_t last = d->blocks - 1;

    memset(d->buf, 0, 32);
    if (!sixteen) {
        put32(d->buf, last > 0xffffffffu ? 0xffffffffu : (uint32_t)last);
        put32(d->buf + 4, SCSI_BLOCK);
        scsi_disk__data_in(d, 8);
        return;
    }
    put64(d->buf, last);
    put32(d->buf + 8, SCSI_BLOCK);
    reply(d, 32, be32(cdb + 10));
}

static void request_sense(struct scsi_disk *d, unsigned lun, const uint8_t *cdb)
{
    if (cdb[1] & 1) { /* descriptor format: not supported */
        invalid_field(d);
        return;
    }
    if (lun) {
        memset(d->buf, 0, SCSI_SENSE_LEN);
        d->buf[0] = 0x70;
        d->buf[2] = SCSI_SENSE_ILLEGAL_REQUEST;
        d->buf[7] = SCSI_SENSE_LEN - 8;
        d->buf[12] = SCSI_ASC_LUN_NOT_SUPPORTED >> 8;
    } else if (d->sense[0]) {
        memcpy(d->buf, d->sense, SCSI_SENSE_LEN);
    } else {
        memset(d->buf, 0, SCSI_SENSE_LEN);
        d->buf[0] = 0x70;
        d->buf[7] = SCSI_SENSE_LEN - 8;
    }
    memset(d->sense, 0, sizeof(d->sense)); /* reported: cleared */
    reply(d, SCSI_SENSE_LEN, cdb[4]);
}

static void report_luns(struct scsi_disk *d, const uint8_t *cdb)
{
    uint32_t alloc = be32(cdb + 6);

    if (alloc < 16) { /* SPC-4 6.33: less than 16 is an invalid field */
        invalid_field(d);
        return;
    }
    memset(d->buf, 0, 16);
    put32(d->buf, 8); /* one LUN: 0 */
    reply(d, 16, alloc);
}

/* READ and WRITE in all sizes: the block address and count the CDB names. */
static void read_write(struct scsi_disk *d, const uint8_t *cdb, bool write)
{
    uint64_t lba;
    uint32_t count;
    bool fua = false;

    switch (cdb[0]) {
    case READ_6:
    case WRITE_6:
        lba = (uint32_t)(cdb[1] & 0x1f) << 16 | be16(cdb + 2);
        count = cdb[4] ? cdb[4] : 256; /* SBC-3: 0 means 256 blocks in the 6-byte CDBs */
        break;
    case READ_10:
    case WRITE_10:
        lba = be32(cdb + 2);
        count = be16(cdb + 7);
        fua = cdb[1] & 0x08;
        break;
    case READ_12:
    case WRITE_12:
        lba = be32(cdb + 2);
        count = be32(cdb + 6);
        fua = cdb[1] & 0x08;
        break;
    default: /* READ_16, WRITE_16 */
        lba = be64(cdb + 2);
        count = be32(cdb + 10);
        fua = cdb[1] & 0x08;
        break;
    }
    scsi_disk__start_rw(d, write, lba, count, fua);
}

static void verify(struct scsi_disk *d, const uint8_t *cdb)
{
    bool sixteen = cdb[0] == VERIFY_16;
    uint64_t lba = sixteen ? be64(cdb + 2) : be32(cdb + 2);
    uint32_t count = sixteen ? be32(cdb + 10) : be16(cdb + 7);

    if (cdb[1] & 0x06) { /* BYTCHK: comparing with data from the initiator is not offered */
        invalid_field(d);
        return;
    }
    if (lba > d->blocks || count > d->blocks - lba) {
        scsi_disk__check(d, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
        return;
    }
    scsi_disk__good(d); /* the medium is a file: every block verifies */
}

void scsi_cdb__execute(struct scsi_disk *d, unsigned lun, const uint8_t *cdb, unsigned len)
{
    uint8_t op = cdb[0];

    LOG(DEV, 2, "scsi-disk %s: lun %u cdb %02x (%u bytes)", d->serial, lun, op, len);
    if (len < scsi_cdb__length(op)) {
        invalid_field(d);
        return;
    }
    if (op != REQUEST_SENSE)
        memset(d->sense, 0, sizeof(d->sense));
    if (lun && op != INQUIRY && op != REQUEST_SENSE) {
        scsi_disk__check(d, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LUN_NOT_SUPPORTED);
        return;
    }
    switch (op) {
    case TEST_UNIT_READY:
    case START_STOP_UNIT: /* a disk that is always spinning: nothing to start or stop */
        scsi_disk__good(d);
        break;
    case REQUEST_SENSE:
        request_sense(d, lun, cdb);
        break;
    case INQUIRY:
        inquiry(d, lun, cdb);
        break;
    case MODE_SENSE_6:
    case MODE_SENSE_10:
        mode_sense(d, cdb, op == MODE_SENSE_10);
        break;
    case READ_CAPACITY_10:
        read_capacity(d, cdb, false);
        break;
    case SERVICE_ACTION_IN_16:
        if ((cdb[1] & 0x1f) != SAI_READ_CAPACITY_16) {
            invalid_field(d);
            break;
        }
        read_capacity(d, cdb, true);
        break;
    case READ_6:
    case READ_10:
    case READ_12:
    case READ_16:
        read_write(d, cdb, false);
        break;
    case WRITE_6:
    case WRITE_10:
    case WRITE_12:
    case WRITE_16:
        read_write(d, cdb, true);
        break;
    case VERIFY_10:
    case VERIFY_16:
        verify(d, cdb);
        break;
    case SYNCHRONIZE_CACHE_10:
    case SYNCHRONIZE_CACHE_16:
        if (d->readonly)
            scsi_disk__good(d);
        else
            scsi_disk__start_flush(d);
        break;
    case REPORT_LUNS:
        report_luns(d, cdb);
        break;
    default:
        guest_error("scsi-disk %s: unsupported command 0x%02x", d->serial, op);
        scsi_disk__check(d, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
        break;
    }
}
