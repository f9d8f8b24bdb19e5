// CMcpd: the few system interfaces Swift cannot call directly.
//
// Swift imports no variadic C functions (prctl, syscall), no CMSG_* macros, and has no
// atomics that may live in memory shared between processes; epoll_event is a packed struct
// that Swift cannot lay out. Everything here is a thin, documented wrapper; policy stays in Swift.
#ifndef CMCPD_H
#define CMCPD_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

// MARK: atomics on shared memory (the call table). Sequentially consistent unless named otherwise.
static inline uint64_t mcpd_load_u64(const void *p) { return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE); }
static inline void mcpd_store_u64(void *p, uint64_t v) { __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE); }
static inline uint64_t mcpd_add_u64(void *p, uint64_t v) { return __atomic_fetch_add((uint64_t *)p, v, __ATOMIC_ACQ_REL); }
static inline int mcpd_cas_u64(void *p, uint64_t expected, uint64_t desired) {
    return __atomic_compare_exchange_n((uint64_t *)p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
static inline uint32_t mcpd_load_u32(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE); }
static inline void mcpd_store_u32(void *p, uint32_t v) { __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELEASE); }
static inline uint32_t mcpd_add_u32(void *p, uint32_t v) { return __atomic_fetch_add((uint32_t *)p, v, __ATOMIC_ACQ_REL); }
static inline int mcpd_cas_u32(void *p, uint32_t expected, uint32_t desired) {
    return __atomic_compare_exchange_n((uint32_t *)p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
static inline void mcpd_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// MARK: process control
/// prctl(PR_SET_PDEATHSIG, sig): the kernel sends `sig` when the parent dies. Returns 0 or -errno.
int mcpd_set_parent_death_signal(int sig);
/// prctl(PR_SET_NO_NEW_PRIVS, 1). Returns 0 or -errno.
int mcpd_set_no_new_privs(void);
/// sched_setscheduler(0, SCHED_BATCH): the calling process (and what it execs or forks) never
/// preempts another task on wake-up. Needs no privilege. Returns 0 or -errno.
int mcpd_set_batch_scheduling(void);
/// close_range(first, ~0U, 0) via syscall (glibc may lack the wrapper). Returns 0 or -errno.
int mcpd_close_from(int first);

/// posix_spawn `path` with a clean signal mask and default dispositions, in its own session and process group.
/// Only the descriptors in keep_fds survive (everything else is expected to be O_CLOEXEC); each
/// is passed at its own number. Returns 0 and sets *pid, or an errno value.
int mcpd_spawn(const char *path, char *const argv[], char *const envp[],
               const int *keep_fds, int keep_count, pid_t *pid);
/// posix_spawn like mcpd_spawn, with each descriptor from[i] placed at to[i] in the child (to[i] must
/// be below 3 or equal to from[i]), the working directory `cwd` (NULL: the supervisor's), and, when
/// close_from >= 0, every descriptor from close_from up closed before the exec (glibc >= 2.34).
/// Returns 0 and sets *pid, or an errno value.
int mcpd_spawn_placed(const char *path, char *const argv[], char *const envp[],
                      const int *from, const int *to, int count, const char *cwd, int close_from,
                      pid_t *pid);

/// fork(2) through clone3, except that the child is a child of this process's parent
/// (CLONE_PARENT): a fork server's children are the supervisor's, which reaps and signals them
/// as if it had spawned them. Like glibc's fork, the kernel writes the child's thread id into the
/// C library's thread descriptor, and the robust-futex list is registered again in the child.
/// The caller must be single-threaded. Returns the child's pid, 0 in the child, or -errno
/// (-ENOSYS or -EINVAL where the kernel cannot say where that descriptor is: PR_GET_TID_ADDRESS).
pid_t mcpd_fork_for_parent(void);
/// prctl(PR_SET_NAME): the name ps and /proc/PID/comm show (15 bytes at most). Returns 0 or -errno.
int mcpd_set_process_name(const char *name);

/// Whether child `pid` has exited, leaving it unreaped (waitid with WNOWAIT): 1 yes, 0 not yet,
/// -errno. While it is a zombie its pid, and so its process group's id, cannot be reused.
int mcpd_child_has_exited(pid_t pid);

/// prctl(PR_SET_CHILD_SUBREAPER, 1): descendants orphaned below this process are reparented to it
/// rather than to PID 1 (init, which may reap them late or never). Returns 0 or -errno.
int mcpd_set_child_subreaper(void);
/// Some exited, not yet reaped child of this process, left unreaped (waitid WNOWAIT): its pid, 0
/// when none has exited (or there are no children), -errno.
pid_t mcpd_exited_child(void);

/// pipe2(fds, O_CLOEXEC) (a GNU interface Swift's Glibc does not expose). Returns 0 or -errno.
int mcpd_pipe(int fds[2]);

// MARK: epoll, without the packed struct
typedef struct { uint64_t data; uint32_t events; } mcpd_epoll_event;
enum { MCPD_EPOLL_ADD = 1, MCPD_EPOLL_DEL = 2, MCPD_EPOLL_MOD = 3 };
/// epoll_create1(EPOLL_CLOEXEC). Returns the fd or -errno.
int mcpd_epoll_create(void);
int mcpd_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// Returns the number of events, 0 on timeout or EINTR, -errno on error.
int mcpd_epoll_wait(int epfd, mcpd_epoll_event *out, int max, int timeout_ms);

// MARK: signals
/// Blocks the given signals for the calling thread and returns a non-blocking, close-on-exec
/// signalfd for them, or -errno.
int mcpd_signalfd(const int *signals, int count);
/// Reads one pending signal from a signalfd: the signal number, 0 when none is pending, -errno.
int mcpd_signalfd_read(int fd);
/// Ignores SIGPIPE process-wide (writes use MSG_NOSIGNAL too, but be sure).
void mcpd_ignore_sigpipe(void);

// MARK: sockets
/// A non-blocking, close-on-exec TCP listener on host:port (numeric or name; SO_REUSEADDR).
/// Returns the fd or -errno; on failure *error_text describes a resolution problem, if any.
int mcpd_listen_tcp(const char *host, int port, int backlog, const char **error_text);
/// The local address of a socket as "host:port" ("[v6]:port" for IPv6). Returns 0 or -errno.
int mcpd_local_address(int fd, char *buffer, size_t size);
/// The peer address of a socket (host only). Returns 0 or -errno.
int mcpd_peer_host(int fd, char *buffer, size_t size);
/// 1 when the socket's local address is a loopback address (127/8, ::1) or AF_UNIX, 0 otherwise, -errno.
int mcpd_socket_is_loopback(int fd);
/// 1 when fd is a listening SOCK_STREAM socket, 0 when not, -errno when fd is not a socket.
int mcpd_is_stream_listener(int fd);
/// accept4 with SOCK_NONBLOCK|SOCK_CLOEXEC (a GNU interface Swift's Glibc does not expose). fd or -errno.
int mcpd_accept(int listener);
/// getrandom(2), blocking until the pool is seeded. Returns bytes written or -errno.
long mcpd_getrandom(void *buffer, size_t length);

/// sendmsg of one message on a connected socket, with `fd` attached (SCM_RIGHTS) when fd >= 0.
/// Returns 0 or -errno.
int mcpd_send_with_fd(int socket, const void *data, size_t length, int fd);
/// recvmsg of one message, blocking (or as the socket's SO_RCVTIMEO allows). A descriptor that
/// came with it is stored in *fd (close-on-exec), else *fd is -1. Returns the length, 0 at end of
/// file, or -errno (-EMSGSIZE for a message or descriptor that did not fit).
long mcpd_receive_with_fd(int socket, void *buffer, size_t capacity, int *fd);

// MARK: systemd notify
/// Sends `message` as one datagram to the AF_UNIX socket named by `path` (a leading '@' names an
/// abstract socket), passing `fd` with SCM_RIGHTS when fd >= 0. Returns 0 or -errno.
int mcpd_notify_send(const char *path, const char *message, size_t length, int fd);

#endif
