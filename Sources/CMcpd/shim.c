// Wrappers over interfaces Swift cannot call; see include/cmcpd.h for the contract of each.
#define _GNU_SOURCE
#include "cmcpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

int mcpd_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) == 0 ? 0 : -errno;
}

int mcpd_set_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

int mcpd_close_from(int first) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0) return 0;
    return -errno;
#else
    return -ENOSYS;
#endif
}

int mcpd_spawn(const char *path, char *const argv[], char *const envp[],
               const int *keep_fds, int keep_count, pid_t *pid) {
    return mcpd_spawn_placed(path, argv, envp, keep_fds, keep_fds, keep_count, NULL, -1, pid);
}

int mcpd_spawn_placed(const char *path, char *const argv[], char *const envp[],
                      const int *from, const int *to, int count, const char *cwd, int close_from,
                      pid_t *pid) {
    // A source below 3 could be overwritten by an earlier placement onto 0..2: move it up first.
    int moved[count > 0 ? count : 1];
    int sources[count > 0 ? count : 1];
    for (int i = 0; i < count; i++) {
        moved[i] = -1;
        sources[i] = from[i];
        if (from[i] < 3 && from[i] != to[i]) {
            moved[i] = fcntl(from[i], F_DUPFD_CLOEXEC, 3);
            if (moved[i] < 0) {
                int error = errno;
                for (int j = 0; j < i; j++) if (moved[j] >= 0) close(moved[j]);
                return error;
            }
            sources[i] = moved[i];
        }
    }

    posix_spawnattr_t attr;
    posix_spawn_file_actions_t actions;
    int rc = posix_spawnattr_init(&attr);
    if (rc == 0) {
        rc = posix_spawn_file_actions_init(&actions);
        if (rc != 0) posix_spawnattr_destroy(&attr);
    }
    if (rc == 0) {
        // The supervisor blocks the signals it reads through signalfd; a child must not inherit that.
        sigset_t empty, all;
        sigemptyset(&empty);
        sigfillset(&all);
        posix_spawnattr_setsigmask(&attr, &empty);
        posix_spawnattr_setsigdefault(&attr, &all);
        // A session of its own makes the child lead a process group too (pgid = pid), and no
        // terminal of ours can reach it (the sandbox's `process` level relies on it).
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETSID | POSIX_SPAWN_USEVFORK);
        // dup2(fd, fd) clears FD_CLOEXEC on the same number (glibc >= 2.29), so the child keeps it.
        for (int i = 0; i < count && rc == 0; i++)
            rc = posix_spawn_file_actions_adddup2(&actions, sources[i], to[i]);
        if (rc == 0 && cwd != NULL) rc = posix_spawn_file_actions_addchdir_np(&actions, cwd);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
        // Belt and braces: descriptors are O_CLOEXEC by convention, but a foreign program gets
        // nothing it was not given even if some library opened one without the flag.
        if (rc == 0 && close_from >= 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, close_from);
#endif
        if (rc == 0) rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attr);
    }
    for (int i = 0; i < count; i++) if (moved[i] >= 0) close(moved[i]);
    return rc;
}

int mcpd_child_has_exited(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) return -errno;
    return info.si_pid == pid ? 1 : 0;
}

int mcpd_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}

int mcpd_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int mcpd_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

int mcpd_epoll_wait(int epfd, mcpd_epoll_event *out, int max, int timeout_ms) {
    struct epoll_event events[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        out[i].data = events[i].data.u64;
        out[i].events = events[i].events;
    }
    return n;
}

int mcpd_signalfd(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < count; i++) sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) return -errno;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

int mcpd_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n == (ssize_t)sizeof info) return (int)info.ssi_signo;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    return n < 0 ? -errno : 0;
}

void mcpd_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }

int mcpd_listen_tcp(const char *host, int port, int backlog, const char **error_text) {
    struct addrinfo hints, *result = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int rc = getaddrinfo(host, service, &hints, &result);
    if (rc != 0) {
        if (error_text) *error_text = gai_strerror(rc);
        return -EINVAL;
    }
    int last_error = EADDRNOTAVAIL;
    for (struct addrinfo *ai = result; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) { last_error = errno; continue; }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
            freeaddrinfo(result);
            return fd;
        }
        last_error = errno;
        close(fd);
    }
    freeaddrinfo(result);
    return -last_error;
}

static int format_address(const struct sockaddr_storage *ss, char *buffer, size_t size, int with_port) {
    char host[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        if (with_port) snprintf(buffer, size, "%s:%d", host, port);
        else snprintf(buffer, size, "%s", host);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        if (with_port) snprintf(buffer, size, "[%s]:%d", host, port);
        else snprintf(buffer, size, "%s", host);
    } else if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        snprintf(buffer, size, "unix:%s", un->sun_path[0] ? un->sun_path : "@");
    } else {
        snprintf(buffer, size, "unknown");
    }
    return 0;
}

int mcpd_local_address(int fd, char *buffer, size_t size) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
    return format_address(&ss, buffer, size, 1);
}

int mcpd_peer_host(int fd, char *buffer, size_t size) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
    return format_address(&ss, buffer, size, 0);
}

int mcpd_socket_is_loopback(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
    if (ss.ss_family == AF_UNIX) return 1;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) return 1;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) return in6->sin6_addr.s6_addr[12] == 127;
        return 0;
    }
    return 0;
}

int mcpd_is_stream_listener(int fd) {
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return -errno;
    len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) return -errno;
    return type == SOCK_STREAM && listening;
}

/// sendmsg of one message to `addr` (NULL: the connected peer), with `fd` attached (SCM_RIGHTS)
/// when fd >= 0. Returns 0 or -errno.
static int send_message(int sock, const struct sockaddr_un *addr, socklen_t addr_length,
                        const void *data, size_t length, int fd) {
    struct iovec iov = { .iov_base = (void *)data, .iov_len = length };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = (void *)addr;
    msg.msg_namelen = addr ? addr_length : 0;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int))];
    if (fd >= 0) {
        memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    }
    ssize_t sent;
    do { sent = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    return sent < 0 ? -errno : 0;
}

int mcpd_notify_send(const char *path, const char *message, size_t length, int fd) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t path_length = strlen(path);
    if (path_length == 0 || path_length >= sizeof addr.sun_path) return -EINVAL;
    memcpy(addr.sun_path, path, path_length);
    if (path[0] == '@') addr.sun_path[0] = 0;  // abstract namespace
    socklen_t addr_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length);

    int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return -errno;
    int rc = send_message(sock, &addr, addr_length, message, length, fd);
    close(sock);
    return rc;
}

int mcpd_accept(int listener) {
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

long mcpd_getrandom(void *buffer, size_t length) {
    ssize_t n = getrandom(buffer, length, 0);
    return n >= 0 ? (long)n : -errno;
}

int mcpd_set_batch_scheduling(void) {
    struct sched_param no_priority = { .sched_priority = 0 };
    return sched_setscheduler(0, SCHED_BATCH, &no_priority) == 0 ? 0 : -errno;
}

pid_t mcpd_fork_for_parent(void) {
#if defined(SYS_clone3) && defined(PR_GET_TID_ADDRESS)
    // glibc's fork has the kernel store the child's id in the thread descriptor (CLONE_CHILD_SETTID
    // on the address glibc gave set_tid_address at start); raise, pthread_kill and PI mutexes read it.
    int *tid_address = NULL;
    if (prctl(PR_GET_TID_ADDRESS, &tid_address, 0, 0, 0) != 0) return -errno;
    if (tid_address == NULL) return -ENOSYS;
    void *robust_head = NULL;
    size_t robust_length = 0;
    int has_robust_list = syscall(SYS_get_robust_list, 0, &robust_head, &robust_length) == 0 && robust_head != NULL;
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PARENT | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
    args.child_tid = (uint64_t)(uintptr_t)tid_address;
    // exit_signal stays 0: clone3 refuses one with CLONE_PARENT, and the child takes ours (SIGCHLD).
    long pid = syscall(SYS_clone3, &args, sizeof args);
#if defined(SYS_clone) && (defined(__x86_64__) || defined(__aarch64__))
    // Under systemd's RestrictNamespaces= (mcpd.service) clone3 fails with ENOSYS: seccomp cannot
    // look into clone3's arguments, so systemd refuses it whole. clone takes the same flags, in this
    // argument order on these architectures (glibc's own fork uses clone).
    if (pid < 0 && errno == ENOSYS) pid = syscall(SYS_clone, (unsigned long)args.flags, 0UL, NULL, tid_address, 0UL);
#endif
    if (pid < 0) return -errno;
    // The kernel does not carry the robust-futex list into a new process; glibc's fork re-registers it.
    if (pid == 0 && has_robust_list) syscall(SYS_set_robust_list, robust_head, robust_length);
    return (pid_t)pid;
#else
    return -ENOSYS;
#endif
}

int mcpd_send_with_fd(int socket, const void *data, size_t length, int fd) {
    return send_message(socket, NULL, 0, data, length, fd);
}

long mcpd_receive_with_fd(int socket, void *buffer, size_t capacity, int *fd) {
    *fd = -1;
    struct iovec iov = { .iov_base = buffer, .iov_len = capacity };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int))];
    memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t received;
    do { received = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC); } while (received < 0 && errno == EINTR);
    if (received < 0) return -errno;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS && cmsg->cmsg_len >= CMSG_LEN(sizeof(int))) {
            memcpy(fd, CMSG_DATA(cmsg), sizeof(int));
        }
    }
    // A message cut short (MSG_TRUNC, MSG_CTRUNC) is not the one that was sent.
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
        if (*fd >= 0) { close(*fd); *fd = -1; }
        return -EMSGSIZE;
    }
    return (long)received;
}

int mcpd_set_process_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0) == 0 ? 0 : -errno;
}

int mcpd_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

pid_t mcpd_exited_child(void) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int rc;
    do { rc = waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT); } while (rc < 0 && errno == EINTR);
    if (rc < 0) return errno == ECHILD ? 0 : -errno;
    return info.si_pid;
}
