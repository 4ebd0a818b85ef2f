/*
 * The SCSI disk's state, shared by the request state machine (scsi-disk.c) and the command
 * set (scsi-cdb.c). Not for the host adapter: it goes through scsi-disk.h.
 */
#ifndef TACHYON_SCSI_INTERNAL_H
#define TACHYON_SCSI_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/blockdev.h"
#include "devices/scsi-disk.h"
#include "devices/scsi.h"

#define SCSI_BLOCK 512u
#define SCSI_CHUNK (256u << 10) /* the most one image I/O moves; larger commands loop */
#define SCSI_SENSE_LEN 18

struct scsi_disk {
    struct machine *m;
    struct blockdev *bdev;
    char serial[21];
    uint64_t blocks; /* capacity in SCSI_BLOCK blocks */
    bool readonly;

    uint8_t sense[SCSI_SENSE_LEN]; /* fixed-format sense of the last CHECK CONDITION */

    enum scsi_req_state state;
    uint8_t status;
    uint8_t *buf;      /* SCSI_CHUNK bytes */
    uint32_t len, pos; /* the current piece of a data phase in buf */

    /* A READ or WRITE in progress. */
    bool writing;
    uint64_t offset; /* image byte offset of the next piece */
    uint64_t left;   /* bytes after the current piece */
    bool fua;        /* flush before status */

    struct blk_io io;
    bool io_busy;   /* io is with the worker */
    bool orphaned;  /* ... and its command was aborted */
    bool deferred;  /* a command waits for an orphaned I/O to finish */
    uint8_t deferred_cdb[SCSI_MAX_CDB];
    unsigned deferred_len, deferred_lun;

    void (*wake)(void *opaque);
    void *wake_opaque;
};

/* scsi-cdb.c: run a command that needs no image I/O, or set up one that does. */
void scsi_cdb__execute(struct scsi_disk *d, unsigned lun, const uint8_t *cdb, unsigned len);

/* scsi-disk.c: end the command with GOOD, or with CHECK CONDITION and this sense. */
void scsi_disk__good(struct scsi_disk *d);
void scsi_disk__check(struct scsi_disk *d, uint8_t key, uint16_t asc);
/* Enter DATA IN with len bytes of buf (0: straight to GOOD status). */
void scsi_disk__data_in(struct scsi_disk *d, uint32_t len);
/* Start a READ or WRITE of count blocks at lba (checked), or a flush. */
void scsi_disk__start_rw(struct scsi_disk *d, bool write, uint64_t lba, uint32_t count, bool fua);
void scsi_disk__start_flush(struct scsi_disk *d);

#endif
