/*
 * agentfeed_timewarp: the companion of libfaketime for agentfeed-mock's time warp.
 *
 * Preloaded *before* libfaketime (LD_PRELOAD=this.so:libfaketime.so.1). libfaketime fakes every
 * clock, CLOCK_MONOTONIC included, as "start + elapsed x rate", but it does not intercept
 * sem_clockwait (glibc 2.30+, what CPython 3.11 waits with), pthread_cond_clockwait (C++'s
 * std::condition_variable) or futex waits made through syscall() (Rust's std), and its
 * sem_timedwait scales the wrong way. A program that reads the faked monotonic clock and hands
 * the kernel an absolute deadline on it then waits until a date decades away.
 *
 * Each wait here takes the caller's deadline on the caller's (faked) clock, subtracts the faked
 * "now" of that clock (read through libfaketime), divides the remainder by the rate of FAKETIME
 * ("... xRATE") and waits that long in real time against the kernel's CLOCK_MONOTONIC, read by
 * the raw system call so that libfaketime cannot touch it. When the real wait ends, the faked
 * clock decides: a semaphore or futex wait goes on until the faked deadline has passed (the rate
 * or the clock may have been changed meanwhile), a condition variable wakes its caller (a
 * spurious wake-up, which every caller of pthread_cond_*wait must handle), which waits again.
 *
 * Built by conformance.warp with the system C compiler on first use; see docs/timewarp.md.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdarg.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NSEC_PER_SEC 1000000000LL
/* A semaphore or futex wait re-reads the faked clock at least this often (real nanoseconds), so a clock
   that jumps while a thread waits is seen within a quarter second. */
#define SLICE_NS (NSEC_PER_SEC / 4)

typedef long (*syscall_fn)(long, ...);
typedef int (*sem_clockwait_fn)(sem_t *, clockid_t, const struct timespec *);
typedef int (*cond_clockwait_fn)(pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *);

static long long ts_ns(const struct timespec *ts) { return (long long)ts->tv_sec * NSEC_PER_SEC + ts->tv_nsec; }

static struct timespec ns_ts(long long ns) {
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / NSEC_PER_SEC);
    ts.tv_nsec = (long)(ns % NSEC_PER_SEC);
    return ts;
}

/* The rate of FAKETIME, parsed as libfaketime does (the number after 'x'); 1 when absent. */
static double warp_rate(void) {
    const char *spec = getenv("FAKETIME");
    const char *x = spec != NULL ? strchr(spec, 'x') : NULL;
    double rate = x != NULL ? atof(x + 1) : 1.0;
    return rate > 0.0 ? rate : 1.0;
}

/* glibc's functions that ours stand in front of, looked up when the library is loaded (and
   on first use, should anything call them before that). */
static syscall_fn next_syscall;
static sem_clockwait_fn next_sem_clockwait;
static cond_clockwait_fn next_cond_clockwait;

__attribute__((constructor)) static void find_next(void) {
    next_syscall = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
    next_sem_clockwait = (sem_clockwait_fn)dlsym(RTLD_NEXT, "sem_clockwait"); /* NULL before glibc 2.30 */
    next_cond_clockwait = (cond_clockwait_fn)dlsym(RTLD_NEXT, "pthread_cond_clockwait");
}

static void ensure_found(void) {
    if (next_syscall == NULL) find_next();
}

static syscall_fn real_syscall(void) {
    ensure_found();
    return next_syscall;
}

/* The kernel's monotonic clock, past libfaketime (which intercepts clock_gettime and the vDSO call). */
static long long real_monotonic_ns(void) {
    struct timespec ts;
    real_syscall()(SYS_clock_gettime, (long)CLOCK_MONOTONIC, (long)&ts);
    return ts_ns(&ts);
}

/* The caller's clock as the caller sees it: through libfaketime, which follows us in LD_PRELOAD. */
static long long faked_ns(clockid_t clock) {
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) return 0;
    return ts_ns(&ts);
}

/* Real nanoseconds until the faked deadline on `clock` (<= 0: already passed). */
static long long real_remaining_ns(clockid_t clock, long long deadline_ns) {
    return (long long)((double)(deadline_ns - faked_ns(clock)) / warp_rate());
}

static long long slice(long long left) { return left < SLICE_NS ? left : SLICE_NS; }

static int valid_timespec(const struct timespec *ts) {
    return ts != NULL && ts->tv_nsec >= 0 && ts->tv_nsec < NSEC_PER_SEC;
}

/* Wait on `sem` until the real monotonic instant `until_ns`: glibc's sem_clockwait, else polling. */
static int sem_wait_real_until(sem_t *sem, long long until_ns) {
    ensure_found();
    sem_clockwait_fn wait = next_sem_clockwait;
    if (wait != NULL) {
        struct timespec until = ns_ts(until_ns);
        return wait(sem, CLOCK_MONOTONIC, &until);
    }
    for (;;) { /* glibc before 2.30: no sem_clockwait to call past libfaketime */
        if (sem_trywait(sem) == 0) return 0;
        if (errno != EAGAIN) return -1;
        long long left = until_ns - real_monotonic_ns();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct timespec nap = ns_ts(left < 1000000 ? left : 1000000);
        real_syscall()(SYS_nanosleep, (long)&nap, 0L);
    }
}

static int warped_sem_wait(sem_t *sem, clockid_t clock, const struct timespec *deadline) {
    if (sem_trywait(sem) == 0) return 0; /* POSIX: no deadline is looked at when the wait need not block */
    if (!valid_timespec(deadline) || (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME)) {
        errno = EINVAL;
        return -1;
    }
    for (;;) {
        long long left = real_remaining_ns(clock, ts_ns(deadline));
        if (left <= 0) return sem_wait_real_until(sem, real_monotonic_ns()); /* try once, then ETIMEDOUT */
        int result = sem_wait_real_until(sem, real_monotonic_ns() + slice(left));
        if (result == 0 || errno != ETIMEDOUT) return result;
    }
}

int sem_clockwait(sem_t *sem, clockid_t clock, const struct timespec *deadline) {
    return warped_sem_wait(sem, clock, deadline);
}

int sem_timedwait(sem_t *sem, const struct timespec *deadline) {
    return warped_sem_wait(sem, CLOCK_REALTIME, deadline);
}

int pthread_cond_clockwait(pthread_cond_t *cond, pthread_mutex_t *mutex, clockid_t clock, const struct timespec *deadline) {
    ensure_found();
    cond_clockwait_fn wait = next_cond_clockwait;
    if (wait == NULL) return ENOSYS;
    if (!valid_timespec(deadline) || (clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME)) return EINVAL;
    long long left = real_remaining_ns(clock, ts_ns(deadline));
    struct timespec until = ns_ts(real_monotonic_ns() + (left > 0 ? left : 0));
    int result = wait(cond, mutex, CLOCK_MONOTONIC, &until);
    if (result == ETIMEDOUT && real_remaining_ns(clock, ts_ns(deadline)) > 0) return 0; /* spurious: the caller looks again */
    return result;
}

/* FUTEX_WAIT (relative timeout) and FUTEX_WAIT_BITSET (absolute deadline, CLOCK_MONOTONIC unless
   FUTEX_CLOCK_REALTIME) become FUTEX_WAIT_BITSET on the real CLOCK_MONOTONIC. Waiting again after
   a slice is safe: a waker changes the futex word first, and the kernel then answers EAGAIN. */
static long warped_futex_wait(long *args) {
    int op = (int)args[1];
    const struct timespec *timeout = (const struct timespec *)args[3];
    clockid_t clock = (op & FUTEX_CLOCK_REALTIME) ? CLOCK_REALTIME : CLOCK_MONOTONIC;
    int relative = (op & FUTEX_CMD_MASK) == FUTEX_WAIT;
    long long deadline = relative ? faked_ns(clock) + ts_ns(timeout) : ts_ns(timeout);
    long real_op = FUTEX_WAIT_BITSET | (op & FUTEX_PRIVATE_FLAG);
    long mask = relative ? (long)FUTEX_BITSET_MATCH_ANY : args[5];
    for (;;) {
        long long left = real_remaining_ns(clock, deadline);
        struct timespec until = ns_ts(real_monotonic_ns() + (left > 0 ? slice(left) : 0));
        long result = real_syscall()((long)SYS_futex, args[0], real_op, args[2], (long)&until, 0L, mask);
        if (left <= 0 || result == 0 || errno != ETIMEDOUT) return result;
    }
}

long syscall(long number, ...) {
    long args[6];
    va_list ap;
    va_start(ap, number);
    for (int i = 0; i < 6; i++) args[i] = va_arg(ap, long);
    va_end(ap);
    /* The fourth argument is a timeout only for the waits: for FUTEX_WAKE it is whatever the caller's
       register held (libstdc++'s __cxa_guard_release passes three arguments), so it is read after the command. */
    if (number == SYS_futex) {
        int cmd = (int)args[1] & FUTEX_CMD_MASK;
        if ((cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET) && args[3] != 0 && valid_timespec((const struct timespec *)args[3]))
            return warped_futex_wait(args);
    }
    return real_syscall()(number, args[0], args[1], args[2], args[3], args[4], args[5]);
}
