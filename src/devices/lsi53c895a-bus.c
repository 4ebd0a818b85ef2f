/*
 * The SCSI bus between the LSI53C895A (the initiator, ID 7) and its disks (targets 0-6),
 * at the level SCRIPTS see it: selection, the information transfer phases the target
 * asserts, and the target's side of the message protocol (SPI-5, SAM-5).
 *
 * After selection the target goes to MESSAGE OUT if ATN is asserted, else to COMMAND; it
 * takes IDENTIFY (choosing the LUN), NOP, the queue tag messages (taken and ignored: one
 * command at a time), MESSAGE REJECT, and the abort and reset messages (which end the
 * command and free the bus); extended messages (SDTR, WDTR, PPR) and anything unknown are
 * answered with MESSAGE REJECT, so transfers stay narrow and asynchronous. The chip drops
 * ATN with the last byte of a MESSAGE OUT block move. The CDB's length comes from its
 * group code; once it is complete the disk (scsi-disk.c) decides the phases: DATA IN/OUT
 * while it has bytes or room, no REQ while it is busy, then STATUS, then MESSAGE IN with
 * COMMAND COMPLETE, after which the target goes bus free. Targets never disconnect in the
 * middle of a command.
 *
 * Block moves move what the phase allows: a move that wants more than the target offers
 * ends in a phase mismatch (SIST0.MA, DBC and DNAD telling how far it got), or an
 * unexpected disconnect (SIST0.UDC) if the target went bus free; every guest address goes
 * through lsi__dma_read/write, and every count is clipped to what the target's buffers
 * hold, so bogus lengths from the guest cannot move data outside them.
 */
#include <string.h>

#include "devices/lsi53c895a-internal.h"
#include "devices/scsi-disk.h"
#include "monitor/log.h"

#define EXT_MSG_MAX 8 /* bytes of an extended message kept; longer ones are read and rejected */

static struct scsi_disk *disk(struct lsi *s)
{
    return s->target >= 0 ? s->disk[s->target] : NULL;
}

/* What the connected target asserts now. */
static void update_phase(struct lsi *s)
{
    struct scsi_disk *d = disk(s);

    if (!d) {
        s->phase = -1;
        return;
    }
    if (s->atn) {
        s->phase = SCSI_PHASE_MSG_OUT;
        return;
    }
    if (s->msgin_len) {
        s->phase = SCSI_PHASE_MSG_IN;
        return;
    }
    if (!s->cmd_started) {
        s->phase = SCSI_PHASE_COMMAND;
        return;
    }
    switch (scsi_disk__state(d)) {
    case SCSI_REQ_DATA_IN: s->phase = SCSI_PHASE_DATA_IN; break;
    case SCSI_REQ_DATA_OUT: s->phase = SCSI_PHASE_DATA_OUT; break;
    case SCSI_REQ_STATUS: s->phase = SCSI_PHASE_STATUS; break;
    default: s->phase = -1; break; /* busy */
    }
}

static void msgin(struct lsi *s, uint8_t b, enum lsi_msg_after after)
{
    if (s->msgin_len < LSI_MSGIN_MAX)
        s->msgin[s->msgin_len++] = b;
    s->msg_after = after;
}

void lsi__bus_disconnect(struct lsi *s)
{
    struct scsi_disk *d = disk(s);

    if (d && s->cmd_started)
        scsi_disk__abort(d);
    s->target = -1;
    s->phase = -1;
    s->atn = false;
    s->cmd_started = false;
    s->cdb_len = 0;
    s->msgin_len = 0;
    s->msgout_len = 0;
    s->msg_after = LSI_AFTER_NONE;
    s->sbcl = 0;
    s->socl &= (uint8_t)~LSI_SOCL_ATN;
}

void lsi__bus_reset(struct lsi *s)
{
    lsi__bus_disconnect(s);
    for (int i = 0; i < SCSI_MAX_TARGETS; i++)
        if (s->disk[i])
            scsi_disk__abort(s->disk[i]);
    s->sto = false;
}

int lsi__bus_select(struct lsi *s, unsigned id, bool atn)
{
    if (id >= SCSI_MAX_TARGETS || !s->disk[id])
        return -1;
    lsi__bus_disconnect(s);
    s->target = (int)id;
    s->lun = 0;
    s->atn = atn || (s->socl & LSI_SOCL_ATN);
    if (s->atn)
        s->sbcl |= LSI_SBCL_ATN;
    update_phase(s);
    return 0;
}

void lsi__bus_set_atn(struct lsi *s)
{
    if (s->target < 0)
        return; /* takes effect at the next selection (SOCL.ATN) */
    s->atn = true;
    update_phase(s);
}

void lsi__bus_wake(void *opaque)
{
    struct lsi *s = opaque;

    update_phase(s);
    if (s->wait == LSI_WAIT_REQ && s->phase >= 0) {
        s->wait = LSI_RUNNING;
        lsi__scripts_run(s);
    }
}

static void end_atn(struct lsi *s)
{
    s->atn = false;
    s->socl &= (uint8_t)~LSI_SOCL_ATN;
    s->sbcl &= (uint8_t)~LSI_SBCL_ATN;
    if (s->msgout_len) { /* ATN dropped inside a multi-byte message: it never completes */
        s->msgout_len = 0;
        msgin(s, SCSI_MSG_MESSAGE_REJECT, LSI_AFTER_PHASE);
    }
}

/* A complete two-byte (queue tag) or extended message. */
static void msgout_multi(struct lsi *s)
{
    if (s->msgout[0] == SCSI_MSG_EXTENDED) {
        LOG(DEV, 2, "lsi53c895a: extended message 0x%02x rejected", s->msgout[2]);
        msgin(s, SCSI_MSG_MESSAGE_REJECT, LSI_AFTER_PHASE);
    }
    s->msgout_len = 0;
}

/* How long the multi-byte message in msgout will be, once its length byte is known. */
static unsigned msgout_total(const struct lsi *s)
{
    if (s->msgout[0] != SCSI_MSG_EXTENDED)
        return 2;
    return s->msgout_len < 2 ? 2 : 2u + (s->msgout[1] ? s->msgout[1] : 256);
}

/* One message byte from the initiator. Returns false when the target left the bus. */
static bool msgout_byte(struct lsi *s, uint8_t b)
{
    if (s->msgout_len) {
        if (s->msgout_len < EXT_MSG_MAX)
            s->msgout[s->msgout_len] = b;
        s->msgout_len++;
        if (s->msgout_len >= msgout_total(s))
            msgout_multi(s);
        return true;
    }
    if (b & SCSI_MSG_IDENTIFY) {
        s->lun = b & 7;
        return true;
    }
    switch (b) {
    case SCSI_MSG_EXTENDED:
    case SCSI_MSG_SIMPLE_TAG:
    case SCSI_MSG_HEAD_OF_QUEUE_TAG:
    case SCSI_MSG_ORDERED_TAG:
        s->msgout[0] = b;
        s->msgout_len = 1;
        return true;
    case SCSI_MSG_NOP:
    case SCSI_MSG_MESSAGE_REJECT:
    case SCSI_MSG_INITIATOR_DETECTED_ERROR:
    case SCSI_MSG_PARITY_ERROR:
        return true;
    case SCSI_MSG_ABORT_TASK_SET:
    case SCSI_MSG_ABORT_TASK:
    case SCSI_MSG_CLEAR_TASK_SET:
    case SCSI_MSG_TARGET_RESET:
        lsi__bus_disconnect(s);
        return false;
    default:
        guest_error("lsi53c895a: message 0x%02x to target %d rejected", b, s->target);
        msgin(s, SCSI_MSG_MESSAGE_REJECT, LSI_AFTER_PHASE);
        return true;
    }
}

static int move_msgout(struct lsi *s)
{
    while (s->dbc) {
        uint8_t b;

        if (lsi__dma_read(s, s->dnad, &b, 1))
            return -1;
        s->dnad++, s->dbc--;
        s->sfbr = b;
        if (!msgout_byte(s, b))
            return s->dbc ? -3 : 0;
    }
    end_atn(s);
    return 0;
}

static int move_command(struct lsi *s)
{
    unsigned need = s->cdb_len ? scsi_cdb__length(s->cdb[0]) : SCSI_MAX_CDB;

    while (s->dbc && s->cdb_len < need) {
        uint8_t b;

        if (lsi__dma_read(s, s->dnad, &b, 1))
            return -1;
        s->dnad++, s->dbc--;
        s->cdb[s->cdb_len++] = b;
        if (s->cdb_len == 1) {
            need = scsi_cdb__length(b);
            s->sfbr = b;
        }
    }
    if (s->cdb_len == need) {
        s->cmd_started = true;
        s->cdb_len = 0;
        scsi_disk__command(disk(s), s->lun, s->cdb, need);
    }
    return 0;
}

static int move_data(struct lsi *s, int phase)
{
    struct scsi_disk *d = disk(s);

    while (s->dbc && s->phase == phase) {
        uint32_t avail, n;
        uint8_t *p = scsi_disk__data(d, &avail);

        n = avail < s->dbc ? avail : s->dbc;
        if (!p || !n)
            break;
        if (phase == SCSI_PHASE_DATA_IN ? lsi__dma_write(s, s->dnad, p, n)
                                        : lsi__dma_read(s, s->dnad, p, n))
            return -1;
        scsi_disk__advance(d, n);
        s->dnad += n, s->dbc -= n, s->csbc += n;
        update_phase(s);
    }
    return 0;
}

static int move_status(struct lsi *s)
{
    struct scsi_disk *d = disk(s);
    uint8_t st = scsi_disk__status(d);

    if (lsi__dma_write(s, s->dnad, &st, 1))
        return -1;
    s->dnad++, s->dbc--;
    s->sfbr = st;
    scsi_disk__done(d);
    s->cmd_started = false;
    msgin(s, SCSI_MSG_COMMAND_COMPLETE, LSI_AFTER_DISCONNECT);
    return 0;
}

static int move_msgin(struct lsi *s)
{
    uint32_t n = s->msgin_len < s->dbc ? s->msgin_len : s->dbc;

    if (lsi__dma_write(s, s->dnad, s->msgin, n))
        return -1;
    s->dnad += n, s->dbc -= n;
    s->sfbr = s->msgin[0];
    s->sidl = s->msgin[n - 1]; /* drivers read the last byte received here */
    s->msgin_len -= n;
    memmove(s->msgin, s->msgin + n, s->msgin_len);
    s->sbcl |= LSI_SBCL_ACK; /* the chip holds ACK after a message byte until CLEAR ACK */
    if (!s->msgin_len && s->msg_after == LSI_AFTER_DISCONNECT)
        lsi__bus_disconnect(s);
    return 0;
}

int lsi__bus_move(struct lsi *s)
{
    int phase = s->phase, r;

    if (!s->dbc)
        return 0;
    if (phase < 0)
        return s->target >= 0 ? 1 : -3;
    if (phase != (s->dcmd & 7))
        return -2; /* the target changed phase while the move waited */
    switch (phase) {
    case SCSI_PHASE_MSG_OUT: r = move_msgout(s); break;
    case SCSI_PHASE_COMMAND: r = move_command(s); break;
    case SCSI_PHASE_DATA_IN:
    case SCSI_PHASE_DATA_OUT: r = move_data(s, phase); break;
    case SCSI_PHASE_STATUS: r = move_status(s); break;
    default: r = move_msgin(s); break;
    }
    if (r)
        return r;
    update_phase(s);
    if (!s->dbc)
        return 0;
    if (s->target < 0)
        return -3;
    if (s->phase < 0)
        return 1; /* the target pauses: the move goes on when it is ready */
    return s->phase == phase ? 1 : -2;
}
