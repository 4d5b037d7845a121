/* The shared-memory message channel (unixipc.ShmChannel).
 *
 * One file (a memfd, or /dev/shm/<name>) holds a header, a table of process
 * slots and a ring of 16-byte units. Everything that the processes share is
 * in the mapping; every index read from it is masked into the ring, and every
 * length is checked before use, so a process that scribbles over the mapping
 * can garble messages but cannot make another one touch memory outside it.
 *
 * Positions are 32-bit counts of units, compared modulo 2^32; the ring size
 * is a power of two, so a position's place in the ring is `pos & mask`.
 *
 * A record is a 16-byte header and its payload. Header word 0 (atomic) holds
 * the record's position (the tag, so a stale header of an earlier lap is
 * never taken for a current one), a state and a 24-bit value:
 *     RESERVED, COMMITTED, FREE, ABANDONED:  value = units the record spans
 *     CLAIMED:                               value = the claiming owner id
 * Header word 1 holds the units (again) and the payload length, written by
 * the sender before it commits. A record that would cross the end of the
 * ring keeps its header at the end and its payload at offset 0 (the units
 * in between are padding, counted in the record's span).
 *
 * Senders reserve by compare-and-swap on `tail`, a 64-bit word holding the
 * next free position and the span of the last reservation. The last
 * reservation is the only one whose header may not be written yet: before a
 * sender reserves, it writes that header (RESERVED) if its owner has not,
 * so a sender that dies just after its reservation leaves a record that
 * survivors can see, and skip (ABANDONED) once no live process can be its
 * owner. A sender announces the position it tries to reserve in its slot
 * (an "intent") before the compare-and-swap, and clears it after the
 * commit: a RESERVED record is abandoned when no live slot has it as an
 * intent.
 *
 * Receivers take records in ring order: the record at `rd` is claimed by
 * compare-and-swap of its header (COMMITTED -> CLAIMED by owner id), then
 * `rd` moves past it (anyone may help). After the copy, or when a zero-copy
 * view ends, the record becomes FREE, and `hd` (the oldest unfreed
 * position) moves over FREE and ABANDONED records, giving their space back
 * to senders. A short message copied out as bytes goes COMMITTED -> FREE in
 * one step, after the copy (try_claim's `copied`; receive_many's take_run).
 *
 * Liveness: each process that uses the channel holds an open-file-
 * description lock (F_OFD_SETLK) on one byte far beyond the file's end, one
 * byte per slot, on its own open file description of the file. The kernel
 * drops it when the process dies, however it dies, so "slot i is alive" is
 * "byte i is locked" (F_OFD_GETLK), never a PID. A fork child takes a slot
 * of its own before its first use of the channel (pthread_atfork bumps an
 * epoch that every call checks).
 *
 * Waiting: a poll of a few microseconds with the GIL held (blocking_wait),
 * a short spin without the GIL, then a futex wait on a word of the
 * mapping (shared, not private) with an absolute CLOCK_MONOTONIC deadline.
 * A waiter first counts itself in `rx_waiters`/`tx_waiters`; a sender or
 * releaser makes the wake-up system call only when that count is non-zero.
 * Waits are cut into periods of RECHECK_NS so a sleeper notices dead
 * processes (their reservations, claims and open sides) by itself.
 */
#define _GNU_SOURCE 1
#include "core.h"
#include "structmember.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAGIC 0x48434853434e5855ULL /* "UXNCSHCH" little-endian */
#define VERSION 1u
#define UNIT 16u
#define HEADER_BYTES 4096u
#define SLOT_BYTES 64u
#define DEFAULT_SLOTS 256u
#define MAX_SLOTS 4096u
#define INTENTS 7 /* a slot is 64 bytes */
#define MIN_CAPACITY 4096ULL
#define MAX_CAPACITY (1ULL << 34)
#define MAX_RECORD_UNITS ((1u << 23) - 1u) /* a wrapped span stays < 2^24 */
#define LOCK_BASE (1LL << 40)
#define RECHECK_NS 100000000LL /* 100 ms: dead processes noticed this often */
#define SPIN_MIN_NS 1000LL
#define SPIN_MAX_NS 100000LL
#define POLL_NS 4000LL /* the GIL-held poll before a wait: see blocking_wait */
#define HEAD_LAG_UNITS 4096u /* 64 KiB: see release_record */
#define BIG_COPY (256 * 1024) /* copies at least this long run without the GIL */

enum { ST_EMPTY = 0, ST_RESERVED, ST_COMMITTED, ST_CLAIMED, ST_FREE, ST_ABANDONED };
enum { SIDE_SEND = 1u, SIDE_RECV = 2u, SLOT_USED = 4u };
enum { RES_OK = 0, RES_EMPTY, RES_NOT_READY, RES_FULL, RES_CLOSED, RES_BROKEN };

typedef struct {
    uint64_t magic;
    uint32_t version;
    uint32_t ring_offset;
    uint32_t cap_units;
    uint32_t max_slots;
    uint32_t max_message;
    uint32_t reserved0;
    char pad0[64 - 32];
    uint64_t tail; /* low 32: next position; high 32: span of the last reservation */
    char pad1[56];
    uint32_t rd;
    char pad2[60];
    uint32_t hd;
    char pad3[60];
    uint32_t data_seq, rx_waiters;
    char pad4[56];
    uint32_t space_seq, tx_waiters;
    char pad5[56];
    uint32_t nsend, nrecv, hwm;
} shm_header;

typedef struct {
    uint32_t flags; /* generation << 16 | sides */
    uint32_t pid;   /* for people reading the table; never trusted */
    uint64_t intents[INTENTS];
} shm_slot;
_Static_assert(sizeof(shm_slot) == SLOT_BYTES, "a slot is one cache line");

/* An intent: INTENT_VALID | (span << 33) | position: the reservation of
 * `span` units at `position` (several records for a batch) may still be
 * committed by the slot's process. */
#define INTENT_VALID (1ULL << 32)
#define MAKE_INTENT(pos, span) (INTENT_VALID | ((uint64_t)(span) << 33) | (uint32_t)(pos))

/* Shared words are read and written with the GCC atomics only. */
#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_RELAXED(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define CAS(p, expect, want)                                                      \
    __atomic_compare_exchange_n((p), (expect), (want), 0, __ATOMIC_SEQ_CST, \
                                __ATOMIC_ACQUIRE)

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static unsigned long fork_epoch = 1; /* bumped in every fork child */

/* ---- the handle ---------------------------------------------------------- */

typedef struct channel_s {
    PyObject_HEAD
    char *base;       /* the mapping (NULL once closed) */
    size_t map_size;
    shm_header *hdr;
    shm_slot *slots;
    char *ring;
    /* Constants read once at open and validated: never re-read. */
    uint32_t cap_units, mask, max_slots, max_message;
    int lock_fd;       /* our own open file description, holding the slot lock */
    int slot;          /* -1: none */
    uint32_t owner;    /* slot | (generation & 0xfff) << 12 */
    unsigned sides;    /* SIDE_SEND | SIDE_RECV still open in this process */
    unsigned long epoch;
    int send_busy;        /* one sending thread of this process at a time (never held across a
                           * wait); it uses intent 0 of our slot */
    uint64_t my_tail;     /* `tail` as our last reservation left it (under send_busy) */
    uint32_t tail_seen;   /* a `tail` position seen by a receive of this process: the
                           * positions before it are real reservations (a hint only) */
    long long spin_ns;
    long long poll_ns; /* POLL_NS, or 0 while waits have been long (see blocking_wait) */
    Py_ssize_t views;  /* receive views not yet ended */
    uint32_t async_held[2]; /* waiter counts held for async twins: [receive, send] */
    int async_waits;        /* _wait_change calls in progress (without the GIL) */
    PyObject *weakreflist;
    /* fork(): the child's slot, taken by the parent before the fork. */
    int child_lock_fd, child_slot;
    uint32_t child_owner;
    struct channel_s *prev, *next; /* every open channel of the process */
} Channel;

typedef struct {
    uint32_t pos, span, len;
    char *payload;
} record;

static inline uint64_t *
word0(Channel *c, uint32_t pos)
{
    return (uint64_t *)(c->ring + (size_t)(pos & c->mask) * UNIT);
}

static inline uint32_t *
word1(Channel *c, uint32_t pos)
{
    return (uint32_t *)(c->ring + (size_t)(pos & c->mask) * UNIT + 8);
}

static inline uint64_t
make_w0(uint32_t pos, unsigned state, uint32_t value)
{
    return ((uint64_t)pos << 32) | ((uint64_t)state << 24) | (value & 0xffffffu);
}

static inline int
w0_valid(uint64_t w, uint32_t pos)
{
    return (uint32_t)(w >> 32) == pos && ((w >> 24) & 0xff) != ST_EMPTY;
}

static inline unsigned
w0_state(uint64_t w)
{
    return (unsigned)((w >> 24) & 0xff);
}

static inline uint32_t
w0_value(uint64_t w)
{
    return (uint32_t)(w & 0xffffff);
}

static inline uint32_t
payload_units(uint32_t len)
{
    return (len + UNIT - 1) / UNIT;
}

/* Whether a record of `len` bytes at `pos` has its payload at offset 0. */
static inline int
wraps(Channel *c, uint32_t pos, uint32_t len)
{
    return (uint64_t)(pos & c->mask) + 1 + payload_units(len) > c->cap_units;
}

static inline uint32_t
span_for(Channel *c, uint32_t pos, uint32_t len)
{
    uint32_t off = pos & c->mask;
    if (wraps(c, pos, len))
        return (c->cap_units - off) + payload_units(len);
    return 1 + payload_units(len);
}

/* Where the payload of a record of `len` bytes (len <= max_message) is:
 * always inside the ring, whatever the header said. */
static inline char *
payload_at(Channel *c, uint32_t pos, uint32_t len)
{
    if (wraps(c, pos, len))
        return c->ring;
    return c->ring + (size_t)(pos & c->mask) * UNIT + UNIT;
}

static long long
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
futex_wake_all(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Waits while *word == expected, until `until_ns` (absolute, monotonic). */
static int
futex_wait_until(uint32_t *word, uint32_t expected, long long until_ns)
{
    struct timespec at;
    at.tv_sec = (time_t)(until_ns / 1000000000LL);
    at.tv_nsec = (long)(until_ns % 1000000000LL);
    if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, &at, NULL,
                FUTEX_BITSET_MATCH_ANY) < 0)
        return errno; /* EAGAIN (changed), ETIMEDOUT, EINTR */
    return 0;
}

/* Called right after a sequentially consistent compare-and-swap that
 * published what the waiters wait for: that and this sequentially
 * consistent load are ordered against a waiter's count-then-look. */
static void
wake(uint32_t *seq, uint32_t *waiters, int always)
{
    if (always || __atomic_load_n(waiters, __ATOMIC_SEQ_CST) != 0) {
        __atomic_fetch_add(seq, 1, __ATOMIC_SEQ_CST);
        futex_wake_all(seq);
    }
}

/* ---- slots and liveness ---------------------------------------------------- */

static int
lock_byte(int fd, int slot, short type, int cmd)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = LOCK_BASE + slot;
    fl.l_len = 1;
    if (fcntl(fd, cmd, &fl) < 0)
        return -1;
    return cmd == F_OFD_GETLK ? fl.l_type : 0;
}

static int
slot_alive(Channel *c, uint32_t i)
{
    if ((int)i == c->slot)
        return 1;
    int t = lock_byte(c->lock_fd, (int)i, F_WRLCK, F_OFD_GETLK);
    return t != F_UNLCK; /* an error counts as alive: never reap by mistake */
}

static void
adjust_counts(Channel *c, unsigned old_sides, unsigned new_sides)
{
    if ((old_sides & SIDE_SEND) && !(new_sides & SIDE_SEND))
        __atomic_fetch_sub(&c->hdr->nsend, 1, __ATOMIC_SEQ_CST);
    if (!(old_sides & SIDE_SEND) && (new_sides & SIDE_SEND))
        __atomic_fetch_add(&c->hdr->nsend, 1, __ATOMIC_SEQ_CST);
    if ((old_sides & SIDE_RECV) && !(new_sides & SIDE_RECV))
        __atomic_fetch_sub(&c->hdr->nrecv, 1, __ATOMIC_SEQ_CST);
    if (!(old_sides & SIDE_RECV) && (new_sides & SIDE_RECV))
        __atomic_fetch_add(&c->hdr->nrecv, 1, __ATOMIC_SEQ_CST);
}

/* Frees the records claimed by `owner` (a dead process's id) between hd
 * and rd. Positions are tag-checked, so a walk overtaken by hd stops. */
static int
release_claims_of(Channel *c, uint32_t owner)
{
    uint32_t p = LOAD(&c->hdr->hd), r = LOAD(&c->hdr->rd);
    int freed = 0;
    while (p != r && (uint32_t)(r - p) <= c->cap_units) {
        uint64_t w = LOAD(word0(c, p));
        uint32_t span;
        if (!w0_valid(w, p))
            break;
        if (w0_state(w) == ST_CLAIMED) {
            span = LOAD_RELAXED(&word1(c, p)[0]);
            if (w0_value(w) == owner && span >= 1 && span <= (uint32_t)(r - p) &&
                CAS(word0(c, p), &w, make_w0(p, ST_FREE, span)))
                freed = 1;
        } else if (w0_state(w) == ST_FREE || w0_state(w) == ST_ABANDONED) {
            span = w0_value(w);
        } else {
            break;
        }
        if (span == 0 || span > (uint32_t)(r - p))
            break;
        p += span;
    }
    return freed;
}

static int advance_head(Channel *c);

/* Takes slot `i` over once its byte is locked by us: the old owner's sides
 * stop counting, its claims are freed, its intents cleared. Returns the
 * owner id our claims will carry. */
static uint32_t
take_slot(Channel *c, uint32_t i)
{
    shm_slot *s = &c->slots[i];
    uint32_t old = LOAD(&s->flags), gen, want;
    for (int k = 0; k < INTENTS; k++)
        STORE(&s->intents[k], 0);
    s->pid = (uint32_t)getpid();
    do {
        gen = ((old >> 16) + 1) & 0xffff;
        want = (gen << 16) | SLOT_USED | (c->sides & (SIDE_SEND | SIDE_RECV));
    } while (!CAS(&s->flags, &old, want));
    adjust_counts(c, old & 3u, want & 3u);
    uint32_t prev_owner = i | (((old >> 16) & 0xfffu) << 12);
    if (release_claims_of(c, prev_owner) && advance_head(c))
        wake(&c->hdr->space_seq, &c->hdr->tx_waiters, 1);
    uint32_t hwm = LOAD(&c->hdr->hwm);
    while (hwm < i + 1 && !CAS(&c->hdr->hwm, &hwm, i + 1))
        ;
    return i | ((gen & 0xfffu) << 12);
}

/* Locks a free slot's byte through `fd` and takes the slot; 0 (with *slot,
 * *owner) or an errno. */
static int
grab_slot(Channel *c, int fd, int *slot, uint32_t *owner)
{
    for (uint32_t i = 0; i < c->max_slots; i++) {
        if (lock_byte(fd, (int)i, F_WRLCK, F_OFD_SETLK) == 0) {
            *owner = take_slot(c, i);
            *slot = (int)i;
            return 0;
        }
        if (errno != EAGAIN && errno != EACCES)
            return errno;
    }
    return EMFILE; /* every slot is held by a live process */
}

static int
acquire_slot(Channel *c)
{
    return grab_slot(c, c->lock_fd, &c->slot, &c->owner);
}

/* Reaps slots whose process died: their open sides stop counting and their
 * claims are freed. Returns whether anything changed. */
static int
reap_dead(Channel *c)
{
    uint32_t hwm = LOAD(&c->hdr->hwm);
    int changed = 0;
    if (hwm > c->max_slots)
        hwm = c->max_slots;
    for (uint32_t i = 0; i < hwm; i++) {
        shm_slot *s = &c->slots[i];
        uint32_t w = LOAD(&s->flags);
        if ((int)i == c->slot || (w & 7u) == 0 || slot_alive(c, i))
            continue;
        /* Dead: its sides stop counting, then its claims are freed. */
        if (CAS(&s->flags, &w, w & 0xffff0000u)) {
            adjust_counts(c, w & 3u, 0);
            changed = 1;
            if (release_claims_of(c, i | (((w >> 16) & 0xfffu) << 12)))
                changed = 1;
        }
    }
    return changed;
}

/* Whether no live process can still commit the reservation at `pos`. */
static int
reservation_abandoned(Channel *c, uint32_t pos)
{
    uint32_t hwm = LOAD(&c->hdr->hwm);
    if (hwm > c->max_slots)
        hwm = c->max_slots;
    for (uint32_t i = 0; i < hwm; i++) {
        for (int k = 0; k < INTENTS; k++) {
            uint64_t v = LOAD(&c->slots[i].intents[k]);
            uint32_t span = (uint32_t)(v >> 33);
            if ((v & INTENT_VALID) && (uint32_t)(pos - (uint32_t)v) < (span ? span : 1u) &&
                slot_alive(c, i))
                return 0;
        }
    }
    return 1;
}

/* ---- fork ------------------------------------------------------------------
 * A fork child has the channel open from the instant of the fork, as a pipe
 * end would be: it must count as a sender and a receiver before it runs a
 * line of code, and stop counting when it dies, even if it never touches
 * the channel. So before fork() the parent takes a slot for the child, on a
 * new open file description the child inherits; the parent closes its own
 * copy after the fork, and the child swaps it in for the parent's slot. */

static Channel *open_channels = NULL;
static pthread_mutex_t channels_lock = PTHREAD_MUTEX_INITIALIZER;

static void
link_channel(Channel *c)
{
    pthread_mutex_lock(&channels_lock);
    c->prev = NULL;
    c->next = open_channels;
    if (open_channels != NULL)
        open_channels->prev = c;
    open_channels = c;
    pthread_mutex_unlock(&channels_lock);
}

static void
unlink_channel(Channel *c)
{
    pthread_mutex_lock(&channels_lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else if (open_channels == c)
        open_channels = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    pthread_mutex_unlock(&channels_lock);
}

static int own_description(int fd);

static void
fork_prepare(void)
{
    pthread_mutex_lock(&channels_lock);
    for (Channel *c = open_channels; c != NULL; c = c->next) {
        c->child_lock_fd = -1;
        if (c->base == NULL || c->epoch != fork_epoch)
            continue;
        int fd = own_description(c->lock_fd);
        if (fd < 0)
            continue; /* the child takes a slot at its first use instead */
        if (grab_slot(c, fd, &c->child_slot, &c->child_owner) != 0) {
            close(fd);
            continue;
        }
        c->child_lock_fd = fd;
    }
}

static void
fork_parent(void)
{
    for (Channel *c = open_channels; c != NULL; c = c->next) {
        if (c->child_lock_fd >= 0) {
            close(c->child_lock_fd); /* the child's copy keeps the lock */
            c->child_lock_fd = -1;
        }
    }
    pthread_mutex_unlock(&channels_lock);
}

static void
fork_child(void)
{
    static const pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    fork_epoch++;
    for (Channel *c = open_channels; c != NULL; c = c->next) {
        if (c->child_lock_fd < 0)
            continue; /* c->epoch is stale: reacquire() at first use */
        close(c->lock_fd); /* our copy of the parent's description */
        c->lock_fd = c->child_lock_fd;
        c->slot = c->child_slot;
        c->owner = c->child_owner;
        c->child_lock_fd = -1;
        c->send_busy = 0;
        c->my_tail = 0;
        c->async_held[0] = c->async_held[1] = 0; /* the parent's */
        c->async_waits = 0;
        c->epoch = fork_epoch;
        c->slots[c->slot].pid = (uint32_t)getpid();
    }
    channels_lock = fresh;
}

/* ---- the ring --------------------------------------------------------------- */

/* Writes the header of the last reservation, as `tail` was seen (`t`), if
 * its owner has not yet: RESERVED, so that it is visible to survivors.
 * Only while `tail` is still `t`: once it moved on, the header was written
 * (the next reserver saw to it) and the address may already hold a record
 * of a later lap, which an "invalid for this position" test would take for
 * an unwritten header. */
static void
help_header(Channel *c, uint64_t t)
{
    uint32_t span = (uint32_t)(t >> 32), pos = (uint32_t)t - span;
    if (span == 0 || span > c->cap_units)
        return;
    uint64_t w = LOAD(word0(c, pos));
    if (w0_valid(w, pos) || LOAD(&c->hdr->tail) != t)
        return;
    CAS(word0(c, pos), &w, make_w0(pos, ST_RESERVED, span));
}

/* Moves hd over the FREE and ABANDONED records that follow it: a walk,
 * then one compare-and-swap from where it started. A record stays FREE
 * until hd has passed it, so if hd is still where the walk began, every
 * record walked over may be given back; if it moved, walk again from there. */
static int
advance_head(Channel *c)
{
    int moved = 0;
    for (;;) {
        uint32_t h = LOAD(&c->hdr->hd), r = LOAD(&c->hdr->rd), p = h;
        if ((uint32_t)(r - h) > c->cap_units)
            break;
        while (p != r) {
            uint64_t w = LOAD(word0(c, p));
            if (!w0_valid(w, p) || (w0_state(w) != ST_FREE && w0_state(w) != ST_ABANDONED))
                break;
            uint32_t span = w0_value(w);
            if (span == 0 || span > (uint32_t)(r - p))
                break;
            p += span;
        }
        if (p == h)
            break;
        if (CAS(&c->hdr->hd, &h, p)) {
            moved = 1;
            break;
        }
    }
    return moved;
}

/* Reserves room for `len` bytes; RES_OK with *pos and *span, or RES_FULL. The
 * caller holds intent `k` of our slot. */
static int
reserve(Channel *c, uint32_t len, int k, uint32_t *pos, uint32_t *span_out)
{
    uint64_t *intent = &c->slots[c->slot].intents[k];
    int helped_head = 0;
    /* A guess first: `tail` as our last reservation left it (a sole sender
     * is right every time), so the compare-and-swap below is the first
     * touch of its cache line, which then crosses once, not for a load and
     * again for the swap. A wrong guess fails the swap, which reads it. */
    uint64_t t = c->my_tail ? c->my_tail : LOAD(&c->hdr->tail);
    for (;;) {
        uint32_t p = (uint32_t)t, prev = (uint32_t)(t >> 32);
        /* The last reservation's header needs help unless it was ours (we
         * wrote it in commit). `tail` could come back to the same value
         * only after 2^32 units (64 GiB) of other processes' messages. */
        if (prev != 0 && t != c->my_tail)
            help_header(c, t);
        uint32_t span = span_for(c, p, len);
        uint32_t used = p - LOAD(&c->hdr->hd);
        if (used > c->cap_units || used + span > c->cap_units) {
            uint64_t now = LOAD(&c->hdr->tail);
            if (now != t) { /* the guess was wrong: look again */
                t = now;
                continue;
            }
            if (!helped_head && advance_head(c)) {
                helped_head = 1;
                continue;
            }
            return RES_FULL;
        }
        /* Relaxed: the compare-and-swap below releases it, and whoever
         * sees this reservation (through tail or its header) sees it. */
        __atomic_store_n(intent, MAKE_INTENT(p, span), __ATOMIC_RELAXED);
        uint64_t want = ((uint64_t)span << 32) | (uint32_t)(p + span);
        if (CAS(&c->hdr->tail, &t, want)) {
            c->my_tail = want;
            *pos = p;
            *span_out = span;
            return RES_OK;
        }
        /* t: tail as it is */
    }
}

/* Publishes one record whose payload is written. */
static void
commit_record(Channel *c, uint32_t pos, uint32_t span, uint32_t len)
{
    uint32_t *w1 = word1(c, pos);
    __atomic_store_n(&w1[0], span, __ATOMIC_RELAXED);
    __atomic_store_n(&w1[1], len, __ATOMIC_RELAXED);
    uint64_t w = LOAD(word0(c, pos));
    for (;;) {
        if (w0_valid(w, pos) && w0_state(w) != ST_RESERVED)
            break; /* only garbage can get here: leave it */
        if (CAS(word0(c, pos), &w, make_w0(pos, ST_COMMITTED, span)))
            break;
    }
}

static void
commit(Channel *c, uint32_t pos, uint32_t span, uint32_t len, int k)
{
    commit_record(c, pos, span, len);
    STORE(&c->slots[c->slot].intents[k], 0);
    wake(&c->hdr->data_seq, &c->hdr->rx_waiters, 0);
}

/* One non-blocking attempt to send one message of `len` bytes, made of the
 * `nparts` buffers at `parts` one after another. */
static int
try_send(Channel *c, const Py_buffer *parts, Py_ssize_t nparts, uint32_t len)
{
    uint32_t pos, span;
    const int k = 0;
    int rc;
    if (LOAD(&c->hdr->nrecv) == 0)
        return RES_BROKEN;
    /* Threads of one process take turns for the (short, never waiting)
     * reservation and copy, with intent 0 of our slot. */
    while (__atomic_exchange_n(&c->send_busy, 1, __ATOMIC_ACQUIRE))
        sched_yield();
    rc = reserve(c, len, k, &pos, &span);
    if (rc != RES_OK) {
        STORE(&c->slots[c->slot].intents[k], 0);
    } else {
        char *dst = payload_at(c, pos, len);
        for (Py_ssize_t i = 0; i < nparts; i++) {
            memcpy(dst, parts[i].buf, (size_t)parts[i].len);
            dst += parts[i].len;
        }
        commit(c, pos, span, len, k);
    }
    __atomic_store_n(&c->send_busy, 0, __ATOMIC_RELEASE);
    return rc;
}

#define BATCH_BYTES (256 * 1024) /* a batch's copies are made with the GIL held */
#define BATCH_UNITS (1u << 23)    /* a batch's span fits the headers' 24 bits */

/* One non-blocking attempt to send as many of the `n` one-buffer messages
 * at `msgs` as fit (each under BIG_COPY bytes), with one reservation: the
 * headers of all but the first record are written (RESERVED) before any is
 * committed, and the records are committed in order, so a sender that dies
 * mid-batch leaves each uncommitted record skippable and every committed
 * one deliverable. RES_OK with *sent >= 1, RES_FULL or RES_BROKEN. */
static int
try_send_batch(Channel *c, const Py_buffer *msgs, Py_ssize_t n, Py_ssize_t *sent)
{
    uint64_t *intent;
    uint32_t p = 0, total = 0;
    Py_ssize_t k = 0;
    int rc = RES_FULL, helped_head = 0;
    if (LOAD(&c->hdr->nrecv) == 0)
        return RES_BROKEN;
    while (__atomic_exchange_n(&c->send_busy, 1, __ATOMIC_ACQUIRE))
        sched_yield();
    intent = &c->slots[c->slot].intents[0];
    uint64_t t = c->my_tail ? c->my_tail : LOAD(&c->hdr->tail); /* a guess: see reserve */
    for (;;) {
        uint32_t prev = (uint32_t)(t >> 32), used, room;
        Py_ssize_t bytes = 0;
        p = (uint32_t)t;
        if (prev != 0 && t != c->my_tail)
            help_header(c, t);
        used = p - LOAD(&c->hdr->hd);
        room = used > c->cap_units ? 0 : c->cap_units - used;
        for (total = 0, k = 0; k < n && bytes < BATCH_BYTES; k++) {
            uint32_t s = span_for(c, p + total, (uint32_t)msgs[k].len);
            if (s > room - total || total + s > BATCH_UNITS)
                break;
            total += s;
            bytes += msgs[k].len;
        }
        if (k == 0) {
            uint64_t now = LOAD(&c->hdr->tail);
            if (now != t) { /* the guess was wrong: look again */
                t = now;
                continue;
            }
            if (!helped_head && advance_head(c)) {
                helped_head = 1;
                continue;
            }
            goto out;
        }
        __atomic_store_n(intent, MAKE_INTENT(p, total), __ATOMIC_RELAXED);
        uint64_t want = ((uint64_t)total << 32) | (uint32_t)(p + total);
        if (CAS(&c->hdr->tail, &t, want)) {
            c->my_tail = want;
            break;
        }
    }
    {
        uint32_t q = p + span_for(c, p, (uint32_t)msgs[0].len);
        for (Py_ssize_t j = 1; j < k; j++) {
            uint32_t s = span_for(c, q, (uint32_t)msgs[j].len);
            STORE(word0(c, q), make_w0(q, ST_RESERVED, s));
            q += s;
        }
        q = p;
        for (Py_ssize_t j = 0; j < k; j++) {
            uint32_t len = (uint32_t)msgs[j].len, s = span_for(c, q, len);
            memcpy(payload_at(c, q, len), msgs[j].buf, len);
            commit_record(c, q, s, len);
            q += s;
        }
    }
    STORE(intent, 0);
    wake(&c->hdr->data_seq, &c->hdr->rx_waiters, 0);
    *sent = k;
    rc = RES_OK;
out:
    __atomic_store_n(&c->send_busy, 0, __ATOMIC_RELEASE);
    return rc;
}

/* One attempt to claim the record at rd. RES_OK fills *rec; RES_EMPTY,
 * RES_NOT_READY (its sender is still writing), or RES_CLOSED.
 *
 * With `copied` (the GIL held), a message of at most `copy_max` bytes
 * (and under BIG_COPY) is taken in one step instead: its payload is copied into a new bytes object first,
 * then its header goes COMMITTED -> FREE; *copied is the bytes and the
 * record needs no release_record, only give_back. The copy is made while
 * the record is COMMITTED, so no sender can be writing there unless another
 * receiver took it meanwhile, and then the compare-and-swap fails and the
 * copy is dropped. */
static int
try_claim(Channel *c, record *rec, Py_ssize_t max_len, PyObject **copied,
          Py_ssize_t copy_max)
{
    for (int round = 0;; round++) {
        uint32_t r = LOAD(&c->hdr->rd);
        uint64_t t;
        uint32_t tp, seen = __atomic_load_n(&c->tail_seen, __ATOMIC_RELAXED);
        if ((uint32_t)(seen - r) - 1u < c->cap_units) {
            /* rd is before a tail this process saw: a reservation is there,
             * no need to read tail (whose line each send changes). Only its
             * span is needed from it below; `last` 0 skips the help. */
            tp = seen;
            t = tp;
        } else {
            t = LOAD(&c->hdr->tail);
            tp = (uint32_t)t;
            __atomic_store_n(&c->tail_seen, tp, __ATOMIC_RELAXED);
        }
        uint32_t last = (uint32_t)(t >> 32);
        if (r == tp) {
            if (LOAD(&c->hdr->nsend) == 0 && round == 0)
                continue; /* look once more: a last message before the close */
            return LOAD(&c->hdr->nsend) == 0 ? RES_CLOSED : RES_EMPTY;
        }
        if ((uint32_t)(tp - r) > c->cap_units)
            return RES_NOT_READY; /* garbage in the cursors */
        uint64_t w;
        if (max_len < 0 && last != 0 && (uint32_t)(tp - last) == r) {
            /* The newest reservation, as a receiver that keeps up finds:
             * claimed by a compare-and-swap at once, its committed header
             * guessed from tail, with no load first (a load and then a
             * compare-and-swap would bring its cache line over twice). A
             * wrong guess reads the header as the load would have. */
            w = make_w0(r, ST_COMMITTED, last);
            if (CAS(word0(c, r), &w, make_w0(r, ST_CLAIMED, c->owner))) {
                uint32_t len = LOAD_RELAXED(&word1(c, r)[1]), expect_rd = r;
                if (len > c->max_message)
                    len = 0; /* garbage: an empty message, never a read outside */
                if (copied != NULL && len < BIG_COPY && (Py_ssize_t)len <= copy_max) {
                    /* ours: copied out, then freed (no one else writes a
                     * record claimed by a live process) */
                    PyObject *b = PyBytes_FromStringAndSize(payload_at(c, r, len), len);
                    if (b != NULL) {
                        STORE(word0(c, r), make_w0(r, ST_FREE, last));
                        *copied = b;
                    } else {
                        PyErr_Clear(); /* left claimed: take_bytes raises */
                    }
                }
                CAS(&c->hdr->rd, &expect_rd, r + last);
                rec->pos = r;
                rec->span = last;
                rec->len = len;
                rec->payload = payload_at(c, r, len);
                return RES_OK;
            }
        } else {
            w = LOAD(word0(c, r));
        }
        if (!w0_valid(w, r)) {
            if (last != 0 && (uint32_t)(tp - last) == r)
                help_header(c, t);
            return RES_NOT_READY;
        }
        uint32_t span;
        switch (w0_state(w)) {
        case ST_RESERVED:
            return RES_NOT_READY;
        case ST_COMMITTED: {
            span = w0_value(w);
            uint32_t len = LOAD_RELAXED(&word1(c, r)[1]);
            if (span == 0 || span > (uint32_t)(tp - r)) {
                /* garbage: nothing sane to skip to */
                return RES_NOT_READY;
            }
            if (max_len >= 0 && len <= c->max_message && (Py_ssize_t)len > max_len) {
                rec->len = len;
                return RES_FULL; /* the caller's buffer is too small: not claimed */
            }
            if (copied != NULL && len <= c->max_message && len < BIG_COPY &&
                (Py_ssize_t)len <= copy_max) {
                PyObject *b = PyBytes_FromStringAndSize(payload_at(c, r, len), len);
                if (b == NULL) {
                    PyErr_Clear(); /* take it the usual way: take_bytes raises */
                    copied = NULL;
                    continue;
                }
                if (!CAS(word0(c, r), &w, make_w0(r, ST_FREE, span))) {
                    Py_DECREF(b);
                    continue;
                }
                *copied = b;
            } else if (!CAS(word0(c, r), &w, make_w0(r, ST_CLAIMED, c->owner))) {
                continue;
            }
            /* A failed CAS writes the current value into its "expected"
             * argument: move rd through a copy, `r` is our record. */
            uint32_t expect_rd = r;
            CAS(&c->hdr->rd, &expect_rd, r + span);
            if (len > c->max_message)
                len = 0; /* garbage: an empty message, never a read outside */
            rec->pos = r;
            rec->span = span;
            rec->len = len;
            rec->payload = payload_at(c, r, len);
            return RES_OK;
        }
        case ST_CLAIMED:
            span = LOAD_RELAXED(&word1(c, r)[0]);
            break;
        case ST_FREE:
        case ST_ABANDONED:
            span = w0_value(w);
            break;
        default:
            return RES_NOT_READY;
        }
        if (span == 0 || span > (uint32_t)(tp - r))
            return RES_NOT_READY;
        CAS(&c->hdr->rd, &r, r + span); /* help it past a taken record */
    }
}

/* Gives freed records back to senders: `hd` is moved over them lazily: when
 * they add up to HEAD_LAG_UNITS (or an eighth of the ring), or at once when
 * a sender sleeps; a sender that finds the ring full moves it itself
 * (reserve). So senders, which read `hd` at every send, find its cache line
 * unchanged most of the time. */
static void
give_back(Channel *c, uint32_t end)
{
    uint32_t lag = end - LOAD_RELAXED(&c->hdr->hd);
    uint32_t most = c->cap_units / 8 < HEAD_LAG_UNITS ? c->cap_units / 8 : HEAD_LAG_UNITS;
    if ((lag >= most || __atomic_load_n(&c->hdr->tx_waiters, __ATOMIC_SEQ_CST) != 0) &&
        advance_head(c))
        wake(&c->hdr->space_seq, &c->hdr->tx_waiters, 0);
}

/* Frees a record claimed by this process (then give_back). */
static void
release_record(Channel *c, const record *rec)
{
    uint64_t w = LOAD(word0(c, rec->pos));
    if (w0_valid(w, rec->pos) && w0_state(w) == ST_CLAIMED && w0_value(w) == c->owner)
        CAS(word0(c, rec->pos), &w, make_w0(rec->pos, ST_FREE, rec->span));
    give_back(c, rec->pos + rec->span);
}

/* What a sleeper does every RECHECK_NS: reap dead processes and skip an
 * abandoned reservation at rd. */
static void
recover(Channel *c)
{
    int changed = reap_dead(c);
    uint32_t r = LOAD(&c->hdr->rd);
    uint64_t t = LOAD(&c->hdr->tail);
    uint32_t tp = (uint32_t)t, last = (uint32_t)(t >> 32);
    if (r != tp && (uint32_t)(tp - r) <= c->cap_units) {
        uint64_t w = LOAD(word0(c, r));
        if (!w0_valid(w, r) && last != 0 && (uint32_t)(tp - last) == r) {
            help_header(c, t);
            w = LOAD(word0(c, r));
        }
        if (w0_valid(w, r) && w0_state(w) == ST_RESERVED && reservation_abandoned(c, r) &&
            CAS(word0(c, r), &w, make_w0(r, ST_ABANDONED, w0_value(w)))) {
            uint32_t span = w0_value(w);
            if (span >= 1 && span <= (uint32_t)(tp - r))
                CAS(&c->hdr->rd, &r, r + span);
            changed = 1;
        }
    }
    if (advance_head(c))
        changed = 1;
    if (changed) {
        wake(&c->hdr->data_seq, &c->hdr->rx_waiters, 1);
        wake(&c->hdr->space_seq, &c->hdr->tx_waiters, 1);
    }
}

/* ---- waiting ------------------------------------------------------------------ */

typedef struct {
    Channel *c;
    int sending;
    const Py_buffer *parts; /* sending: the message's pieces */
    Py_ssize_t nparts;
    uint32_t len;
    Py_ssize_t max_len; /* receiving into a buffer: its size; else -1 */
    record rec;         /* receiving: what was claimed */
    PyObject **copied;  /* receiving: see try_claim (used only with the GIL) */
    Py_ssize_t copy_max;
    int outcome;        /* RES_OK, RES_CLOSED, RES_BROKEN, RES_FULL (buffer too small) */
    const unixipc_deadline *deadline;
    const char *cancel; /* async twins' cancellation token, or NULL */
} waiter;

/* One attempt; `gil`: whether the caller holds the GIL. */
static int
attempt(waiter *w, int gil)
{
    if (w->sending)
        return try_send(w->c, w->parts, w->nparts, w->len);
    return try_claim(w->c, &w->rec, w->max_len, gil ? w->copied : NULL, w->copy_max);
}

static int
done(int rc)
{
    return rc == RES_OK || rc == RES_CLOSED || rc == RES_BROKEN;
}

/* Runs without the GIL: spins, then sleeps on the futex, until the attempt
 * succeeds, the deadline passes (ETIMEDOUT) or a signal comes (EINTR). */
static long
wait_fn(void *p, const struct timespec *remaining)
{
    waiter *w = p;
    Channel *c = w->c;
    shm_header *h = c->hdr;
    uint32_t *seq = w->sending ? &h->space_seq : &h->data_seq;
    uint32_t *waiters = w->sending ? &h->tx_waiters : &h->rx_waiters;
    long long deadline = -1, start = now_ns(), spin_until;
    int rc;

    if (remaining != NULL)
        deadline = start + (long long)remaining->tv_sec * 1000000000LL + remaining->tv_nsec;
    spin_until = start + __atomic_load_n(&c->spin_ns, __ATOMIC_RELAXED);
    for (int i = 0;; i++) {
        rc = attempt(w, 0);
        if (done(rc) || (rc == RES_FULL && !w->sending))
            goto finished;
        if ((i & 63) == 63) {
            long long now = now_ns();
            if (now >= spin_until || (deadline >= 0 && now >= deadline))
                break;
        }
        cpu_relax();
    }
    {
        long long s = __atomic_load_n(&c->spin_ns, __ATOMIC_RELAXED) / 2;
        __atomic_store_n(&c->spin_ns, s < SPIN_MIN_NS ? SPIN_MIN_NS : s, __ATOMIC_RELAXED);
    }
    for (;;) {
        long long now = now_ns(), until = now + RECHECK_NS;
        int err;
        if (unixipc_cancelled(w->cancel))
            return -1;
        if (deadline >= 0 && now >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (deadline >= 0 && deadline < until)
            until = deadline;
        __atomic_fetch_add(waiters, 1, __ATOMIC_SEQ_CST);
        uint32_t seen = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
        rc = attempt(w, 0);
        if (done(rc) || (rc == RES_FULL && !w->sending)) {
            __atomic_fetch_sub(waiters, 1, __ATOMIC_SEQ_CST);
            return w->outcome = rc, 0;
        }
        err = futex_wait_until(seq, seen, until);
        __atomic_fetch_sub(waiters, 1, __ATOMIC_SEQ_CST);
        if (err == EINTR) {
            errno = EINTR;
            return -1;
        }
        if (err == ETIMEDOUT)
            recover(c);
        rc = attempt(w, 0);
        if (done(rc) || (rc == RES_FULL && !w->sending))
            return w->outcome = rc, 0;
    }
finished:
    if (now_ns() - start < POLL_NS)
        __atomic_store_n(&c->poll_ns, POLL_NS, __ATOMIC_RELAXED); /* short waits again */
    {
        long long s = __atomic_load_n(&c->spin_ns, __ATOMIC_RELAXED);
        s += s / 2 + SPIN_MIN_NS;
        __atomic_store_n(&c->spin_ns, s > SPIN_MAX_NS ? SPIN_MAX_NS : s, __ATOMIC_RELAXED);
    }
    w->outcome = rc;
    return 0;
}

/* ---- Python-facing helpers ------------------------------------------------------ */

static PyObject *
closed_error(const char *what)
{
    PyObject *mod = PyImport_ImportModule("unixipc.errors");
    PyObject *cls = mod ? PyObject_GetAttrString(mod, "ChannelClosedError") : NULL;
    Py_XDECREF(mod);
    if (cls == NULL)
        return NULL;
    PyErr_Format(cls, "%s: no process has the sending side open and the ring is empty", what);
    Py_DECREF(cls);
    return NULL;
}

static PyObject *
broken_error(const char *what)
{
    errno = EPIPE;
    PyErr_Format(PyExc_BrokenPipeError, "[Errno %d] %s: no process has the receiving side open",
                 EPIPE, what);
    return NULL;
}

static int reacquire(Channel *c);

/* check_usable's part when the channel is closed, the process a fork child
 * that has not taken its own slot yet, or the side closed. */
static int
check_usable_rest(Channel *c, unsigned side)
{
    if (c->base == NULL) {
        unixipc_closed_error((PyObject *)c);
        return -1;
    }
    if (c->epoch != fork_epoch && reacquire(c) < 0)
        return -1;
    if (side && !(c->sides & side)) {
        PyErr_SetString(PyExc_ValueError, side == SIDE_SEND
                                              ? "the sending side of this channel was closed"
                                              : "the receiving side of this channel was closed");
        return -1;
    }
    return 0;
}

/* Open, usable in this process (a fork child takes its own slot first), and
 * the side asked for still open here. */
static inline int
check_usable(Channel *c, unsigned side)
{
    if (c->base != NULL && c->epoch == fork_epoch && (!side || (c->sides & side)))
        return 0;
    return check_usable_rest(c, side);
}

/* block/timeout arguments: *deadline set; returns 0/1 for block, -1 error. */
static int
wait_args(PyObject *block_obj, PyObject *timeout_obj, unixipc_deadline *deadline)
{
    int block;
    if (!unixipc_conv_wait(block_obj, timeout_obj, &block, deadline))
        return -1;
    return block;
}

/* Finishes a wait that could not be satisfied at once. Returns 0 with
 * w->outcome, or -1 with an exception. */
static int
blocking_wait(waiter *w, int block, const char *what)
{
    if (!block) {
        errno = EAGAIN;
        PyErr_Format(PyExc_BlockingIOError, "[Errno %d] %s: %s", EAGAIN, what,
                     w->sending ? "the ring is full" : "no message");
        return -1;
    }
    /* A poll of at most POLL_NS with the GIL held, as any short C call holds
     * it: in a ping-pong the answer comes within a microsecond, and giving
     * the GIL up and taking it back would put two lock hand-overs on every
     * message's path. Waits that outlast it turn the poll off until a wait
     * is short again (wait_fn); the spin and the sleep are without the GIL. */
    long long poll = __atomic_load_n(&w->c->poll_ns, __ATOMIC_RELAXED);
    long long start = now_ns(), until = start + poll;
    if (w->deadline != NULL && !w->deadline->infinite) {
        long long at = (long long)w->deadline->at.tv_sec * 1000000000LL + w->deadline->at.tv_nsec;
        if (at < until)
            until = at; /* timeout=0 and the like: no poll, and it stays on */
    }
    if (poll > 0 && !w->cancel && until > start) {
        for (int i = 1;; i++) {
            int rc = attempt(w, 1);
            if (done(rc) || (rc == RES_FULL && !w->sending)) {
                w->outcome = rc;
                return 0;
            }
            if ((i & 15) == 0 && now_ns() >= until)
                break;
            cpu_relax();
        }
        __atomic_store_n(&w->c->poll_ns, 0, __ATOMIC_RELAXED);
    }
    if (unixipc_blocking_call(what, wait_fn, w, w->deadline, UNIXIPC_WAIT_NATIVE) < 0)
        return -1;
    return 0;
}

/* Copies, releasing the GIL for long copies. */
static void
copy(char *dst, const char *src, size_t n)
{
    if (n >= BIG_COPY) {
        Py_BEGIN_ALLOW_THREADS
        memcpy(dst, src, n);
        Py_END_ALLOW_THREADS
    } else {
        memcpy(dst, src, n);
    }
}

/* Sends one message made of the `nparts` pinned buffers at `parts`. */
static int
send_one(Channel *c, const Py_buffer *parts, Py_ssize_t nparts, int block,
         const unixipc_deadline *dl, const char *cancel)
{
    waiter w;
    int rc;
    Py_ssize_t len = 0;
    for (Py_ssize_t i = 0; i < nparts; i++) {
        len += parts[i].len; /* each part is at most max_message: no overflow */
        if (len > (Py_ssize_t)c->max_message || parts[i].len > (Py_ssize_t)c->max_message) {
            PyErr_Format(PyExc_ValueError,
                         "message of %zd bytes%s is larger than the channel's "
                         "max_message_size (%u)", len, i + 1 < nparts ? " or more" : "",
                         c->max_message);
            return -1;
        }
    }
    if (len >= BIG_COPY) {
        /* No GIL needed: the buffers are pinned. */
        Py_BEGIN_ALLOW_THREADS
        rc = try_send(c, parts, nparts, (uint32_t)len);
        Py_END_ALLOW_THREADS
    } else {
        rc = try_send(c, parts, nparts, (uint32_t)len);
    }
    if (rc == RES_FULL) {
        memset(&w, 0, sizeof w);
        w.c = c;
        w.sending = 1;
        w.parts = parts;
        w.nparts = nparts;
        w.len = (uint32_t)len;
        w.max_len = -1;
        w.deadline = dl;
        w.cancel = cancel;
        if (blocking_wait(&w, block, "send") < 0)
            return -1;
        rc = w.outcome;
    }
    if (rc == RES_BROKEN) {
        broken_error("send");
        return -1;
    }
    return 0;
}

/* claim_one's part after an attempt that did not claim (rc): the wait,
 * and the errors. */
static int
claim_rest(Channel *c, int rc, record *rec, Py_ssize_t max_len, int block,
           const unixipc_deadline *dl, const char *what, const char *cancel, PyObject **copied,
           Py_ssize_t copy_max)
{
    if (rc == RES_EMPTY || rc == RES_NOT_READY) {
        waiter w;
        memset(&w, 0, sizeof w);
        w.c = c;
        w.max_len = max_len;
        w.copied = copied;
        w.copy_max = copy_max;
        w.deadline = dl;
        w.cancel = cancel;
        if (blocking_wait(&w, block, what) < 0)
            return -1;
        rc = w.outcome;
        *rec = w.rec;
    }
    if (rc == RES_CLOSED) {
        closed_error(what);
        return -1;
    }
    if (rc == RES_FULL) {
        PyErr_Format(PyExc_ValueError,
                     "%s: the next message (%u bytes) does not fit in the buffer (%zd bytes)",
                     what, rec->len, max_len);
        return -1;
    }
    return 0;
}

/* Claims one record, waiting as asked. With `copied`, the message may come
 * taken already (see try_claim): then *copied is set. Inline: a message
 * there already, the usual case, costs one attempt and no call frame more. */
static inline int
claim_one(Channel *c, record *rec, Py_ssize_t max_len, int block, const unixipc_deadline *dl,
          const char *what, const char *cancel, PyObject **copied, Py_ssize_t copy_max)
{
    int rc = try_claim(c, rec, max_len, copied, copy_max);
    if (rc == RES_OK)
        return 0;
    return claim_rest(c, rc, rec, max_len, block, dl, what, cancel, copied, copy_max);
}

static PyObject *
take_bytes(Channel *c, const record *rec)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, rec->len);
    if (out != NULL)
        copy(PyBytes_AS_STRING(out), rec->payload, rec->len);
    release_record(c, rec);
    return out;
}

/* The bytes of a record from claim_one: `copied` if it came taken, else
 * copied out now. */
static PyObject *
taken(Channel *c, const record *rec, PyObject *copied)
{
    if (copied == NULL)
        return take_bytes(c, rec);
    give_back(c, rec->pos + rec->span);
    return copied;
}

/* One attempt, with the GIL held, to send the bytes object `data` when it is
 * short (the usual case, first): RES_OK; RES_FULL when there is no room or
 * the message is not short (the caller goes the general way, send_one); -1
 * with BrokenPipeError. */
static int
send_short_now(Channel *c, PyObject *data)
{
    Py_buffer part; /* try_send reads only a part's buf and len */
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    if (len >= BIG_COPY || len > (Py_ssize_t)c->max_message)
        return RES_FULL;
    part.buf = PyBytes_AS_STRING(data);
    part.len = len;
    int rc = try_send(c, &part, 1, (uint32_t)len);
    if (rc == RES_BROKEN) {
        broken_error("send");
        return -1;
    }
    return rc;
}

/* ---- methods ------------------------------------------------------------------ */

static const char *const send_names[] = {"data", "block", "timeout", "_cancel", NULL};

static PyObject *
ch_send(Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[4];
    Py_buffer view, cancel_view;
    const char *cancel;
    unixipc_deadline dl;
    int block, rc;
    if (nargs == 1 && kwnames == NULL && PyBytes_CheckExact(args[0])) {
        /* The common call, send(bytes): nothing to parse, nothing to pin (a
         * bytes object never changes and the caller holds it). */
        if (check_usable(self, SIDE_SEND) < 0)
            return NULL;
        if ((rc = send_short_now(self, args[0])) != RES_FULL)
            return rc < 0 ? NULL : Py_NewRef(Py_None);
        if (PyBuffer_FillInfo(&view, NULL, PyBytes_AS_STRING(args[0]),
                              PyBytes_GET_SIZE(args[0]), 1, PyBUF_SIMPLE) < 0)
            return NULL;
        dl.infinite = 1;
        rc = send_one(self, &view, 1, 1, &dl, NULL);
        if (rc < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    if (nargs == 1 && kwnames != NULL && PyTuple_GET_SIZE(kwnames) == 1 &&
        PyBytes_CheckExact(args[0]) &&
        PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "timeout") == 0) {
        /* The next most common, send(bytes, timeout=...) (the queues'). */
        if (unixipc_deadline_from_timeout(args[1], &dl) < 0 ||
            check_usable(self, SIDE_SEND) < 0 ||
            PyBuffer_FillInfo(&view, NULL, PyBytes_AS_STRING(args[0]),
                              PyBytes_GET_SIZE(args[0]), 1, PyBUF_SIMPLE) < 0 ||
            send_one(self, &view, 1, 1, &dl, NULL) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    if (unixipc_parse_args("send", args, nargs, kwnames, send_names, 1, 1, v) < 0)
        return NULL;
    if ((block = wait_args(v[1], v[2], &dl)) < 0)
        return NULL;
    if (PyBytes_CheckExact(v[0])) { /* as above: a reference, not a request */
        if (PyBuffer_FillInfo(&view, NULL, PyBytes_AS_STRING(v[0]), PyBytes_GET_SIZE(v[0]),
                              1, PyBUF_SIMPLE) < 0)
            return NULL;
    } else if (PyObject_GetBuffer(v[0], &view, PyBUF_C_CONTIGUOUS) < 0) {
        return NULL;
    }
    if (unixipc_cancel_arg(v[3], &cancel_view, &cancel) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    rc = check_usable(self, SIDE_SEND);
    if (rc == 0)
        rc = send_one(self, &view, 1, block, &dl, cancel);
    PyBuffer_Release(&view); /* nothing for a filled-in view (obj NULL) */
    if (cancel_view.obj)
        PyBuffer_Release(&cancel_view);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

#define STACK_VIEWS 64

/* Pins the buffers of the n items of the fast sequence `seq` in views[]
 * (bytes objects directly: a reference, no buffer request), *got of them.
 * Returns 0, or -1 with an exception (*got pinned still). With `limit` >=
 * 0, an item longer than that is ValueError (naming `limit` as the
 * channel's max_message_size). */
static int
pin_items(PyObject *seq, Py_buffer *views, Py_ssize_t n, Py_ssize_t limit, Py_ssize_t *got)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        *got = i;
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (PyBytes_CheckExact(item)) {
            memset(&views[i], 0, sizeof views[i]);
            views[i].buf = PyBytes_AS_STRING(item);
            views[i].len = PyBytes_GET_SIZE(item);
            views[i].obj = Py_NewRef(item);
            views[i].readonly = 1;
            views[i].itemsize = 1;
        } else if (PyObject_GetBuffer(item, &views[i], PyBUF_C_CONTIGUOUS) < 0) {
            return -1;
        }
        *got = i + 1;
        if (limit >= 0 && views[i].len > limit) {
            PyErr_Format(PyExc_ValueError,
                         "message %zd of %zd bytes is larger than the channel's "
                         "max_message_size (%zd)", i, views[i].len, limit);
            return -1;
        }
    }
    *got = n;
    return 0;
}

/* An array for n buffers: `stack` when they fit, else from the heap (NULL
 * with MemoryError). */
static Py_buffer *
views_for(Py_ssize_t n, Py_buffer *stack)
{
    if (n <= STACK_VIEWS)
        return stack;
    Py_buffer *views = PyMem_Malloc((size_t)n * sizeof(Py_buffer));
    if (views == NULL)
        PyErr_NoMemory();
    return views;
}

static void
unpin_items(Py_buffer *views, Py_ssize_t got, Py_buffer *stack)
{
    for (Py_ssize_t i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    if (views != stack)
        PyMem_Free(views);
}

static PyObject *
ch_send_many(Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[4], *seq = NULL;
    Py_buffer *views = NULL, cancel_view = {0}, stack[STACK_VIEWS];
    const char *cancel;
    unixipc_deadline dl;
    Py_ssize_t n = 0, got = 0, sent = 0;
    int block;
    PyObject *result = NULL;

    if (unixipc_parse_args("send_many", args, nargs, kwnames, send_names, 1, 1, v) < 0)
        return NULL;
    if ((block = wait_args(v[1], v[2], &dl)) < 0)
        return NULL;
    seq = unixipc_conv_messages(v[0], "send_many");
    if (seq == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    if ((views = views_for(n, stack)) == NULL)
        goto out;
    /* Every message is checked before the first is written. */
    if (pin_items(seq, views, n, self->max_message, &got) < 0)
        goto out;
    if (unixipc_cancel_arg(v[3], &cancel_view, &cancel) < 0)
        goto out;
    if (check_usable(self, SIDE_SEND) < 0)
        goto out;
    for (sent = 0; sent < n;) {
        Py_ssize_t run = 0, done_now = 0;
        while (sent + run < n && run < 4096 && views[sent + run].len < BIG_COPY)
            run++;
        if (run > 1) {
            int rc = try_send_batch(self, &views[sent], run, &done_now);
            if (rc == RES_BROKEN) {
                broken_error("send_many");
                break;
            }
            if (rc == RES_OK) {
                sent += done_now;
                continue;
            }
        }
        /* one message: a long one, or none fits now (wait as asked) */
        if (send_one(self, &views[sent], 1, block, &dl, cancel) < 0) {
            /* Part of the batch went: report how much, unless a signal
             * handler raised something other than our own wait's error. */
            if (sent > 0 && (PyErr_ExceptionMatches(PyExc_BlockingIOError) ||
                             PyErr_ExceptionMatches(PyExc_TimeoutError)))
                PyErr_Clear();
            break;
        }
        sent++;
    }
    if (!PyErr_Occurred())
        result = PyLong_FromSsize_t(sent);
out:
    if (views != NULL)
        unpin_items(views, got, stack);
    if (cancel_view.obj)
        PyBuffer_Release(&cancel_view);
    Py_DECREF(seq);
    return result;
}

/* _send_parts(parts, block=True, timeout=None, _cancel=None): sends ONE
 * message, the bytes-like objects of `parts` one after another, each copied
 * straight into the ring (no joined copy first). */
static PyObject *
ch_send_parts(Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[4], *seq = NULL;
    Py_buffer *views = NULL, cancel_view = {0}, stack[STACK_VIEWS];
    const char *cancel;
    unixipc_deadline dl;
    Py_ssize_t n = 0, got = 0;
    int block;
    PyObject *result = NULL;

    if (unixipc_parse_args("_send_parts", args, nargs, kwnames, send_names, 1, 1, v) < 0)
        return NULL;
    if ((block = wait_args(v[1], v[2], &dl)) < 0)
        return NULL;
    seq = PySequence_Fast(v[0], "_send_parts() takes an iterable of bytes-like objects");
    if (seq == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(seq);
    if ((views = views_for(n, stack)) == NULL ||
        pin_items(seq, views, n, -1, &got) < 0)
        goto out;
    if (unixipc_cancel_arg(v[3], &cancel_view, &cancel) < 0)
        goto out;
    if (check_usable(self, SIDE_SEND) == 0 &&
        send_one(self, views, n, block, &dl, cancel) == 0)
        result = Py_NewRef(Py_None);
out:
    if (views != NULL)
        unpin_items(views, got, stack);
    if (cancel_view.obj)
        PyBuffer_Release(&cancel_view);
    Py_DECREF(seq);
    return result;
}

static const char *const recv_names[] = {"block", "timeout", "_cancel", NULL};

/* What every receive method does before it has a record: reads block,
 * timeout and _cancel from v[0..2], pins `into` (receive_into's buffer,
 * or NULL) in *into_view, checks that the receiving side is usable here and
 * claims one record (waiting as asked). Returns 0 with *rec (and, with
 * `into`, *into_view for the caller to release), or -1 with an exception
 * and nothing held. With `copied`, a message of at most `copy_max` bytes
 * may come taken already, in *copied (see try_claim). */
static int
receive_start(Channel *self, PyObject *const *v, PyObject *into, Py_buffer *into_view,
              const char *what, record *rec, PyObject **copied, Py_ssize_t copy_max)
{
    Py_buffer cancel_view = {0};
    const char *cancel;
    unixipc_deadline dl;
    Py_ssize_t max_len = -1;
    int block, rc;
    if ((block = wait_args(v[0], v[1], &dl)) < 0)
        return -1;
    if (into != NULL) {
        if (PyObject_GetBuffer(into, into_view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
            return -1;
        max_len = into_view->len;
    }
    rc = unixipc_cancel_arg(v[2], &cancel_view, &cancel);
    if (rc == 0)
        rc = check_usable(self, SIDE_RECV);
    if (rc == 0)
        rc = claim_one(self, rec, max_len, block, &dl, what, cancel, copied, copy_max);
    if (cancel_view.obj)
        PyBuffer_Release(&cancel_view);
    if (rc < 0 && into != NULL)
        PyBuffer_Release(into_view);
    return rc;
}

static PyObject *
ch_receive(Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[3], *copied = NULL;
    record rec;
    if (nargs == 0 && kwnames == NULL) {
        /* The common call, receive(): block, no deadline, no cancellation. */
        unixipc_deadline dl;
        dl.infinite = 1;
        if (check_usable(self, SIDE_RECV) < 0 ||
            claim_one(self, &rec, -1, 1, &dl, "receive", NULL, &copied, BIG_COPY) < 0)
            return NULL;
    } else {
        if (unixipc_parse_args("receive", args, nargs, kwnames, recv_names, 0, 0, v) < 0 ||
            receive_start(self, v, NULL, NULL, "receive", &rec, &copied, BIG_COPY) < 0)
            return NULL;
    }
    return taken(self, &rec, copied);
}

static const char *const many_names[] = {"max_count", "block", "timeout", "_cancel", NULL};

/* receive_many's further messages: the committed records that follow
 * `*pos` (the end of a record this call took), each copied out and freed
 * with one compare-and-swap (as try_claim's `copied`), at most `room` of
 * them, stored as new references in `items`. rd is not moved for each: the
 * caller moves it once (move_rd) past them all. Returns how many. */
static Py_ssize_t
take_run(Channel *c, uint32_t *pos, PyObject **items, Py_ssize_t room)
{
    uint32_t p = *pos, bound = __atomic_load_n(&c->tail_seen, __ATOMIC_RELAXED);
    Py_ssize_t n = 0;
    while (n < room) {
        if ((uint32_t)(bound - p) - 1u >= c->cap_units) {
            /* p is not before the tail last seen: read tail again */
            bound = (uint32_t)LOAD(&c->hdr->tail);
            __atomic_store_n(&c->tail_seen, bound, __ATOMIC_RELAXED);
            if ((uint32_t)(bound - p) - 1u >= c->cap_units)
                break;
        }
        uint64_t w = LOAD(word0(c, p));
        if (!w0_valid(w, p) || w0_state(w) != ST_COMMITTED)
            break;
        uint32_t span = w0_value(w), len = LOAD_RELAXED(&word1(c, p)[1]);
        if (span == 0 || span > (uint32_t)(bound - p) || len > c->max_message ||
            len >= BIG_COPY)
            break;
        PyObject *b = PyBytes_FromStringAndSize(payload_at(c, p, len), len);
        if (b == NULL) {
            PyErr_Clear(); /* the record stays for the next call, which raises */
            break;
        }
        if (!CAS(word0(c, p), &w, make_w0(p, ST_FREE, span))) {
            Py_DECREF(b); /* another receiver took it */
            break;
        }
        items[n++] = b;
        p += span;
    }
    *pos = p;
    return n;
}

/* Moves rd from where it is, if between `from` and `to`, to `to`. */
static void
move_rd(Channel *c, uint32_t from, uint32_t to)
{
    uint32_t r = LOAD(&c->hdr->rd);
    while (r != to && (uint32_t)(r - from) < (uint32_t)(to - from))
        if (CAS(&c->hdr->rd, &r, to))
            break;
}

#define RUN_ITEMS 256

static PyObject *
ch_receive_many(Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[4], *list = NULL, *items[RUN_ITEMS], *copied = NULL;
    record rec;
    long max_count;
    Py_ssize_t n = 0;
    if (unixipc_parse_args("receive_many", args, nargs, kwnames, many_names, 1, 1, v) < 0)
        return NULL;
    if (!unixipc_conv_long_in(v[0], 1, LONG_MAX, "max_count", &max_count))
        return NULL;
    if (receive_start(self, v + 1, NULL, NULL, "receive_many", &rec, &copied, BIG_COPY) < 0)
        return NULL;
    items[0] = copied != NULL ? copied : take_bytes(self, &rec);
    if (items[0] == NULL)
        return NULL;
    n = 1;
    /* Then what follows, in runs: up to RUN_ITEMS at a time. */
    uint32_t start = rec.pos + rec.span, pos = start;
    for (;;) {
        Py_ssize_t want = max_count - (Py_ssize_t)(list ? PyList_GET_SIZE(list) : 0) - n;
        Py_ssize_t got = take_run(self, &pos, items + n, want < RUN_ITEMS - n ? want
                                                                               : RUN_ITEMS - n);
        n += got;
        if (list == NULL) {
            list = PyList_New(n);
            if (list == NULL)
                break;
            for (Py_ssize_t i = 0; i < n; i++)
                PyList_SET_ITEM(list, i, items[i]);
        } else {
            for (Py_ssize_t i = 0; i < n; i++) {
                if (PyList_Append(list, items[i]) < 0) {
                    Py_CLEAR(list);
                    break;
                }
            }
            for (Py_ssize_t i = 0; i < n; i++)
                Py_DECREF(items[i]);
        }
        n = 0;
        if (list == NULL || got == 0 || PyList_GET_SIZE(list) >= max_count)
            break;
    }
    for (Py_ssize_t i = 0; i < n; i++) /* only if a list could not be made */
        Py_DECREF(items[i]);
    if (pos != start) {
        move_rd(self, start, pos);
        give_back(self, pos);
    } else if (copied != NULL) {
        give_back(self, pos);
    }
    return list;
}

static const char *const into_names[] = {"buffer", "block", "timeout", "_cancel", NULL};

static PyObject *
ch_receive_into(Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[4];
    Py_buffer view;
    record rec;
    if (unixipc_parse_args("receive_into", args, nargs, kwnames, into_names, 1, 1, v) < 0)
        return NULL;
    if (receive_start(self, v + 1, v[0], &view, "receive_into", &rec, NULL, 0) < 0)
        return NULL;
    copy(view.buf, rec.payload, rec.len);
    release_record(self, &rec);
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(rec.len);
}

/* ---- zero-copy views ------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    Channel *channel; /* strong: the mapping lives while a view does */
    record rec;
    unsigned long epoch;
    Py_ssize_t exports;
    int ended;
} View;

static PyTypeObject *view_type; /* set at exec */

static void
view_settle(View *v)
{
    if (v->ended == 1 && v->exports == 0) {
        v->ended = 2;
        if (v->channel->base != NULL && v->epoch == fork_epoch) /* a fork child's copy is not ours */
            release_record(v->channel, &v->rec);
        v->channel->views--;
    }
}

static int
view_getbuffer(View *v, Py_buffer *buf, int flags)
{
    if (v->ended) {
        PyErr_SetString(PyExc_ValueError, "the receive view has ended");
        return -1;
    }
    if (PyBuffer_FillInfo(buf, (PyObject *)v, v->rec.payload, v->rec.len, 1, flags) < 0)
        return -1;
    v->exports++;
    return 0;
}

static void
view_releasebuffer(View *v, Py_buffer *buf)
{
    (void)buf;
    v->exports--;
    view_settle(v);
}

static PyObject *
view_end(View *v, PyObject *unused)
{
    if (v->ended == 0) {
        v->ended = 1;
        view_settle(v);
    }
    Py_RETURN_NONE;
}

static PyObject *
view_len(View *v, void *closure)
{
    return PyLong_FromUnsignedLong(v->rec.len);
}

static void
view_dealloc(View *v)
{
    PyTypeObject *tp = Py_TYPE(v);
    if (v->ended == 0) {
        v->ended = 1;
        view_settle(v);
    }
    Py_XDECREF(v->channel);
    tp->tp_free(v);
    Py_DECREF(tp);
}

static PyMethodDef view_methods[] = {
    {"end", (PyCFunction)view_end, METH_NOARGS,
     "Give the record's space back to the ring (once no buffer of it is in use)."},
    {NULL},
};

static PyGetSetDef view_getset[] = {
    {"nbytes", (getter)view_len, NULL, "The message's length.", NULL},
    {NULL},
};

static PyType_Slot view_slots[] = {
    {Py_tp_dealloc, view_dealloc},
    {Py_bf_getbuffer, view_getbuffer},
    {Py_bf_releasebuffer, view_releasebuffer},
    {Py_tp_methods, view_methods},
    {Py_tp_getset, view_getset},
    {Py_tp_doc, "A message still in the ring, exposed through the buffer protocol."},
    {0, NULL},
};

static PyType_Spec view_spec = {
    .name = "unixipc._core.ShmRecord",
    .basicsize = sizeof(View),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = view_slots,
};

/* A record object for the claimed `rec` (released if it cannot be made). */
static PyObject *
new_record(Channel *self, const record *rec)
{
    View *out = PyObject_New(View, view_type);
    if (out == NULL) {
        release_record(self, rec);
        return NULL;
    }
    Py_INCREF(self);
    out->channel = self;
    out->rec = *rec;
    out->epoch = fork_epoch;
    out->exports = 0;
    out->ended = 0;
    self->views++;
    return (PyObject *)out;
}

static PyObject *
ch_receive_record(Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[3];
    record rec;
    if (unixipc_parse_args("receive_view", args, nargs, kwnames, recv_names, 0, 0, v) < 0)
        return NULL;
    if (receive_start(self, v, NULL, NULL, "receive_view", &rec, NULL, 0) < 0)
        return NULL;
    return new_record(self, &rec);
}

static const char *const auto_names[] = {"limit", "block", "timeout", "_cancel", NULL};

/* _receive_auto(limit, block=True, timeout=None, _cancel=None): the next
 * message as bytes when it is at most `limit` bytes long (one copy, no view
 * to end), else as a record, as _receive_record gives it. */
static PyObject *
ch_receive_auto(Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *v[4], *copied = NULL;
    record rec;
    Py_ssize_t limit = 0;
    if (nargs == 1 && kwnames == NULL) {
        /* The queues' common call, _receive_auto(limit): as receive()'s. */
        unixipc_deadline dl;
        dl.infinite = 1;
        if (!unixipc_conv_size_in(args[0], PY_SSIZE_T_MIN, PY_SSIZE_T_MAX, "limit", &limit) ||
            check_usable(self, SIDE_RECV) < 0 ||
            claim_one(self, &rec, -1, 1, &dl, "receive", NULL, &copied, limit) < 0)
            return NULL;
    } else if (unixipc_parse_args("_receive_auto", args, nargs, kwnames, auto_names, 3, 1,
                                  v) < 0 ||
               !unixipc_conv_size_in(v[0], PY_SSIZE_T_MIN, PY_SSIZE_T_MAX, "limit", &limit) ||
               receive_start(self, v + 1, NULL, NULL, "receive", &rec, &copied, limit) < 0) {
        return NULL;
    }
    if (copied != NULL || (Py_ssize_t)rec.len <= limit)
        return taken(self, &rec, copied);
    return new_record(self, &rec);
}

/* ---- async twins' waits ------------------------------------------------------
 * The async twins never block the event loop: they make non-blocking
 * attempts in the loop thread, and one helper thread per channel side and
 * process (unixipc._aio.ChangeWatcher) sleeps on the side's sequence word
 * for all of them. The process counts itself once as a waiter for the side
 * (_async_waiting) while any async call waits there, before their attempts,
 * so a commit or release after a failed attempt always bumps the word. */

static uint32_t *
side_seq(Channel *c, int side)
{
    return side ? &c->hdr->space_seq : &c->hdr->data_seq;
}

/* _async_waiting(side, delta) -> the side's sequence word now. side 0:
 * receiving (data_seq), 1: sending (space_seq); delta +1 counts this
 * process as a waiter once more, -1 once less (no-op once closed), 0 only
 * reads. */
static PyObject *
ch_async_waiting(Channel *self, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"side", "delta", NULL};
    PyObject *v[2];
    int side = 0, delta = 0;
    if (unixipc_parse_args("_async_waiting", args, nargs, NULL, names, 2, 2, v) < 0 ||
        !unixipc_conv_int_in(v[0], 0, 1, "side", &side) ||
        !unixipc_conv_int_in(v[1], -1, 1, "delta", &delta))
        return NULL;
    if (delta < 0 && (self->base == NULL || self->epoch != fork_epoch))
        return PyLong_FromLong(0); /* closed: the count was given back */
    if (check_usable(self, side ? SIDE_SEND : SIDE_RECV) < 0)
        return NULL;
    uint32_t *waiters = side ? &self->hdr->tx_waiters : &self->hdr->rx_waiters;
    if (delta > 0) {
        self->async_held[side]++;
        __atomic_fetch_add(waiters, 1, __ATOMIC_SEQ_CST);
    } else if (delta < 0 && self->async_held[side] > 0) {
        self->async_held[side]--;
        __atomic_fetch_sub(waiters, 1, __ATOMIC_SEQ_CST);
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return PyLong_FromUnsignedLong(__atomic_load_n(side_seq(self, side), __ATOMIC_SEQ_CST));
}

/* _wait_change(side, seen, timeout) -> the side's sequence word. Sleeps
 * (without the GIL) while the word is `seen`, at most `timeout` seconds
 * (capped at RECHECK_NS); a sleep that runs out looks for dead processes,
 * as a blocking call's sleeper does. A signal ends the sleep early. */
static PyObject *
ch_wait_change(Channel *self, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"side", "seen", "timeout", NULL};
    PyObject *v[3];
    int side = 0, err = 0;
    long long seen = 0;
    double timeout;
    uint32_t now;
    if (unixipc_parse_args("_wait_change", args, nargs, NULL, names, 3, 3, v) < 0 ||
        !unixipc_conv_int_in(v[0], 0, 1, "side", &side) ||
        !unixipc_conv_llong_in(v[1], 0, UINT32_MAX, "seen", &seen))
        return NULL;
    timeout = PyFloat_AsDouble(v[2]);
    if (timeout == -1.0 && PyErr_Occurred())
        return NULL;
    if (!(timeout >= 0)) {
        PyErr_SetString(PyExc_ValueError, "timeout must be >= 0");
        return NULL;
    }
    if (check_usable(self, side ? SIDE_SEND : SIDE_RECV) < 0)
        return NULL;
    long long span = timeout * 1e9 < (double)RECHECK_NS ? (long long)(timeout * 1e9) : RECHECK_NS;
    uint32_t *seq = side_seq(self, side);
    __atomic_fetch_add(&self->async_waits, 1, __ATOMIC_SEQ_CST);
    Py_BEGIN_ALLOW_THREADS
    if (span > 0 && __atomic_load_n(seq, __ATOMIC_SEQ_CST) == (uint32_t)seen) {
        err = futex_wait_until(seq, (uint32_t)seen, now_ns() + span);
        if (err == ETIMEDOUT)
            recover(self);
    }
    now = __atomic_load_n(seq, __ATOMIC_SEQ_CST);
    /* The last touch of the mapping: close() waits for this. */
    __atomic_fetch_sub(&self->async_waits, 1, __ATOMIC_SEQ_CST);
    Py_END_ALLOW_THREADS
    return PyLong_FromUnsignedLong(now);
}

/* Before unmapping: gives back the waiter counts the async twins hold and
 * waits (GIL released) until no _wait_change is still asleep on the
 * mapping, waking it by bumping both words. */
static void
end_async_waits(Channel *c)
{
    shm_header *h = c->hdr;
    if (c->async_held[0])
        __atomic_fetch_sub(&h->rx_waiters, c->async_held[0], __ATOMIC_SEQ_CST);
    if (c->async_held[1])
        __atomic_fetch_sub(&h->tx_waiters, c->async_held[1], __ATOMIC_SEQ_CST);
    c->async_held[0] = c->async_held[1] = 0;
    if (__atomic_load_n(&c->async_waits, __ATOMIC_SEQ_CST) == 0)
        return;
    Py_BEGIN_ALLOW_THREADS
    while (__atomic_load_n(&c->async_waits, __ATOMIC_SEQ_CST) != 0) {
        wake(&h->data_seq, &h->rx_waiters, 1);
        wake(&h->space_seq, &h->tx_waiters, 1);
        sched_yield();
    }
    Py_END_ALLOW_THREADS
}

/* ---- lifecycle ---------------------------------------------------------------- */

static int
map_and_validate(Channel *c, int fd)
{
    struct stat st;
    shm_header *h;
    if (fstat(fd, &st) < 0) {
        unixipc_raise_errno("fstat", errno);
        return -1;
    }
    if ((size_t)st.st_size < HEADER_BYTES) {
        PyErr_Format(PyExc_ValueError, "not a unixipc shared-memory channel (%lld bytes)",
                     (long long)st.st_size);
        return -1;
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        unixipc_raise_errno("mmap", errno);
        return -1;
    }
    h = base;
    uint32_t cap = h->cap_units, slots = h->max_slots, off = h->ring_offset;
    uint64_t ring_bytes = (uint64_t)cap * UNIT;
    uint32_t expect_max = 0;
    if (cap != 0)
        expect_max = (uint32_t)(((cap / 2 < MAX_RECORD_UNITS ? cap / 2 : MAX_RECORD_UNITS) - 1) * UNIT);
    if (h->magic != MAGIC || h->version != VERSION || cap == 0 || (cap & (cap - 1)) != 0 ||
        ring_bytes < MIN_CAPACITY || ring_bytes > MAX_CAPACITY || slots == 0 ||
        slots > MAX_SLOTS || off < HEADER_BYTES + (uint64_t)slots * SLOT_BYTES ||
        (uint64_t)off + ring_bytes != (uint64_t)st.st_size || h->max_message != expect_max) {
        munmap(base, (size_t)st.st_size);
        PyErr_SetString(PyExc_ValueError,
                        "not a unixipc shared-memory channel, or one of another version "
                        "(bad header)");
        return -1;
    }
    c->base = base;
    c->map_size = (size_t)st.st_size;
    c->hdr = h;
    c->slots = (shm_slot *)((char *)base + HEADER_BYTES);
    c->ring = (char *)base + off;
    c->cap_units = cap;
    c->mask = cap - 1;
    c->max_slots = slots;
    c->max_message = expect_max;
    return 0;
}

/* A new open file description of the same file, for our slot lock. */
static int
own_description(int fd)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return open(path, O_RDWR | O_CLOEXEC);
}

static void
drop_slot(Channel *c)
{
    if (c->slot >= 0) {
        shm_slot *s = &c->slots[c->slot];
        uint32_t w = LOAD(&s->flags);
        while (!CAS(&s->flags, &w, w & 0xffff0000u))
            ;
        adjust_counts(c, w & 3u, 0);
        if (w & SIDE_SEND)
            wake(&c->hdr->data_seq, &c->hdr->rx_waiters, 1);
        if (w & SIDE_RECV)
            wake(&c->hdr->space_seq, &c->hdr->tx_waiters, 1);
        c->slot = -1;
    }
    if (c->lock_fd >= 0) {
        close(c->lock_fd); /* the kernel drops the slot's lock */
        c->lock_fd = -1;
    }
}

static int
reacquire(Channel *c)
{
    /* In a fork child: the slot and the lock description are the parent's.
     * Leave both alone (only close our copy of the descriptor). */
    int fd = own_description(c->lock_fd);
    if (fd < 0) {
        unixipc_raise_errno("open", errno);
        return -1;
    }
    close(c->lock_fd);
    c->lock_fd = fd;
    c->slot = -1;
    c->send_busy = 0;
    c->my_tail = 0;
    c->async_held[0] = c->async_held[1] = 0; /* the parent's */
    c->async_waits = 0;
    c->epoch = fork_epoch;
    int err = acquire_slot(c);
    if (err) {
        close(c->lock_fd);
        c->lock_fd = -1;
        unlink_channel(c);
        munmap(c->base, c->map_size);
        c->base = NULL;
        unixipc_raise_errno("fcntl(F_OFD_SETLK)", err);
        return -1;
    }
    return 0;
}

static int
ch_init(Channel *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fd", "send", "receive", NULL};
    int fd = -1, send = 1, recv = 1, err;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O&|O&O&:ShmChannelBase", kwlist,
                                     unixipc_conv_nonneg_int, &fd, unixipc_conv_bool, &send,
                                     unixipc_conv_bool, &recv))
        return -1;
    if (self->base != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "ShmChannelBase.__init__ called twice");
        return -1;
    }
    if (map_and_validate(self, fd) < 0)
        return -1;
    self->lock_fd = own_description(fd);
    if (self->lock_fd < 0) {
        unixipc_raise_errno("open", errno);
        goto fail;
    }
    self->sides = (send ? SIDE_SEND : 0) | (recv ? SIDE_RECV : 0);
    self->epoch = fork_epoch;
    self->spin_ns = SPIN_MAX_NS / 2;
    self->poll_ns = POLL_NS;
    if ((err = acquire_slot(self)) != 0) {
        unixipc_raise_errno("fcntl(F_OFD_SETLK)", err);
        goto fail;
    }
    link_channel(self);
    return 0;
fail:
    if (self->lock_fd >= 0)
        close(self->lock_fd);
    self->lock_fd = -1;
    munmap(self->base, self->map_size);
    self->base = NULL;
    return -1;
}

static PyObject *
ch_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Channel *self = (Channel *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->lock_fd = -1;
        self->slot = -1;
        self->child_lock_fd = -1;
    }
    return (PyObject *)self;
}

static PyObject *
ch_close_side(Channel *self, unsigned side)
{
    if (self->base == NULL || !(self->sides & side))
        Py_RETURN_NONE;
    if (check_usable(self, 0) < 0)
        return NULL;
    self->sides &= ~side;
    shm_slot *s = &self->slots[self->slot];
    uint32_t w = LOAD(&s->flags);
    while (!CAS(&s->flags, &w, w & ~side))
        ;
    adjust_counts(self, w & 3u, w & 3u & ~side);
    if (side == SIDE_SEND)
        wake(&self->hdr->data_seq, &self->hdr->rx_waiters, 1);
    else
        wake(&self->hdr->space_seq, &self->hdr->tx_waiters, 1);
    Py_RETURN_NONE;
}

static PyObject *
ch_close_sending(Channel *self, PyObject *unused)
{
    return ch_close_side(self, SIDE_SEND);
}

static PyObject *
ch_close_receiving(Channel *self, PyObject *unused)
{
    return ch_close_side(self, SIDE_RECV);
}

static PyObject *
ch_close(Channel *self, PyObject *unused)
{
    if (self->base == NULL)
        Py_RETURN_NONE;
    if (self->views > 0) {
        PyErr_Format(PyExc_BufferError,
                     "cannot close the channel: %zd receive view(s) still in use", self->views);
        return NULL;
    }
    unlink_channel(self);
    if (self->epoch == fork_epoch) {
        end_async_waits(self);
        drop_slot(self);
    } else if (self->lock_fd >= 0) { /* a fork child that never used it: the slot is the parent's */
        close(self->lock_fd);
        self->lock_fd = -1;
    }
    munmap(self->base, self->map_size);
    self->base = NULL;
    Py_RETURN_NONE;
}

static PyObject *
ch_after_fork(Channel *self, PyObject *unused)
{
    if (self->base != NULL && self->epoch != fork_epoch && reacquire(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static void
ch_dealloc(Channel *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    if (self->base != NULL) {
        unlink_channel(self);
        if (self->epoch == fork_epoch) {
            end_async_waits(self);
            drop_slot(self);
        } else if (self->lock_fd >= 0)
            close(self->lock_fd);
        munmap(self->base, self->map_size);
        self->base = NULL;
    }
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int
ch_traverse(Channel *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static PyObject *
ch_get_closed(Channel *self, void *closure)
{
    return PyBool_FromLong(self->base == NULL);
}

static PyObject *
ch_get_capacity(Channel *self, void *closure)
{
    return PyLong_FromUnsignedLongLong((unsigned long long)self->cap_units * UNIT);
}

static PyObject *
ch_get_max_message(Channel *self, void *closure)
{
    return PyLong_FromUnsignedLong(self->max_message);
}

static PyObject *
ch_get_sides(Channel *self, void *closure)
{
    return Py_BuildValue("(OO)", (self->sides & SIDE_SEND) ? Py_True : Py_False,
                         (self->sides & SIDE_RECV) ? Py_True : Py_False);
}

/* A snapshot of the shared counters, for tests and `unixipc` diagnostics. */
static PyObject *
ch_state(Channel *self, PyObject *unused)
{
    if (check_usable(self, 0) < 0)
        return NULL;
    shm_header *h = self->hdr;
    uint64_t t = LOAD(&h->tail);
    return Py_BuildValue("{sIsIsIsIsIsIsIsisI}", "tail", (unsigned)(uint32_t)t, "rd",
                         LOAD(&h->rd), "hd", LOAD(&h->hd), "senders", LOAD(&h->nsend),
                         "receivers", LOAD(&h->nrecv), "rx_waiters", LOAD(&h->rx_waiters),
                         "tx_waiters", LOAD(&h->tx_waiters), "slot", self->slot, "unit", UNIT);
}

/* _pending(limit): how many messages are in the ring, sent (or being sent)
 * and not yet taken, counting at most `limit`: a walk from rd to tail. */
static PyObject *
ch_pending(Channel *self, PyObject *arg)
{
    long limit;
    if (!unixipc_conv_long_in(arg, 0, LONG_MAX, "limit", &limit) ||
        check_usable(self, 0) < 0)
        return NULL;
    uint32_t p = LOAD(&self->hdr->rd), t = (uint32_t)LOAD(&self->hdr->tail);
    long count = 0;
    while (p != t && (uint32_t)(t - p) <= self->cap_units && count < limit) {
        uint64_t w = LOAD(word0(self, p));
        if (!w0_valid(w, p)) {
            count++; /* the newest reservation, its header not written yet */
            break;
        }
        unsigned st = w0_state(w);
        uint32_t span = st == ST_CLAIMED ? LOAD_RELAXED(&word1(self, p)[0]) : w0_value(w);
        if (st == ST_RESERVED || st == ST_COMMITTED)
            count++;
        if (span == 0 || span > (uint32_t)(t - p))
            break;
        p += span;
    }
    return PyLong_FromLong(count);
}

static PyMethodDef ch_methods[] = {
    {"send", UNIXIPC_FASTCALL(ch_send), METH_FASTCALL | METH_KEYWORDS, NULL},
    {"_send_parts", UNIXIPC_FASTCALL(ch_send_parts), METH_FASTCALL | METH_KEYWORDS,
     NULL},
    {"send_many", UNIXIPC_FASTCALL(ch_send_many), METH_FASTCALL | METH_KEYWORDS,
     NULL},
    {"receive", UNIXIPC_FASTCALL(ch_receive), METH_FASTCALL | METH_KEYWORDS, NULL},
    {"receive_many", UNIXIPC_FASTCALL(ch_receive_many),
     METH_FASTCALL | METH_KEYWORDS, NULL},
    {"receive_into", UNIXIPC_FASTCALL(ch_receive_into),
     METH_FASTCALL | METH_KEYWORDS, NULL},
    {"_receive_record", UNIXIPC_FASTCALL(ch_receive_record),
     METH_FASTCALL | METH_KEYWORDS, NULL},
    {"_receive_auto", UNIXIPC_FASTCALL(ch_receive_auto),
     METH_FASTCALL | METH_KEYWORDS, NULL},
    {"close_sending", (PyCFunction)ch_close_sending, METH_NOARGS, NULL},
    {"close_receiving", (PyCFunction)ch_close_receiving, METH_NOARGS, NULL},
    {"_close", (PyCFunction)ch_close, METH_NOARGS, NULL},
    {"_after_fork", (PyCFunction)ch_after_fork, METH_NOARGS, NULL},
    {"_state", (PyCFunction)ch_state, METH_NOARGS, NULL},
    {"_pending", (PyCFunction)ch_pending, METH_O, NULL},
    {"_async_waiting", UNIXIPC_FASTCALL(ch_async_waiting), METH_FASTCALL, NULL},
    {"_wait_change", UNIXIPC_FASTCALL(ch_wait_change), METH_FASTCALL, NULL},
    {NULL},
};

static PyGetSetDef ch_getset[] = {
    {"closed", (getter)ch_get_closed, NULL, "True once close() was called.", NULL},
    {"capacity", (getter)ch_get_capacity, NULL, "The ring's size in bytes.", NULL},
    {"max_message_size", (getter)ch_get_max_message, NULL,
     "The longest message send() accepts, in bytes.", NULL},
    {"_sides", (getter)ch_get_sides, NULL, "(sending open, receiving open) here.", NULL},
    {NULL},
};

static PyMemberDef ch_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(Channel, weakreflist), READONLY},
    {NULL},
};

static PyType_Slot ch_slots[] = {
    {Py_tp_new, ch_new},
    {Py_tp_init, ch_init},
    {Py_tp_dealloc, ch_dealloc},
    {Py_tp_traverse, ch_traverse},
    {Py_tp_methods, ch_methods},
    {Py_tp_getset, ch_getset},
    {Py_tp_members, ch_members},
    {Py_tp_doc, "The C core of unixipc.ShmChannel: use that class."},
    {0, NULL},
};

static PyType_Spec ch_spec = {
    .name = "unixipc._core.ShmChannelBase",
    .basicsize = sizeof(Channel),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = ch_slots,
};

/* ---- unixipc.Queue's put and get ----------------------------------------------------
 * QueueBase is the C base of unixipc.Queue. Its put() and get() do the
 * common case here, in one C call: an unbounded queue, used in the process
 * that set it up (no fork since), open, with no backlog, and an object whose
 * plain protocol-5 pickle has no out-of-band buffers and fits in the ring.
 * Anything else goes to the Python class (_put, _get, _send, _taken), which
 * does the same and the rest. The fields are the Python class's own
 * attributes (_channel, _sem, _buffer, _closed, _used); _core_reset() marks
 * the process that set them. */

#define QUEUE_ROOM_WAIT 0.001 /* put waits this long for room before the feeder takes over */
#define QUEUE_SMALL 4096      /* messages up to this long are received as bytes */

typedef struct {
    PyObject_HEAD
    PyObject *channel, *sem, *buffer;
    char closed, used;
    unsigned long epoch; /* fork_epoch at _core_reset(); 0: never */
} QueueBase;

static PyTypeObject *ch_type;
static PyObject *q_dumps, *q_loads, *q_dumps_kwnames, *q_protocol, *q_room_wait;
static PyObject *q_put_name, *q_get_name, *q_send_name, *q_taken_name, *q_to_feeder_name;
/* The buffer_callback of the last put (a list's append) when no put is
 * using it: reused while only this cache holds it. */
static PyObject *q_sink_list, *q_sink_append;

/* The channel when this call may take the common path, else NULL. */
static Channel *
q_fast_channel(QueueBase *q)
{
    if (q->closed || q->epoch != fork_epoch || (q->sem != NULL && q->sem != Py_None) ||
        q->channel == NULL || !PyObject_TypeCheck(q->channel, ch_type))
        return NULL;
    return (Channel *)q->channel;
}

/* self.<name>(*args, **kwnames): the Python class's part. */
static PyObject *
q_call(QueueBase *self, PyObject *name, PyObject *const *args, Py_ssize_t nargs,
       PyObject *kwnames)
{
    PyObject *method = PyObject_GetAttr((PyObject *)self, name);
    if (method == NULL)
        return NULL;
    PyObject *out = PyObject_Vectorcall(method, args, nargs, kwnames);
    Py_DECREF(method);
    return out;
}

/* Sends the message made of `parts` (only their buf and len are read; `len`
 * bytes in all, at most max_message) as put's common path does: 1 sent, 0
 * no room within QUEUE_ROOM_WAIT (the caller hands it to the feeder), -1
 * error. */
static int
q_send_parts(Channel *c, const Py_buffer *parts, Py_ssize_t nparts, Py_ssize_t len)
{
    unixipc_deadline dl;
    if (check_usable(c, SIDE_SEND) < 0)
        return -1;
    if (len < BIG_COPY) {
        int rc = try_send(c, parts, nparts, (uint32_t)len);
        if (rc == RES_BROKEN) {
            broken_error("send");
            return -1;
        }
        if (rc == RES_OK)
            return 1;
    }
    /* the deadline is made only now: most puts find room at once */
    if (unixipc_deadline_from_timeout(q_room_wait, &dl) < 0)
        return -1;
    if (send_one(c, parts, nparts, 1, &dl, NULL) == 0)
        return 1;
    if (!PyErr_ExceptionMatches(PyExc_TimeoutError))
        return -1;
    PyErr_Clear();
    return 0;
}

/* The pickle `data` (bytes that fit), sent as it is: as q_send_parts. */
static int
q_send_pickle(Channel *c, PyObject *data)
{
    Py_buffer part;
    part.buf = PyBytes_AS_STRING(data);
    part.len = PyBytes_GET_SIZE(data);
    return q_send_parts(c, &part, 1, part.len);
}

/* A bytes object put as a whole is sent as the message QUEUE_BYTES_TAG and
 * its bytes (queue.py's _BYTES): 0 sent or handed to the feeder (without a
 * second wait), -1 error. */
#define QUEUE_BYTES_TAG 1

static int
q_send_bytes(QueueBase *self, Channel *c, PyObject *data)
{
    static const char tag = QUEUE_BYTES_TAG;
    Py_buffer parts[2];
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    parts[0].buf = (void *)&tag;
    parts[0].len = 1;
    parts[1].buf = PyBytes_AS_STRING(data);
    parts[1].len = len;
    int rc = q_send_parts(c, parts, 2, len + 1);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    PyObject *message = PyBytes_FromStringAndSize(NULL, len + 1);
    if (message == NULL)
        return -1;
    PyBytes_AS_STRING(message)[0] = tag;
    memcpy(PyBytes_AS_STRING(message) + 1, PyBytes_AS_STRING(data), len);
    PyObject *out = q_call(self, q_to_feeder_name, &message, 1, NULL);
    Py_DECREF(message);
    if (out == NULL)
        return -1;
    Py_DECREF(out);
    return 0;
}

static PyObject *
q_put(QueueBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Channel *c;
    if (nargs != 1 || kwnames != NULL || (c = q_fast_channel(self)) == NULL ||
        self->buffer == NULL ||
        (PyBytes_CheckExact(args[0]) && PyBytes_GET_SIZE(args[0]) >= (Py_ssize_t)c->max_message))
        return q_call(self, q_put_name, args, nargs, kwnames);
    Py_ssize_t backlog = PyObject_Size(self->buffer);
    if (backlog != 0) {
        if (backlog < 0)
            PyErr_Clear();
        return q_call(self, q_put_name, args, nargs, kwnames);
    }
    self->used = 1;
    if (PyBytes_CheckExact(args[0]))
        return q_send_bytes(self, c, args[0]) < 0 ? NULL : Py_NewRef(Py_None);
    PyObject *list, *append, *data, *out = NULL;
    if (q_sink_append != NULL && Py_REFCNT(q_sink_append) == 1) {
        list = q_sink_list; /* the cache's references, lent to this call */
        append = q_sink_append;
        q_sink_list = q_sink_append = NULL;
    } else {
        if ((list = PyList_New(0)) == NULL)
            return NULL;
        if ((append = PyObject_GetAttrString(list, "append")) == NULL) {
            Py_DECREF(list);
            return NULL;
        }
    }
    PyObject *pargs[3] = {args[0], q_protocol, append};
    data = PyObject_Vectorcall(q_dumps, pargs, 2, q_dumps_kwnames);
    if (data == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            goto done;
        PyErr_Clear(); /* _send tries multiprocessing's reducers */
        data = Py_NewRef(Py_None);
    } else if (PyBytes_CheckExact(data) && PyList_GET_SIZE(list) == 0 &&
               PyBytes_GET_SIZE(data) <= (Py_ssize_t)c->max_message) {
        int rc = q_send_pickle(c, data);
        if (rc < 0)
            goto done;
        if (rc > 0) {
            out = Py_NewRef(Py_None);
            if (q_sink_append == NULL) { /* back into the cache, empty */
                q_sink_list = list;
                q_sink_append = append;
                list = append = NULL;
            }
        } else { /* no room within QUEUE_ROOM_WAIT: the feeder's, without a second wait */
            out = q_call(self, q_to_feeder_name, &data, 1, NULL);
        }
        goto done;
    }
    {
        PyObject *sargs[3] = {args[0], data, list};
        out = q_call(self, q_send_name, sargs, 3, NULL);
    }
done:
    Py_XDECREF(data);
    Py_XDECREF(append);
    Py_XDECREF(list);
    return out;
}

static PyObject *
q_get(QueueBase *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Channel *c;
    PyObject *copied = NULL, *message;
    record rec;
    unixipc_deadline dl;
    if (nargs != 0 || kwnames != NULL || (c = q_fast_channel(self)) == NULL)
        return q_call(self, q_get_name, args, nargs, kwnames);
    self->used = 1;
    dl.infinite = 1;
    if (check_usable(c, SIDE_RECV) < 0 ||
        claim_one(c, &rec, -1, 1, &dl, "receive", NULL, &copied, QUEUE_SMALL) < 0)
        return NULL;
    if (copied != NULL || rec.len <= QUEUE_SMALL) {
        message = taken(c, &rec, copied);
    } else if (rec.len < BIG_COPY && rec.payload[0] == QUEUE_BYTES_TAG) {
        /* bytes put as such, longer: copied out past the tag, as take_bytes does */
        PyObject *out = PyBytes_FromStringAndSize(NULL, rec.len - 1);
        if (out != NULL)
            copy(PyBytes_AS_STRING(out), rec.payload + 1, rec.len - 1);
        release_record(c, &rec);
        return out;
    } else {
        message = new_record(c, &rec);
    }
    if (message == NULL)
        return NULL;
    PyObject *out;
    if (PyBytes_CheckExact(message) && PyBytes_GET_SIZE(message) > 0 &&
        (unsigned char)PyBytes_AS_STRING(message)[0] == 0x80) /* a plain pickle */
        out = PyObject_Vectorcall(q_loads, &message, 1, NULL);
    else if (PyBytes_CheckExact(message) && PyBytes_GET_SIZE(message) > 0 &&
             PyBytes_AS_STRING(message)[0] == QUEUE_BYTES_TAG) /* bytes put as such */
        out = PyBytes_FromStringAndSize(PyBytes_AS_STRING(message) + 1,
                                        PyBytes_GET_SIZE(message) - 1);
    else
        out = q_call(self, q_taken_name, &message, 1, NULL);
    Py_DECREF(message);
    return out;
}

static PyObject *
q_core_reset(QueueBase *self, PyObject *unused)
{
    self->epoch = fork_epoch;
    Py_RETURN_NONE;
}

static PyObject *
q_inherited(QueueBase *self, void *unused)
{
    return PyBool_FromLong(self->epoch != fork_epoch);
}

/* _send_pickle(data): the common path's send, for the Python part's own
 * plain pickles (a bounded queue's, or one put behind a backlog that has
 * since gone). */
static PyObject *
q_send_pickle_method(QueueBase *self, PyObject *data)
{
    if (self->channel == NULL || !PyObject_TypeCheck(self->channel, ch_type)) {
        PyErr_SetString(PyExc_TypeError, "_send_pickle: the queue has no channel");
        return NULL;
    }
    if (!PyBytes_CheckExact(data)) {
        PyErr_Format(PyExc_TypeError, "_send_pickle: bytes expected, not %.100s",
                     Py_TYPE(data)->tp_name);
        return NULL;
    }
    if (PyBytes_GET_SIZE(data) > (Py_ssize_t)((Channel *)self->channel)->max_message) {
        PyErr_SetString(PyExc_ValueError, "_send_pickle: longer than the ring's largest message");
        return NULL;
    }
    int rc = q_send_pickle((Channel *)self->channel, data);
    if (rc < 0)
        return NULL;
    return PyBool_FromLong(rc);
}

static int
q_traverse(QueueBase *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->channel);
    Py_VISIT(self->sem);
    Py_VISIT(self->buffer);
    return 0;
}

static int
q_clear(QueueBase *self)
{
    Py_CLEAR(self->channel);
    Py_CLEAR(self->sem);
    Py_CLEAR(self->buffer);
    return 0;
}

static void
q_dealloc(QueueBase *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    q_clear(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef q_methods[] = {
    {"put", UNIXIPC_FASTCALL(q_put), METH_FASTCALL | METH_KEYWORDS,
     "put($self, /, obj, block=True, timeout=None)\n--\n\n"
     "Put `obj` in the queue, waiting for a free place if ``maxsize`` objects\n"
     "are in it (``queue.Full`` when `block` is false or after `timeout`\n"
     "seconds). Pickling errors raise here, in the calling thread."},
    {"get", UNIXIPC_FASTCALL(q_get), METH_FASTCALL | METH_KEYWORDS,
     "get($self, /, block=True, timeout=None)\n--\n\n"
     "Remove and return the next object, waiting for one (``queue.Empty``\n"
     "when `block` is false or after `timeout` seconds)."},
    {"_core_reset", (PyCFunction)q_core_reset, METH_NOARGS,
     "Mark this process as the one whose state the fields hold."},
    {"_send_pickle", (PyCFunction)q_send_pickle_method, METH_O,
     "_send_pickle($self, data, /)\n--\n\n"
     "Send the plain pickle `data` (bytes that fit in one message) as put's\n"
     "common path does, waiting for room up to QUEUE_ROOM_WAIT: True when\n"
     "sent, False when there was none (the feeder's turn)."},
    {NULL},
};

static PyGetSetDef q_getset[] = {
    {"_inherited", (getter)q_inherited, NULL,
     "True when the fields are another process's: a fork since _core_reset()."},
    {NULL},
};

static PyMemberDef q_members[] = {
    {"_channel", T_OBJECT, offsetof(QueueBase, channel), 0, NULL},
    {"_sem", T_OBJECT, offsetof(QueueBase, sem), 0, NULL},
    {"_buffer", T_OBJECT, offsetof(QueueBase, buffer), 0, NULL},
    {"_closed", T_BOOL, offsetof(QueueBase, closed), 0, NULL},
    {"_used", T_BOOL, offsetof(QueueBase, used), 0, NULL},
    {NULL},
};

static PyType_Slot q_slots[] = {
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_dealloc, q_dealloc},
    {Py_tp_traverse, q_traverse},
    {Py_tp_clear, q_clear},
    {Py_tp_methods, q_methods},
    {Py_tp_members, q_members},
    {Py_tp_getset, q_getset},
    {Py_tp_doc, "The C core of unixipc.Queue's put and get: use that class."},
    {0, NULL},
};

static PyType_Spec q_spec = {
    .name = "unixipc._core.QueueBase",
    .basicsize = sizeof(QueueBase),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = q_slots,
};

static int
queue_exec(PyObject *module)
{
    PyObject *pickle = PyImport_ImportModule("pickle");
    if (pickle == NULL)
        return -1;
    q_dumps = PyObject_GetAttrString(pickle, "dumps");
    q_loads = PyObject_GetAttrString(pickle, "loads");
    Py_DECREF(pickle);
    if (q_dumps == NULL || q_loads == NULL ||
        (q_dumps_kwnames = Py_BuildValue("(s)", "buffer_callback")) == NULL ||
        (q_protocol = PyLong_FromLong(5)) == NULL ||
        (q_room_wait = PyFloat_FromDouble(QUEUE_ROOM_WAIT)) == NULL ||
        (q_put_name = PyUnicode_InternFromString("_put")) == NULL ||
        (q_get_name = PyUnicode_InternFromString("_get")) == NULL ||
        (q_send_name = PyUnicode_InternFromString("_send")) == NULL ||
        (q_taken_name = PyUnicode_InternFromString("_taken")) == NULL ||
        (q_to_feeder_name = PyUnicode_InternFromString("_to_feeder")) == NULL)
        return -1;
    if (PyModule_AddObject(module, "QUEUE_ROOM_WAIT", Py_NewRef(q_room_wait)) < 0 ||
        PyModule_AddIntConstant(module, "QUEUE_SMALL", QUEUE_SMALL) < 0 ||
        PyModule_AddIntConstant(module, "QUEUE_BYTES", QUEUE_BYTES_TAG) < 0)
        return -1;
    return unixipc_add_type(module, &q_spec, "QueueBase", NULL);
}

/* ---- formatting a new channel file -------------------------------------------------- */

/* shmch_format(fd, capacity, max_slots) -> the ring's size in bytes.
 * Sizes the file (posix_fallocate, so a full /dev/shm fails here and not
 * with SIGBUS later) and writes a fresh header. */
static PyObject *
shmch_format(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const names[] = {"fd", "capacity", "max_processes", NULL};
    PyObject *v[3];
    int fd = -1, err, slots = 0;
    long long capacity = 0;
    unsigned long long cap = MIN_CAPACITY;
    if (unixipc_parse_args("shmch_format", args, nargs, NULL, names, 3, 3, v) < 0 ||
        !unixipc_conv_int_in(v[0], 0, INT_MAX, "fd", &fd) ||
        !unixipc_conv_llong_in(v[1], 0, (long long)MAX_CAPACITY, "capacity", &capacity) ||
        !unixipc_conv_int_in(v[2], 1, (int)MAX_SLOTS, "max_processes", &slots))
        return NULL;
    while (cap < (unsigned long long)capacity)
        cap <<= 1;
    uint32_t units = (uint32_t)(cap / UNIT);
    uint32_t off = (uint32_t)((HEADER_BYTES + slots * SLOT_BYTES + 4095) & ~4095u);
    off_t total = (off_t)off + (off_t)cap;
    Py_BEGIN_ALLOW_THREADS
    err = ftruncate(fd, total) < 0 ? errno : 0;
    if (!err)
        err = posix_fallocate(fd, 0, total);
    Py_END_ALLOW_THREADS
    if (err)
        return unixipc_raise_errno(err == ENOSPC ? "posix_fallocate" : "ftruncate", err);
    void *base = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return unixipc_raise_errno("mmap", errno);
    shm_header *h = base;
    memset(h, 0, HEADER_BYTES);
    memset((char *)base + HEADER_BYTES, 0, (size_t)slots * SLOT_BYTES);
    h->version = VERSION;
    h->ring_offset = off;
    h->cap_units = units;
    h->max_slots = slots;
    h->max_message =
        (uint32_t)(((units / 2 < MAX_RECORD_UNITS ? units / 2 : MAX_RECORD_UNITS) - 1) * UNIT);
    __atomic_store_n(&h->magic, MAGIC, __ATOMIC_RELEASE); /* last: the header is whole */
    munmap(base, (size_t)total);
    return PyLong_FromUnsignedLongLong(cap);
}

PyMethodDef unixipc_shmch_methods[] = {
    {"shmch_format", UNIXIPC_FASTCALL(shmch_format), METH_FASTCALL,
     "shmch_format(fd, capacity, max_processes) -> ring bytes: size and format a channel "
     "file."},
    {NULL},
};

int
unixipc_shmch_exec(PyObject *module)
{
    static int atfork_done = 0;
    if (!atfork_done) {
        if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0) {
            PyErr_SetString(PyExc_RuntimeError, "pthread_atfork failed");
            return -1;
        }
        atfork_done = 1;
    }
    if (unixipc_add_type(module, &ch_spec, "ShmChannelBase", (PyObject **)&ch_type) < 0 ||
        queue_exec(module) < 0)
        return -1;
    if (unixipc_add_type(module, &view_spec, "ShmRecord", (PyObject **)&view_type) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "SHMCH_DEFAULT_SLOTS", DEFAULT_SLOTS) < 0)
        return -1;
    return 0;
}
