/*
 * The SCSI disk's request state machine (scsi-disk.h): one command at a time, because the
 * disk never disconnects and so holds the bus until its command is over (no tagged
 * queueing is advertised; see scsi-cdb.c's INQUIRY).
 *
 * A READ moves through the image in pieces of SCSI_CHUNK bytes: the piece is read by the
 * worker (BUSY), offered to the adapter (DATA IN), and when the adapter has taken all of it
 * the next piece is read. A WRITE offers room for a piece (DATA OUT), writes it when full
 * (BUSY), and so on; with FUA (and for SYNCHRONIZE CACHE) a flush follows. The target is
 * never busy inside a call from the adapter for longer than it takes to queue a request,
 * and the vCPU keeps running while the worker reads or writes; when the worker is done,
 * the completion (on the vCPU thread) moves the state on and calls the adapter's wake.
 *
 * An abort (bus reset, ABORT messages) cannot recall a request the worker already has, so
 * the disk remembers that it is orphaned and drops its result; a command that arrives
 * before it finishes waits (BUSY) and starts when it does.
 */
#include "devices/scsi-disk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/blockdev.h"
#include "devices/scsi-internal.h"
#include "monitor/log.h"

static void wake(struct scsi_disk *d)
{
    if (d->wake)
        d->wake(d->wake_opaque);
}

void scsi_disk__good(struct scsi_disk *d)
{
    d->status = SCSI_STATUS_GOOD;
    d->state = SCSI_REQ_STATUS;
}

void scsi_disk__check(struct scsi_disk *d, uint8_t key, uint16_t asc)
{
    memset(d->sense, 0, sizeof(d->sense));
    d->sense[0] = 0x70; /* current error, fixed format */
    d->sense[2] = key;
    d->sense[7] = SCSI_SENSE_LEN - 8;
    d->sense[12] = (uint8_t)(asc >> 8);
    d->sense[13] = (uint8_t)asc;
    d->status = SCSI_STATUS_CHECK_CONDITION;
    d->state = SCSI_REQ_STATUS;
    LOG(DEV, 2, "scsi-disk: CHECK CONDITION key %x asc %04x", key, asc);
}

void scsi_disk__data_in(struct scsi_disk *d, uint32_t len)
{
    if (!len) {
        scsi_disk__good(d);
        return;
    }
    d->len = len;
    d->pos = 0;
    d->left = 0;
    d->writing = false;
    d->state = SCSI_REQ_DATA_IN;
}

static void io_done(struct blk_io *io);

static void submit(struct scsi_disk *d, enum blk_op op, uint32_t len)
{
    d->io.op = op;
    d->io.offset = d->offset;
    d->io.len = len;
    d->io.buf = d->buf;
    d->io.done = io_done;
    d->io.opaque = d;
    d->io_busy = true;
    d->state = SCSI_REQ_BUSY;
    blockdev__submit(d->bdev, &d->io);
}

static uint32_t piece(const struct scsi_disk *d)
{
    return d->left < SCSI_CHUNK ? (uint32_t)d->left : SCSI_CHUNK;
}

/* The next piece of a READ or WRITE, or the end of the command. */
static void next_piece(struct scsi_disk *d)
{
    uint32_t n = piece(d);

    if (!n) {
        if (d->fua && d->writing) {
            d->fua = false;
            submit(d, BLK_FLUSH, 0);
            return;
        }
        scsi_disk__good(d);
        return;
    }
    d->left -= n;
    d->len = n;
    d->pos = 0;
    if (d->writing) {
        d->state = SCSI_REQ_DATA_OUT; /* the image is written once the piece is full */
        return;
    }
    submit(d, BLK_READ, n);
}

void scsi_disk__start_rw(struct scsi_disk *d, bool write, uint64_t lba, uint32_t count, bool fua)
{
    if (lba > d->blocks || count > d->blocks - lba) {
        scsi_disk__check(d, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
        return;
    }
    if (write && d->readonly) {
        scsi_disk__check(d, SCSI_SENSE_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
        return;
    }
    d->writing = write;
    d->fua = fua;
    d->offset = lba * SCSI_BLOCK;
    d->left = (uint64_t)count * SCSI_BLOCK;
    next_piece(d);
}

void scsi_disk__start_flush(struct scsi_disk *d)
{
    d->writing = false;
    d->left = 0;
    submit(d, BLK_FLUSH, 0);
}

static void start(struct scsi_disk *d, unsigned lun, const uint8_t *cdb, unsigned len)
{
    d->len = d->pos = 0;
    d->left = 0;
    scsi_cdb__execute(d, lun, cdb, len);
}

static void io_done(struct blk_io *io)
{
    struct scsi_disk *d = io->opaque;

    d->io_busy = false;
    if (d->orphaned) {
        d->orphaned = false;
        if (d->deferred) {
            d->deferred = false;
            start(d, d->deferred_lun, d->deferred_cdb, d->deferred_len);
            if (d->state != SCSI_REQ_BUSY)
                wake(d);
        }
        return;
    }
    if (io->result) {
        LOG(DEV, 1, "scsi-disk %s: image %s failed: %s", d->serial,
            io->op == BLK_READ ? "read" : io->op == BLK_WRITE ? "write" : "flush",
            strerror(-io->result));
        scsi_disk__check(d, SCSI_SENSE_MEDIUM_ERROR, io->op == BLK_READ
                                                         ? SCSI_ASC_UNRECOVERED_READ_ERROR
                                                         : SCSI_ASC_WRITE_ERROR);
    } else if (io->op == BLK_READ) {
        d->offset += io->len;
        d->state = SCSI_REQ_DATA_IN;
    } else if (io->op == BLK_WRITE) {
        d->offset += io->len;
        next_piece(d);
    } else {
        scsi_disk__good(d);
    }
    if (d->state != SCSI_REQ_BUSY)
        wake(d);
}

/* ---- the adapter's side ---- */

void scsi_disk__command(struct scsi_disk *d, unsigned lun, const uint8_t *cdb, unsigned len)
{
    if (len > SCSI_MAX_CDB)
        len = SCSI_MAX_CDB;
    if (d->io_busy) { /* an aborted command's I/O is still with the worker */
        memcpy(d->deferred_cdb, cdb, len);
        d->deferred_len = len;
        d->deferred_lun = lun;
        d->deferred = true;
        d->state = SCSI_REQ_BUSY;
        return;
    }
    start(d, lun, cdb, len);
}

enum scsi_req_state scsi_disk__state(const struct scsi_disk *d)
{
    return d->state;
}

uint8_t *scsi_disk__data(struct scsi_disk *d, uint32_t *avail)
{
    if (d->state != SCSI_REQ_DATA_IN && d->state != SCSI_REQ_DATA_OUT) {
        *avail = 0;
        return NULL;
    }
    *avail = d->len - d->pos;
    return d->buf + d->pos;
}

void scsi_disk__advance(struct scsi_disk *d, uint32_t n)
{
    if (d->state != SCSI_REQ_DATA_IN && d->state != SCSI_REQ_DATA_OUT)
        return;
    if (n > d->len - d->pos)
        n = d->len - d->pos; /* the adapter never offers more; keep the buffer safe */
    d->pos += n;
    if (d->pos < d->len)
        return;
    if (d->state == SCSI_REQ_DATA_OUT) {
        submit(d, BLK_WRITE, d->len);
        return;
    }
    next_piece(d);
}

uint8_t scsi_disk__status(struct scsi_disk *d)
{
    return d->status;
}

void scsi_disk__done(struct scsi_disk *d)
{
    if (d->state == SCSI_REQ_STATUS)
        d->state = SCSI_REQ_IDLE;
}

void scsi_disk__abort(struct scsi_disk *d)
{
    if (d->io_busy)
        d->orphaned = true;
    d->deferred = false;
    d->state = SCSI_REQ_IDLE;
}

void scsi_disk__set_wake(struct scsi_disk *d, void (*fn)(void *opaque), void *opaque)
{
    d->wake = fn;
    d->wake_opaque = opaque;
}

struct scsi_disk *scsi_disk__new(struct machine *m, struct blockdev *b, const char *serial)
{
    struct scsi_disk *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    d->buf = malloc(SCSI_CHUNK);
    if (!d->buf) {
        free(d);
        return NULL;
    }
    d->m = m;
    d->bdev = b;
    snprintf(d->serial, sizeof(d->serial), "%s", serial);
    d->blocks = blockdev__size(b) / SCSI_BLOCK;
    d->readonly = blockdev__readonly(b);
    d->state = SCSI_REQ_IDLE;
    return d;
}

void scsi_disk__free(struct scsi_disk *d)
{
    if (!d)
        return;
    blockdev__close(d->bdev); /* waits for the worker; no callback runs */
    free(d->buf);
    free(d);
}
