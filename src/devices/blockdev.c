/*
 * Raw disk images behind the SCSI disks (blockdev.h).
 *
 * An image is one host file. readonly=on opens it O_RDONLY and refuses writes (-EROFS);
 * snapshot=on opens it O_RDONLY too and sends every write to an overlay: an unlinked
 * temporary file of the same size plus a bitmap of which 512-byte sectors it holds, so
 * reads take each sector from the overlay or the image. The overlay disappears with the
 * process, as QEMU's snapshot=on does.
 *
 * Threads: each image has one worker thread that takes requests in order from a queue and
 * runs pread/pwrite/fdatasync; a finished request goes to a done list. The vCPU thread owns
 * everything else: it submits, and it runs the done callbacks from a virtual-time timer that
 * is armed while requests are outstanding and polls the done list (first soon after the
 * submit, then backing off), because a completion must reach device state on the vCPU
 * thread and the timer is how both a running and a halted vCPU look at the outside world
 * (timer.h). The worker also kicks the vCPU so a busy guest looks at once. One worker per
 * image keeps requests in submission order, which the SCSI disk relies on (a write and
 * the SYNCHRONIZE CACHE after it).
 */
#define _GNU_SOURCE /* O_TMPFILE */
#include "devices/blockdev.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/timer.h"

#define SECTOR 512u
#define POLL_FIRST_NS 20000ull /* a page-cache read of 256 KiB takes about this long */
#define POLL_MAX_NS 1000000ull

struct blockdev {
    struct machine *m;
    char path[4096];
    int fd;         /* the image */
    int overlay_fd; /* snapshot=on: the overlay, else -1 */
    uint8_t *map;   /* snapshot=on: one bit per sector held by the overlay */
    uint64_t size;
    bool readonly;

    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct blk_io *queue, **queue_tail; /* submitted, not yet taken */
    struct blk_io *done, **done_tail;   /* finished, callbacks not yet run */
    int outstanding;                    /* submitted and not yet completed (vCPU side) */
    bool stop;

    struct timer *poll;
    uint64_t poll_ns; /* the current back-off step */
};

/* ---- -drive ---- */

static int set_bool(const char *key, const char *v, bool *out, char *err, size_t errlen)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no")) {
        *out = false;
        return 0;
    }
    snprintf(err, errlen, "%s=%s: expected on or off", key, v);
    return -1;
}

int blockdev__parse_spec(const char *spec, struct drive_spec *d, char *err, size_t errlen)
{
    char buf[4200], *tok, *save = NULL;

    memset(d, 0, sizeof(*d));
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "too long");
        return -1;
    }
    strcpy(buf, spec);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *v = strchr(tok, '=');

        if (!v) {
            snprintf(err, errlen, "expected key=value, not '%s'", tok);
            return -1;
        }
        *v++ = 0;
        if (!strcmp(tok, "file")) {
            if (!*v || strlen(v) >= sizeof(d->file)) {
                snprintf(err, errlen, "file= needs a path");
                return -1;
            }
            strcpy(d->file, v);
        } else if (!strcmp(tok, "id")) {
            if (!*v || strlen(v) >= sizeof(d->id)) {
                snprintf(err, errlen, "id= needs a name of at most %zu characters",
                         sizeof(d->id) - 1);
                return -1;
            }
            strcpy(d->id, v);
        } else if (!strcmp(tok, "format")) {
            if (strcmp(v, "raw")) {
                snprintf(err, errlen, "format=%s: only raw images are supported (convert with "
                         "'qemu-img convert -O raw')", v);
                return -1;
            }
        } else if (!strcmp(tok, "if")) {
            /* none: attached by a -device (scsi-hd); ide: QEMU's default interface */
            if (strcmp(v, "none") && strcmp(v, "ide")) {
                snprintf(err, errlen, "if=%s: supported are if=none (attach with -device "
                         "scsi-hd,drive=ID) and if=ide", v);
                return -1;
            }
            d->if_none = !strcmp(v, "none");
        } else if (!strcmp(tok, "index") || !strcmp(tok, "media")) {
            /* the IDE disk's business: kept in the spec string */
        } else if (!strcmp(tok, "readonly")) {
            if (set_bool(tok, v, &d->readonly, err, errlen))
                return -1;
        } else if (!strcmp(tok, "snapshot")) {
            if (set_bool(tok, v, &d->snapshot, err, errlen))
                return -1;
        } else if (!strcmp(tok, "cache")) {
            /* The image is always used through the host's page cache with fdatasync on
             * SYNCHRONIZE CACHE: every QEMU cache mode is accepted with that meaning. */
            if (strcmp(v, "none") && strcmp(v, "writeback") && strcmp(v, "writethrough") &&
                strcmp(v, "directsync") && strcmp(v, "unsafe")) {
                snprintf(err, errlen, "cache=%s: unknown cache mode", v);
                return -1;
            }
        } else {
            snprintf(err, errlen, "unknown key '%s' (known: file, if, id, format, readonly, "
                     "snapshot, cache, index, media)", tok);
            return -1;
        }
    }
    if (!d->file[0]) {
        snprintf(err, errlen, "file= is missing");
        return -1;
    }
    return 0;
}

/* ---- host I/O (worker thread) ---- */

static int full_pread(int fd, uint8_t *buf, uint64_t len, uint64_t off)
{
    while (len) {
        ssize_t n = pread(fd, buf, len, (off_t)off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0) { /* past the end of a file that shrank: zeros, as a hole reads */
            memset(buf, 0, len);
            return 0;
        }
        buf += n, len -= (uint64_t)n, off += (uint64_t)n;
    }
    return 0;
}

static int full_pwrite(int fd, const uint8_t *buf, uint64_t len, uint64_t off)
{
    while (len) {
        ssize_t n = pwrite(fd, buf, len, (off_t)off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        buf += n, len -= (uint64_t)n, off += (uint64_t)n;
    }
    return 0;
}

static bool in_overlay(const struct blockdev *b, uint64_t sector)
{
    return b->map[sector / 8] & (1u << (sector % 8));
}

static int snap_read(struct blockdev *b, uint8_t *buf, uint64_t len, uint64_t off)
{
    while (len) {
        uint64_t s = off / SECTOR, n = SECTOR - off % SECTOR;
        bool ov = in_overlay(b, s);
        int r;

        /* Take the longest run of sectors from the same file. */
        while (n < len && in_overlay(b, (off + n) / SECTOR) == ov)
            n += SECTOR;
        if (n > len)
            n = len;
        r = full_pread(ov ? b->overlay_fd : b->fd, buf, n, off);
        if (r)
            return r;
        buf += n, len -= n, off += n;
    }
    return 0;
}

static int snap_write(struct blockdev *b, const uint8_t *buf, uint64_t len, uint64_t off)
{
    uint8_t sec[SECTOR];

    while (len) {
        uint64_t s = off / SECTOR, in = off % SECTOR, n = SECTOR - in;
        int r;

        if (n > len)
            n = len;
        if (n < SECTOR) { /* part of a sector: the overlay must hold the whole sector */
            r = snap_read(b, sec, SECTOR, s * SECTOR);
            if (r)
                return r;
            memcpy(sec + in, buf, n);
            r = full_pwrite(b->overlay_fd, sec, SECTOR, s * SECTOR);
        } else {
            r = full_pwrite(b->overlay_fd, buf, SECTOR, off);
        }
        if (r)
            return r;
        b->map[s / 8] |= (uint8_t)(1u << (s % 8));
        buf += n, len -= n, off += n;
    }
    return 0;
}

static int do_io(struct blockdev *b, struct blk_io *io)
{
    if (io->op == BLK_FLUSH) {
        if (b->readonly || b->overlay_fd >= 0)
            return 0;
        return fdatasync(b->fd) ? -errno : 0;
    }
    if (io->offset > b->size || io->len > b->size - io->offset)
        return -EINVAL; /* the disk checks ranges first; this is the last line */
    if (io->op == BLK_READ)
        return b->overlay_fd >= 0 ? snap_read(b, io->buf, io->len, io->offset)
                                  : full_pread(b->fd, io->buf, io->len, io->offset);
    if (b->readonly)
        return -EROFS;
    return b->overlay_fd >= 0 ? snap_write(b, io->buf, io->len, io->offset)
                              : full_pwrite(b->fd, io->buf, io->len, io->offset);
}

static void *worker(void *arg)
{
    struct blockdev *b = arg;

    pthread_mutex_lock(&b->lock);
    for (;;) {
        struct blk_io *io;

        while (!b->queue && !b->stop)
            pthread_cond_wait(&b->cond, &b->lock);
        if (!b->queue)
            break; /* stopping, and the queue is empty */
        io = b->queue;
        b->queue = io->next;
        if (!b->queue)
            b->queue_tail = &b->queue;
        pthread_mutex_unlock(&b->lock);

        io->result = do_io(b, io);

        pthread_mutex_lock(&b->lock);
        io->next = NULL;
        *b->done_tail = io;
        b->done_tail = &io->next;
        pthread_cond_broadcast(&b->cond);
        if (b->m && b->m->cpu)
            machine__kick(b->m);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* ---- the vCPU side ---- */

int blockdev__poll(struct blockdev *b, bool wait)
{
    struct blk_io *list;
    int n = 0;

    pthread_mutex_lock(&b->lock);
    if (wait) {
        /* Everything submitted is either queued, running, or on the done list. */
        int queued_or_done;
        for (;;) {
            queued_or_done = 0;
            for (struct blk_io *io = b->done; io; io = io->next)
                queued_or_done++;
            if (queued_or_done >= b->outstanding)
                break;
            pthread_cond_wait(&b->cond, &b->lock);
        }
    }
    list = b->done;
    b->done = NULL;
    b->done_tail = &b->done;
    pthread_mutex_unlock(&b->lock);
    while (list) {
        struct blk_io *io = list;

        list = io->next;
        io->next = NULL;
        b->outstanding--;
        n++;
        io->done(io); /* may submit more */
    }
    return n;
}

static void poll_timer(struct machine *m, void *opaque)
{
    struct blockdev *b = opaque;

    if (blockdev__poll(b, false))
        b->poll_ns = POLL_FIRST_NS;
    else if (b->poll_ns < POLL_MAX_NS)
        b->poll_ns *= 2;
    if (b->outstanding)
        timer__mod(b->poll, timers__now(m) + b->poll_ns);
}

void blockdev__submit(struct blockdev *b, struct blk_io *io)
{
    io->next = NULL;
    io->result = 0;
    b->outstanding++;
    pthread_mutex_lock(&b->lock);
    *b->queue_tail = io;
    b->queue_tail = &io->next;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    if (b->poll && !timer__pending(b->poll)) {
        b->poll_ns = POLL_FIRST_NS;
        timer__mod(b->poll, timers__now(b->m) + b->poll_ns);
    }
}

int blockdev__pending(const struct blockdev *b)
{
    return b->outstanding;
}

uint64_t blockdev__size(const struct blockdev *b)
{
    return b->size;
}

bool blockdev__readonly(const struct blockdev *b)
{
    return b->readonly;
}

static int open_overlay(struct blockdev *b)
{
    const char *dir = getenv("TMPDIR");
    char tmpl[4200];
    int fd;

    if (!dir || !*dir)
        dir = "/tmp";
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) { /* file systems without O_TMPFILE */
        snprintf(tmpl, sizeof(tmpl), "%s/tachyon-snapshot-XXXXXX", dir);
        fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd >= 0)
            unlink(tmpl);
    }
    if (fd < 0 || ftruncate(fd, (off_t)b->size))
        return -1;
    b->overlay_fd = fd;
    b->map = calloc(b->size / SECTOR / 8 + 1, 1);
    return b->map ? 0 : -1;
}

struct blockdev *blockdev__open(struct machine *m, const struct drive_spec *d, char *err,
                                size_t errlen)
{
    struct blockdev *b = calloc(1, sizeof(*b));
    struct stat st;

    if (!b) {
        snprintf(err, errlen, "out of memory opening '%s'", d->file);
        return NULL;
    }
    b->m = m;
    b->fd = b->overlay_fd = -1;
    snprintf(b->path, sizeof(b->path), "%s", d->file);
    b->readonly = d->readonly;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->queue_tail = &b->queue;
    b->done_tail = &b->done;
    b->fd = open(d->file, (d->readonly || d->snapshot ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (b->fd < 0) {
        snprintf(err, errlen, "-drive file=%s: cannot open the image: %s%s", d->file,
                 strerror(errno),
                 errno == EACCES || errno == EROFS ? " (add readonly=on or snapshot=on)" : "");
        goto fail;
    }
    if (fstat(b->fd, &st) || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        snprintf(err, errlen, "-drive file=%s: not a regular file or block device", d->file);
        goto fail;
    }
    b->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : (uint64_t)lseek(b->fd, 0, SEEK_END);
    if (b->size < SECTOR) {
        snprintf(err, errlen, "-drive file=%s: the image is smaller than one 512-byte sector",
                 d->file);
        goto fail;
    }
    if (d->snapshot && open_overlay(b)) {
        snprintf(err, errlen, "-drive file=%s,snapshot=on: cannot create the overlay in $TMPDIR "
                 "or /tmp: %s", d->file, strerror(errno));
        goto fail;
    }
    if (m && m->timers) {
        b->poll = timer__new(m, poll_timer, b);
        if (!b->poll) {
            snprintf(err, errlen, "out of memory opening '%s'", d->file);
            goto fail;
        }
    }
    if (pthread_create(&b->thread, NULL, worker, b)) {
        snprintf(err, errlen, "-drive file=%s: cannot start the I/O thread", d->file);
        goto fail;
    }
    b->started = true;
    return b;
fail:
    blockdev__close(b);
    return NULL;
}

void blockdev__close(struct blockdev *b)
{
    if (!b)
        return;
    if (b->started) {
        /* The worker finishes what was queued; the callbacks do not run (their owner is
         * going away). */
        pthread_mutex_lock(&b->lock);
        b->stop = true;
        pthread_cond_broadcast(&b->cond);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
    }
    if (b->poll)
        timer__free(b->poll);
    if (b->fd >= 0)
        close(b->fd);
    if (b->overlay_fd >= 0)
        close(b->overlay_fd);
    free(b->map);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    free(b);
}
