/*
 * A SCSI direct-access device (scsi-hd) on a raw image: the target side of the bus. The host
 * adapter hands it a CDB and then follows the phase the target asks for, moving data to or
 * from the target's buffer one piece at a time; the disk reads and writes its image through
 * blockdev's worker thread and tells the adapter (the wake callback, on the vCPU thread)
 * when it stops being busy. Commands are in scsi-cdb.c, the request state machine in
 * scsi-disk.c.
 */
#ifndef TACHYON_SCSI_DISK_H
#define TACHYON_SCSI_DISK_H

#include <stdbool.h>
#include <stdint.h>

struct machine;
struct blockdev;
struct scsi_disk;

/* What the target wants from the bus now. */
enum scsi_req_state {
    SCSI_REQ_IDLE,     /* no command: bus free as far as this target cares */
    SCSI_REQ_BUSY,     /* working (image I/O): REQ is not asserted */
    SCSI_REQ_DATA_IN,  /* bytes ready for the initiator */
    SCSI_REQ_DATA_OUT, /* room for bytes from the initiator */
    SCSI_REQ_STATUS,   /* the status byte is ready */
};

struct scsi_disk *scsi_disk__new(struct machine *m, struct blockdev *b, const char *serial);
void scsi_disk__free(struct scsi_disk *d); /* also closes the blockdev */

/* The adapter's callback for "left SCSI_REQ_BUSY"; it runs on the vCPU thread, never inside
 * a scsi_disk__ call. */
void scsi_disk__set_wake(struct scsi_disk *d, void (*wake)(void *opaque), void *opaque);

/* Length of the CDB that starts with this operation code (6, 10, 12 or 16). */
unsigned scsi_cdb__length(uint8_t opcode);

/* Begin a command (the whole CDB has been transferred). */
void scsi_disk__command(struct scsi_disk *d, unsigned lun, const uint8_t *cdb, unsigned len);
enum scsi_req_state scsi_disk__state(const struct scsi_disk *d);
/* In a data phase: where the next bytes go or come from, and how many the target takes or
 * offers before it changes phase or pauses. */
uint8_t *scsi_disk__data(struct scsi_disk *d, uint32_t *avail);
void scsi_disk__advance(struct scsi_disk *d, uint32_t n);
/* In the status phase: the status byte; the command is over once the adapter has it. */
uint8_t scsi_disk__status(struct scsi_disk *d);
void scsi_disk__done(struct scsi_disk *d);
/* Bus reset or an abort message: drop the command (image I/O in flight still finishes, and
 * the next command waits for it). */
void scsi_disk__abort(struct scsi_disk *d);

#endif
