/*
 * The event-loop thread (events.h, DESIGN.md §6). It waits in epoll on three
 * things: the host input of the serial port on stdio, a timerfd armed at the
 * earliest virtual-time deadline, and a control eventfd (stop, "the queue
 * has room again"). It never touches guest or device state: input bytes go
 * into a bounded queue under a mutex, and the vCPU is kicked
 * (machine__kick) and woken from events__wait() through a second eventfd.
 *
 * Kicks race with the run loop, which may reset the budget just after a kick
 * set it negative; so while cpu->pending_irq is still set (events__drain()
 * clears it: the vCPU has looked) the thread kicks again every millisecond.
 *
 * Input: when COM1 (or COM2) reads stdin, the terminal goes to raw mode (no
 * echo, no line editing; output processing kept so "\n" still returns the
 * carriage) and is restored at exit, from atexit() and from the handlers of
 * the terminating signals. With -nographic or mon:stdio, QEMU's escapes work:
 * Ctrl-A x quits (exit status 0), Ctrl-A h prints the help, Ctrl-A Ctrl-A
 * sends one Ctrl-A, and Ctrl-C goes to the guest; otherwise Ctrl-C ends
 * tachyon, as it ends QEMU with -serial stdio. At most one queue's worth is
 * read at a time: when the queue fills, stdin is not watched until the vCPU
 * drains it, so a paste waits in the host's tty buffer instead of being lost.
 * A regular file on stdin (which epoll refuses) is read whenever the queue
 * has room, until its end.
 *
 * Time: the timerfd runs on CLOCK_MONOTONIC and virtual time follows it at a
 * fixed offset, measured once at start (vtime.h). A deterministic clock will
 * need a different mapping here.
 */
#define _GNU_SOURCE
#include "monitor/events.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "devices/uart16550.h"
#include "monitor/log.h"
#include "monitor/machine.h"
#include "monitor/timer.h"

#define INPUT_QUEUE 4096
#define REKICK_MS 1
#define ESCAPE_CHAR 0x01          /* Ctrl-A */
#define WAIT_CAP_NS 1000000000ull /* events__wait re-checks at least once a second */
#define NO_THREAD_WAIT_NS 10000000ull
#define TIMERFD_MARGIN_NS 1000 /* fire a little late rather than early */

struct events {
    struct machine *m;
    pthread_t thread;
    bool started;
    int epfd, timerfd, ctlfd, wakefd;
    int in_fd;       /* host input of the serial port, -1 when none */
    bool in_always;  /* in_fd is a file epoll cannot watch: always readable */
    void *uart;      /* the UART it feeds */
    bool escapes;    /* Ctrl-A commands are on */
    bool got_escape; /* event thread: the last byte was Ctrl-A */
    int stop;        /* atomic */

    pthread_mutex_t lock; /* the queue */
    uint8_t q[INPUT_QUEUE];
    unsigned qhead, qlen;
    int in_paused; /* atomic: queue was full, stdin not watched */

    int64_t host_minus_virtual; /* CLOCK_MONOTONIC ns minus virtual ns */
    uint64_t armed;             /* atomic: deadline in the timerfd; 0 after it fired */
};

/* ---- the terminal ---- */

static struct termios saved_tty;
static int tty_saved; /* the terminal is in raw mode and saved_tty restores it */

static void tty_restore(void)
{
    if (tty_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
        tty_saved = 0;
    }
}

static void tty_signal(int sig)
{
    tty_restore(); /* tcsetattr is async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void tty_raw(bool pass_ctrl_c)
{
    static bool atexit_done;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    struct termios t;

    if (tty_saved || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tty))
        return;
    t = saved_tty;
    t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_oflag |= OPOST;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN);
    if (pass_ctrl_c)
        t.c_lflag &= ~(tcflag_t)ISIG;
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t))
        return;
    tty_saved = 1;
    if (!atexit_done) {
        atexit(tty_restore);
        atexit_done = true;
    }
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction sa, old;

        if (sigaction(sigs[i], NULL, &old) || old.sa_handler != SIG_DFL)
            continue; /* someone else handles it; leave theirs */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = tty_signal;
        sigaction(sigs[i], &sa, NULL);
    }
}

/* ---- the event thread ---- */

static void post(int fd)
{
    uint64_t one = 1;

    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

static void consume(int fd)
{
    uint64_t v;

    while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
}

static void kick(struct events *e)
{
    machine__kick(e->m);
    post(e->wakefd);
}

static void print_help(void)
{
    static const char help[] = "\r\n"
                               "C-a h    print this help\r\n"
                               "C-a x    exit emulator\r\n"
                               "C-a C-a  sends C-a\r\n";

    if (write(STDOUT_FILENO, help, sizeof(help) - 1) < 0)
        LOG(DEV, 1, "events: cannot print the escape help: %s", strerror(errno));
}

/* One byte from the host: an escape command, or input for the guest. Returns true when it
 * goes to the queue. */
static bool escape_filter(struct events *e, uint8_t c)
{
    if (!e->escapes)
        return true;
    if (!e->got_escape) {
        if (c != ESCAPE_CHAR)
            return true;
        e->got_escape = true;
        return false;
    }
    e->got_escape = false;
    switch (c) {
    case ESCAPE_CHAR:
        return true;
    case 'x':
        fprintf(stderr, "\r\ntachyon: terminated (C-a x)\r\n");
        machine__request(e->m, REQ_EXIT, 0);
        kick(e);
        return false;
    case 'h':
    case '?':
        print_help();
        return false;
    default:
        /* QEMU drops unknown escapes too (break, monitor and log toggles are not here). */
        return false;
    }
}

static void input_unwatch(struct events *e, const char *why)
{
    if (!e->in_always)
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, e->in_fd, NULL);
    if (why) {
        LOG(DEV, 1, "events: serial input: %s; no more input", why);
        e->in_fd = -1;
    }
}

/* Read what fits in the queue. Returns true when bytes were queued. */
static bool read_input(struct events *e)
{
    uint8_t buf[INPUT_QUEUE];
    unsigned room, added = 0;
    ssize_t n;

    pthread_mutex_lock(&e->lock);
    room = INPUT_QUEUE - e->qlen;
    pthread_mutex_unlock(&e->lock);
    if (!room) {
        __atomic_store_n(&e->in_paused, 1, __ATOMIC_SEQ_CST);
        input_unwatch(e, NULL);
        /* The vCPU may have drained between our look and the flag: look again. */
        post(e->ctlfd);
        return false;
    }
    n = read(e->in_fd, buf, room);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return false;
    if (n <= 0) {
        input_unwatch(e, n == 0 ? "end of file" : strerror(errno));
        return false;
    }
    pthread_mutex_lock(&e->lock);
    for (ssize_t i = 0; i < n; i++)
        if (escape_filter(e, buf[i])) {
            /* Escapes only shrink the input, so what was read always fits. */
            e->q[(e->qhead + e->qlen++) % INPUT_QUEUE] = buf[i];
            added++;
        }
    pthread_mutex_unlock(&e->lock);
    return added > 0;
}

static void resume_input(struct events *e)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = e->in_fd};
    bool room;

    if (!__atomic_load_n(&e->in_paused, __ATOMIC_SEQ_CST) || e->in_fd < 0)
        return;
    pthread_mutex_lock(&e->lock);
    room = e->qlen < INPUT_QUEUE;
    pthread_mutex_unlock(&e->lock);
    if (!room)
        return;
    __atomic_store_n(&e->in_paused, 0, __ATOMIC_SEQ_CST);
    if (!e->in_always)
        epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->in_fd, &ev);
}

/* A file epoll cannot watch has input while it is open and the queue takes it. */
static bool file_input_ready(struct events *e)
{
    return e->in_always && e->in_fd >= 0 && !__atomic_load_n(&e->in_paused, __ATOMIC_SEQ_CST);
}

static void *event_thread(void *arg)
{
    struct events *e = arg;
    struct epoll_event ev[4];
    bool outstanding = false; /* we kicked and the vCPU has not looked yet */

    for (;;) {
        int n = epoll_wait(e->epfd, ev, 4, file_input_ready(e) ? 0 : outstanding ? REKICK_MS : -1);
        bool want = false;

        if (n < 0 && errno != EINTR) {
            LOG(DEV, 1, "events: epoll_wait failed: %s; the event loop stops", strerror(errno));
            break;
        }
        if (__atomic_load_n(&e->stop, __ATOMIC_ACQUIRE))
            break;
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;

            if (fd == e->ctlfd) {
                consume(fd);
                resume_input(e);
            } else if (fd == e->timerfd) {
                consume(fd);
                __atomic_store_n(&e->armed, 0, __ATOMIC_RELEASE);
                want = true;
            } else if (fd == e->in_fd) {
                want |= read_input(e);
            }
        }
        if (file_input_ready(e))
            want |= read_input(e);
        else if (n == 0 && outstanding)
            want = __atomic_load_n(&e->m->cpu->pending_irq, __ATOMIC_ACQUIRE) != 0;
        if (want)
            kick(e);
        outstanding = want || (outstanding && n > 0);
    }
    return NULL;
}

/* ---- the vCPU side ---- */

/* The UART that has host input (stdin, a pty or a socket), if any: the first one. */
static void *input_uart(struct machine *m, const char **spec)
{
    for (int i = 0; i < 2; i++)
        if (m->serial[i] && uart__input_fd(m->serial[i]) >= 0) {
            *spec = i < m->opt.nserial ? m->opt.serial[i] : "stdio";
            return m->serial[i];
        }
    return NULL;
}

static int fail(struct events *e, const char *what)
{
    fprintf(stderr, "tachyon: cannot start the event loop: %s: %s\n", what, strerror(errno));
    e->m->events = e; /* events__stop() undoes the partial setup */
    events__stop(e->m);
    return -1;
}

int events__start(struct machine *m)
{
    struct events *e;
    struct epoll_event ev = {.events = EPOLLIN};
    struct timespec host;
    const char *spec = NULL;
    sigset_t all, old;
    int rc;

    if (m->events)
        return 0;
    e = calloc(1, sizeof(*e));
    if (!e) {
        fprintf(stderr, "tachyon: out of memory starting the event loop\n");
        return -1;
    }
    e->m = m;
    e->epfd = e->timerfd = e->ctlfd = e->wakefd = e->in_fd = -1;
    pthread_mutex_init(&e->lock, NULL);
    clock_gettime(CLOCK_MONOTONIC, &host);
    e->host_minus_virtual = (int64_t)host.tv_sec * 1000000000 + host.tv_nsec -
                            (int64_t)timers__now(m) + TIMERFD_MARGIN_NS;
    e->armed = UINT64_MAX;

    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0)
        return fail(e, "epoll_create1");
    e->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (e->timerfd < 0)
        return fail(e, "timerfd_create");
    e->ctlfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    e->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (e->ctlfd < 0 || e->wakefd < 0)
        return fail(e, "eventfd");
    ev.data.fd = e->timerfd;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->timerfd, &ev))
        return fail(e, "epoll_ctl");
    ev.data.fd = e->ctlfd;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->ctlfd, &ev))
        return fail(e, "epoll_ctl");

    e->uart = input_uart(m, &spec);
    if (e->uart) {
        bool on_stdin = uart__input_fd(e->uart) == STDIN_FILENO;
        e->in_fd = uart__input_fd(e->uart);
        e->escapes = on_stdin && (m->opt.nographic || !strcmp(spec, "mon:stdio"));
        ev.data.fd = e->in_fd;
        /* EPERM: a regular file or /dev/null, which epoll cannot watch but which is
         * always readable: the thread reads it whenever the queue has room. */
        if (!epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->in_fd, &ev)) {
            if (on_stdin)
                tty_raw(e->escapes);
        } else if (errno == EPERM) {
            e->in_always = true;
        } else {
            LOG(DEV, 1, "events: cannot watch stdin (%s); serial input is off", strerror(errno));
            e->in_fd = -1;
        }
    }

    /* The thread takes no asynchronous signals: they belong to the vCPU thread's handlers. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&e->thread, NULL, event_thread, e);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        errno = rc;
        return fail(e, "pthread_create");
    }
    e->started = true;
    m->events = e;
    events__deadline_changed(m);
    return 0;
}

void events__stop(struct machine *m)
{
    struct events *e = m->events;

    if (!e)
        return;
    if (e->started) {
        __atomic_store_n(&e->stop, 1, __ATOMIC_RELEASE);
        post(e->ctlfd);
        pthread_join(e->thread, NULL);
    }
    tty_restore();
    if (e->epfd >= 0)
        close(e->epfd);
    if (e->timerfd >= 0)
        close(e->timerfd);
    if (e->ctlfd >= 0)
        close(e->ctlfd);
    if (e->wakefd >= 0)
        close(e->wakefd);
    pthread_mutex_destroy(&e->lock);
    free(e);
    m->events = NULL;
}

/* Queued input the UART can take now. */
static bool input_ready(struct events *e)
{
    bool ready;

    if (!e->uart)
        return false;
    pthread_mutex_lock(&e->lock);
    ready = e->qlen > 0;
    pthread_mutex_unlock(&e->lock);
    return ready && uart__rx_space(e->uart) > 0;
}

void events__drain(struct machine *m)
{
    struct events *e = m->events;

    /* The vCPU looks now: the event thread may stop re-kicking. The caller must consult
     * m->intr_pending() after this, since a kick it clears may have been an interrupt. */
    __atomic_store_n(&m->cpu->pending_irq, 0, __ATOMIC_RELEASE);
    if (e && e->uart && __atomic_load_n(&e->qlen, __ATOMIC_RELAXED)) {
        uint8_t buf[INPUT_QUEUE];
        size_t n, space = uart__rx_space(e->uart);

        pthread_mutex_lock(&e->lock);
        n = e->qlen < space ? e->qlen : space;
        for (size_t i = 0; i < n; i++)
            buf[i] = e->q[(e->qhead + i) % INPUT_QUEUE];
        e->qhead = (e->qhead + (unsigned)n) % INPUT_QUEUE;
        e->qlen -= (unsigned)n;
        pthread_mutex_unlock(&e->lock);
        if (n) {
            uart__receive(e->uart, buf, n);
            if (__atomic_load_n(&e->in_paused, __ATOMIC_SEQ_CST))
                post(e->ctlfd);
        }
    }
    timers__run(m);
}

void events__wait(struct machine *m, uint64_t deadline_ns)
{
    struct events *e = m->events;
    uint64_t now, rel;
    struct timespec ts;

    if (m->request != REQ_NONE || __atomic_load_n(&m->cpu->pending_irq, __ATOMIC_ACQUIRE))
        return;
    if (e && input_ready(e))
        return;
    now = timers__now(m);
    if (deadline_ns <= now)
        return;
    rel = deadline_ns - now;
    if (rel > WAIT_CAP_NS)
        rel = WAIT_CAP_NS; /* a safety net for wakers that do not know the eventfd */
    if (!e) {
        /* No event thread (tests, or before events__start): only time can wake us. */
        if (rel > NO_THREAD_WAIT_NS)
            rel = NO_THREAD_WAIT_NS;
        ts.tv_sec = (time_t)(rel / 1000000000);
        ts.tv_nsec = (long)(rel % 1000000000);
        nanosleep(&ts, NULL);
        return;
    }
    ts.tv_sec = (time_t)(rel / 1000000000);
    ts.tv_nsec = (long)(rel % 1000000000);
    {
        struct pollfd p = {.fd = e->wakefd, .events = POLLIN};

        if (ppoll(&p, 1, &ts, NULL) > 0 && (p.revents & POLLIN))
            consume(e->wakefd);
    }
}

void events__deadline_changed(struct machine *m)
{
    struct events *e = m->events;
    struct itimerspec its;
    uint64_t next;

    if (!e)
        return;
    next = timers__next(m);
    if (next == __atomic_load_n(&e->armed, __ATOMIC_ACQUIRE))
        return;
    __atomic_store_n(&e->armed, next, __ATOMIC_RELEASE);
    memset(&its, 0, sizeof(its));
    if (next != UINT64_MAX) {
        int64_t host = (int64_t)next + e->host_minus_virtual;

        if (host <= 0)
            host = 1; /* already due: zero would disarm */
        its.it_value.tv_sec = host / 1000000000;
        its.it_value.tv_nsec = host % 1000000000;
    }
    if (timerfd_settime(e->timerfd, TFD_TIMER_ABSTIME, &its, NULL))
        LOG(DEV, 1, "events: timerfd_settime failed: %s", strerror(errno));
}
