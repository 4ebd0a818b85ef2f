/*
 * Virtual-time timers (timer.h): a binary min-heap of armed timers keyed by
 * deadline, owned by the vCPU thread. Each timer remembers its heap slot, so
 * re-arming and deleting are O(log n) without a search; device counts are
 * small (a PIT channel, the RTC, the APIC timer, a few disk completions), so
 * the heap mostly holds one to four entries.
 *
 * The one value other threads read is the earliest deadline: it is published
 * with an atomic store after every change of the heap's head, and
 * timers__next() loads it. Each change also re-arms the event loop's timerfd
 * (events__deadline_changed, a no-op when nothing moved), so a busy guest is
 * kicked out of translated code on time; inside timers__run() that happens
 * once, after the callbacks.
 *
 * timers__run() fires every timer whose deadline has passed, earliest first.
 * A callback may re-arm its own timer (periodic devices do), even in the
 * past, which makes it fire again in the same run: a device that fell behind
 * catches up edge by edge. A bound on firings per run keeps a callback that
 * re-arms at "now" forever from hanging the vCPU.
 */
#include "monitor/timer.h"

#include <stdlib.h>

#include "monitor/events.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/vtime.h"

#define MAX_FIRINGS_PER_RUN 10000

struct timer {
    struct timers *ts;
    timer_cb cb;
    void *opaque;
    uint64_t deadline;
    int slot; /* index in ts->heap, -1 while not armed */
};

struct timers {
    struct machine *m;
    struct timer **heap;
    int n, cap;
    uint64_t next;   /* heap[0]->deadline or UINT64_MAX; read by other threads */
    uint64_t frozen; /* test clock, UINT64_MAX when following vtime__ns() */
    bool running;    /* inside timers__run: tell the event loop once, at the end */
};

static void publish(struct timers *ts)
{
    uint64_t old = __atomic_load_n(&ts->next, __ATOMIC_RELAXED);
    uint64_t next = ts->n ? ts->heap[0]->deadline : UINT64_MAX;

    if (next == old)
        return;
    __atomic_store_n(&ts->next, next, __ATOMIC_RELEASE);
    if (!ts->running)
        events__deadline_changed(ts->m);
}

static void place(struct timers *ts, int i, struct timer *t)
{
    ts->heap[i] = t;
    t->slot = i;
}

static void sift_up(struct timers *ts, int i)
{
    struct timer *t = ts->heap[i];

    while (i > 0) {
        int parent = (i - 1) / 2;

        if (ts->heap[parent]->deadline <= t->deadline)
            break;
        place(ts, i, ts->heap[parent]);
        i = parent;
    }
    place(ts, i, t);
}

static void sift_down(struct timers *ts, int i)
{
    struct timer *t = ts->heap[i];

    for (;;) {
        int child = 2 * i + 1;

        if (child >= ts->n)
            break;
        if (child + 1 < ts->n && ts->heap[child + 1]->deadline < ts->heap[child]->deadline)
            child++;
        if (t->deadline <= ts->heap[child]->deadline)
            break;
        place(ts, i, ts->heap[child]);
        i = child;
    }
    place(ts, i, t);
}

static void heap_remove(struct timers *ts, struct timer *t)
{
    int i = t->slot;
    struct timer *last = ts->heap[--ts->n];

    t->slot = -1;
    if (last == t)
        return;
    place(ts, i, last);
    sift_down(ts, i);
    sift_up(ts, last->slot);
}

int timers__init(struct machine *m)
{
    struct timers *ts = calloc(1, sizeof(*ts));

    if (!ts)
        return -1;
    ts->m = m;
    ts->next = UINT64_MAX;
    ts->frozen = UINT64_MAX;
    m->timers = ts;
    return 0;
}

/* Devices free their own timers in their destroy functions, which run first; any timer
 * still armed here belongs to a device that leaked it, and is only detached. */
void timers__destroy(struct machine *m)
{
    struct timers *ts = m->timers;

    if (!ts)
        return;
    for (int i = 0; i < ts->n; i++)
        ts->heap[i]->slot = -1;
    free(ts->heap);
    free(ts);
    m->timers = NULL;
}

struct timer *timer__new(struct machine *m, timer_cb cb, void *opaque)
{
    struct timer *t;

    if (!m->timers)
        return NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ts = m->timers;
    t->cb = cb;
    t->opaque = opaque;
    t->slot = -1;
    return t;
}

void timer__free(struct timer *t)
{
    if (!t)
        return;
    timer__del(t);
    free(t);
}

void timer__mod(struct timer *t, uint64_t deadline_ns)
{
    struct timers *ts = t->ts;

    if (t->slot < 0) {
        if (ts->n == ts->cap) {
            int cap = ts->cap ? 2 * ts->cap : 8;
            struct timer **h = realloc(ts->heap, (size_t)cap * sizeof(*h));

            if (!h)
                die("out of memory arming a timer");
            ts->heap = h;
            ts->cap = cap;
        }
        t->deadline = deadline_ns;
        place(ts, ts->n++, t);
        sift_up(ts, t->slot);
    } else {
        uint64_t old = t->deadline;

        t->deadline = deadline_ns;
        if (deadline_ns < old)
            sift_up(ts, t->slot);
        else
            sift_down(ts, t->slot);
    }
    publish(ts);
}

void timer__del(struct timer *t)
{
    if (t->slot < 0)
        return;
    heap_remove(t->ts, t);
    publish(t->ts);
}

bool timer__pending(const struct timer *t)
{
    return t->slot >= 0;
}

uint64_t timers__run(struct machine *m)
{
    struct timers *ts = m->timers;
    uint64_t now;
    int fired = 0;

    if (!ts)
        return UINT64_MAX;
    now = timers__now(m);
    ts->running = true;
    while (ts->n && ts->heap[0]->deadline <= now) {
        struct timer *t = ts->heap[0];

        if (++fired > MAX_FIRINGS_PER_RUN) {
            LOG(DEV, 1, "timers: more than %d firings in one run; the rest wait for the next",
                MAX_FIRINGS_PER_RUN);
            break;
        }
        heap_remove(ts, t);
        /* Publish before the callback: it may re-arm, and must see an honest head. */
        publish(ts);
        t->cb(m, t->opaque);
    }
    ts->running = false;
    publish(ts);
    events__deadline_changed(m);
    return ts->n ? ts->heap[0]->deadline : UINT64_MAX;
}

uint64_t timers__next(struct machine *m)
{
    struct timers *ts = m->timers;

    return ts ? __atomic_load_n(&ts->next, __ATOMIC_ACQUIRE) : UINT64_MAX;
}

uint64_t timers__now(struct machine *m)
{
    struct timers *ts = m->timers;

    if (ts && ts->frozen != UINT64_MAX)
        return ts->frozen;
    return vtime__ns();
}

void timers__test_set_clock(struct machine *m, uint64_t now_ns)
{
    if (m->timers)
        m->timers->frozen = now_ns;
}
