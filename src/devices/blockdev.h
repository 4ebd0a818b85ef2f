/*
 * Disk image backends: a raw image file opened read-write, read-only (readonly=on) or with
 * a private overlay (snapshot=on: writes go to an unlinked temporary file and are lost at
 * exit). Requests run on one worker thread per image so the vCPU never waits for the host's
 * disk (DESIGN.md §6); their completions run on the vCPU thread, from a virtual-time timer
 * that polls while requests are outstanding. See blockdev.c.
 */
#ifndef TACHYON_BLOCKDEV_H
#define TACHYON_BLOCKDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct machine;
struct blockdev;

/* A -drive specification, as options.c checks it and the disk opens it. */
struct drive_spec {
    char id[32];      /* id=, "" when absent */
    char file[4096];  /* file= */
    bool readonly;    /* readonly=on */
    bool snapshot;    /* snapshot=on */
    bool if_none;     /* if=none: attached by -device scsi-hd,drive=ID */
};

/* Parse "file=PATH,if=none,id=ID,format=raw,readonly=on,snapshot=on,cache=..."; 0, or -1
 * with a message naming the bad key in err. Does not touch the file. */
int blockdev__parse_spec(const char *spec, struct drive_spec *d, char *err, size_t errlen);

enum blk_op { BLK_READ, BLK_WRITE, BLK_FLUSH };

struct blk_io {
    enum blk_op op;
    uint64_t offset; /* bytes */
    uint32_t len;
    uint8_t *buf;
    int result; /* 0 or -errno, set before done() runs */
    void (*done)(struct blk_io *io);
    void *opaque;
    struct blk_io *next; /* blockdev.c's queues */
};

/* Open the image of d. NULL with a message in err ("cannot open 'x': ..."). */
struct blockdev *blockdev__open(struct machine *m, const struct drive_spec *d, char *err,
                                size_t errlen);
void blockdev__close(struct blockdev *b); /* waits for outstanding requests */

uint64_t blockdev__size(const struct blockdev *b);
bool blockdev__readonly(const struct blockdev *b);

/* Queue io (vCPU thread); io->done runs later on the vCPU thread, never inside this call. */
void blockdev__submit(struct blockdev *b, struct blk_io *io);
/* vCPU thread: run the completions that have arrived; with wait, first block until every
 * submitted request has finished (reset, tests). Returns how many ran. */
int blockdev__poll(struct blockdev *b, bool wait);
int blockdev__pending(const struct blockdev *b);

#endif
