// The sandbox layers; see include/cmcpd_sandbox.h. Runs in a single-threaded process between
// posix_spawn and exec (the mcp-worker shim) or at mcp-worker's start, so it may fork and unshare.
#define _GNU_SOURCE
#include "cmcpd_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

// The uid a root supervisor's sandboxes run as: a tool must not own root's files (/etc/shadow).
#define SANDBOX_UNPRIVILEGED_ID 65534

static int fail(char *error, size_t size, const char *format, ...) {
    int saved = errno;
    va_list args;
    va_start(args, format);
    int n = vsnprintf(error, size, format, args);
    va_end(args);
    if (saved != 0 && n >= 0 && (size_t)n < size) snprintf(error + n, size - (size_t)n, ": %s", strerror(saved));
    return -1;
}

// MARK: process level

static int set_limit(int resource, uint64_t value) {
    if (value == 0) return 0;
    struct rlimit limit = { .rlim_cur = (rlim_t)value, .rlim_max = (rlim_t)value };
    struct rlimit current;
    // A hard limit can only go down without privilege: never ask for more than is there.
    if (getrlimit(resource, &current) == 0 && current.rlim_max != RLIM_INFINITY && limit.rlim_max > current.rlim_max) {
        limit.rlim_cur = limit.rlim_max = current.rlim_max;
    }
    return setrlimit(resource, &limit);
}

static int apply_process_level(const mcpd_sandbox_config *c, char *error, size_t size) {
    // posix_spawn made us a session leader already (POSIX_SPAWN_SETSID); otherwise do it now.
    if (getsid(0) != getpid() && setsid() < 0) return fail(error, size, "setsid");
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return fail(error, size, "PR_SET_PDEATHSIG");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail(error, size, "PR_SET_NO_NEW_PRIVS");
    umask(077);
    struct rlimit no_core = { 0, 0 };
    if (setrlimit(RLIMIT_CORE, &no_core) != 0) return fail(error, size, "RLIMIT_CORE");
    if (set_limit(RLIMIT_AS, c->address_space_bytes) != 0) return fail(error, size, "RLIMIT_AS");
    if (set_limit(RLIMIT_CPU, c->cpu_seconds) != 0) return fail(error, size, "RLIMIT_CPU");
    if (set_limit(RLIMIT_NOFILE, c->open_files) != 0) return fail(error, size, "RLIMIT_NOFILE");
    if (set_limit(RLIMIT_NPROC, c->processes) != 0) return fail(error, size, "RLIMIT_NPROC");
    if (set_limit(RLIMIT_FSIZE, c->file_size_bytes) != 0) return fail(error, size, "RLIMIT_FSIZE");
    if (c->close_from >= 0 && syscall(SYS_close_range, (unsigned)c->close_from, ~0U, 0) != 0)
        return fail(error, size, "close_range");
    errno = 0;
    return 0;
}

// MARK: namespaces

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t length = (ssize_t)strlen(text);
    ssize_t n = write(fd, text, (size_t)length);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == length ? 0 : -1;
}

/// Becomes the unprivileged id (when root), then enters new namespaces owned by a new user
/// namespace that maps that one id to itself: the same path as an unprivileged (DynamicUser) mcpd.
static int enter_namespaces(const mcpd_sandbox_config *c, char *error, size_t size) {
    if (geteuid() == 0) {
        if (setgroups(0, NULL) != 0) return fail(error, size, "setgroups");
        if (setresgid(SANDBOX_UNPRIVILEGED_ID, SANDBOX_UNPRIVILEGED_ID, SANDBOX_UNPRIVILEGED_ID) != 0)
            return fail(error, size, "setresgid");
        if (setresuid(SANDBOX_UNPRIVILEGED_ID, SANDBOX_UNPRIVILEGED_ID, SANDBOX_UNPRIVILEGED_ID) != 0)
            return fail(error, size, "setresuid");
        // Changing ids made us non-dumpable, which makes /proc/self/uid_map root's: take it back.
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // cleared by the id change
    }
    uid_t uid = geteuid();
    gid_t gid = getegid();
    int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
    if (!c->allow_network) flags |= CLONE_NEWNET;
    if (unshare(flags) != 0) {
        // Under systemd's ProtectHostname= the unit already has a UTS namespace of its own and its
        // RestrictNamespaces= refuses another: the hostname is isolated already, so go on without.
        if (errno != EPERM || unshare(flags & ~CLONE_NEWUTS) != 0)
            return fail(error, size, "unshare(user, pid, mount, ipc, uts%s namespaces)", c->allow_network ? "" : ", net");
    }
    char map[64];
    if (write_file("/proc/self/setgroups", "deny") != 0 && errno != ENOENT) return fail(error, size, "deny setgroups");
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    if (write_file("/proc/self/uid_map", map) != 0) return fail(error, size, "write uid_map");
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    if (write_file("/proc/self/gid_map", map) != 0) return fail(error, size, "write gid_map");
    errno = 0;
    return 0;
}

/// The process that unshared stays outside the new pid namespace: it waits for pid 1 and exits as
/// it did, holding no descriptor, so that the supervisor sees end-of-file when the sandbox dies.
static void wait_for_sandbox(pid_t child) {
    syscall(SYS_close_range, 0U, ~0U, 0);
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR) _exit(125);
    }
    if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
    _exit(128 + WTERMSIG(status));
}

static int mkdir_parents(const char *path) {
    char buffer[4096];
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof buffer) { errno = ENAMETOOLONG; return -1; }
    memcpy(buffer, path, length + 1);
    for (size_t i = 1; i <= length; i++) {
        if (buffer[i] == '/' || buffer[i] == 0) {
            char saved = buffer[i];
            buffer[i] = 0;
            if (mkdir(buffer, 0755) != 0 && errno != EEXIST) return -1;
            buffer[i] = saved;
        }
    }
    return 0;
}

static int is_directory(const char *path) {
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

static int build_filesystem(const mcpd_sandbox_config *c, char *error, size_t size) {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == NULL) strcpy(cwd, "/");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return fail(error, size, "make / private");

    // Detached copies of the bound paths, taken before /tmp is covered (they may live under it).
    int trees[64];
    int count = c->path_count > 64 ? 64 : c->path_count;
    for (int i = 0; i < count; i++) {
        trees[i] = (int)open_tree(AT_FDCWD, c->paths[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (trees[i] < 0) return fail(error, size, "bind %s", c->paths[i]);
        if (!c->writable[i]) {
            struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
            if (mount_setattr(trees[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
                return fail(error, size, "make %s read-only", c->paths[i]);
        }
    }

    // The whole system read-only, recursively (every mount below / too).
    struct mount_attr readonly = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID };
    if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &readonly, sizeof readonly) != 0)
        return fail(error, size, "make / read-only");

    for (int i = 0; i < c->hidden_count; i++) {
        if (!is_directory(c->hidden[i])) continue;
        if (mount("tmpfs", c->hidden[i], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000") != 0)
            return fail(error, size, "hide %s", c->hidden[i]);
    }
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=1777") != 0)
        return fail(error, size, "private /tmp");
    if (is_directory("/dev/shm") && mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777") != 0)
        return fail(error, size, "private /dev/shm");
    // Our pid namespace's processes only: no other worker's environ or cmdline.
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        return fail(error, size, "mount /proc for the pid namespace");

    for (int i = 0; i < count; i++) {
        // Under the private /tmp the mount point does not exist yet; elsewhere it is the source itself.
        struct stat info;
        if (stat(c->paths[i], &info) != 0) {
            if (mkdir_parents(c->paths[i]) != 0) return fail(error, size, "create mount point %s", c->paths[i]);
        }
        if (move_mount(trees[i], "", AT_FDCWD, c->paths[i], MOVE_MOUNT_F_EMPTY_PATH) != 0)
            return fail(error, size, "mount %s", c->paths[i]);
        close(trees[i]);
    }
    if (chdir(cwd) != 0 && chdir("/") != 0) return fail(error, size, "chdir");
    sethostname("mcpd-sandbox", 12);
    errno = 0;
    return 0;
}

/// An empty network namespace still has a loopback device; bring it up so that a tool may talk
/// to itself (and nothing else).
static int bring_up_loopback(char *error, size_t size) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(error, size, "socket for lo");
    struct ifreq request;
    memset(&request, 0, sizeof request);
    strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    int rc = ioctl(fd, SIOCGIFFLAGS, &request);
    if (rc == 0) {
        request.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(fd, SIOCSIFFLAGS, &request);
    }
    close(fd);
    if (rc != 0) return fail(error, size, "bring up lo");
    return 0;
}

// MARK: Landlock

int mcpd_landlock_abi(void) {
#ifdef SYS_landlock_create_ruleset
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi > 0 ? (int)abi : 0;
#else
    return 0;
#endif
}

static int allow_writes_beneath(int ruleset, const char *path, uint64_t rights) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? 0 : -1;
    struct stat info;
    if (fstat(fd, &info) == 0 && !S_ISDIR(info.st_mode)) {
        // Rules on files may only carry file rights.
        rights &= LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
                  | LANDLOCK_ACCESS_FS_TRUNCATE
#endif
            ;
    }
    struct landlock_path_beneath_attr rule = { .allowed_access = rights, .parent_fd = fd };
    long rc = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc == 0 ? 0 : -1;
}

/// Writes only beneath the read-write paths, the private /tmp and /dev/shm, and to the few devices
/// every program expects. Reading is left to the mount view. Returns the ABI applied, 0 when none.
static int restrict_writes(const mcpd_sandbox_config *c, char *error, size_t size) {
    int abi = mcpd_landlock_abi();
    if (abi <= 0) return 0;
    uint64_t handled = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                       LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                       LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                       LANDLOCK_ACCESS_FS_MAKE_SYM;
#ifdef LANDLOCK_ACCESS_FS_REFER
    if (abi >= 2) handled |= LANDLOCK_ACCESS_FS_REFER;
#endif
#ifdef LANDLOCK_ACCESS_FS_TRUNCATE
    if (abi >= 3) handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
#endif
    struct landlock_ruleset_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.handled_access_fs = handled;
    // Older kernels reject a larger struct than they know: give ABI 1-3 only the fs field.
    size_t attr_size = abi >= 4 ? sizeof attr : sizeof attr.handled_access_fs;
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (ruleset < 0) return fail(error, size, "landlock_create_ruleset");
    const char *scratch[] = { "/tmp", "/dev/shm", "/dev/null", "/dev/zero", "/dev/full", "/dev/tty" };
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++) {
        if (allow_writes_beneath(ruleset, scratch[i], handled) != 0) { close(ruleset); return fail(error, size, "landlock rule %s", scratch[i]); }
    }
    for (int i = 0; i < c->path_count; i++) {
        if (c->writable[i] && allow_writes_beneath(ruleset, c->paths[i], handled) != 0) {
            close(ruleset);
            return fail(error, size, "landlock rule %s", c->paths[i]);
        }
    }
    long rc = syscall(SYS_landlock_restrict_self, ruleset, 0);
    close(ruleset);
    if (rc != 0) return fail(error, size, "landlock_restrict_self");
    return abi;
}

// MARK: capabilities and seccomp

static int drop_capabilities(char *error, size_t size) {
    for (int cap = 0; cap <= 63; cap++) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) != 0) return fail(error, size, "capset");
    return 0;
}

#if defined(__x86_64__)
#define SANDBOX_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

/// Denies with EPERM what a tool never needs: debugging others, the mount table once it is built,
/// the kernel's keyrings, modules, BPF, perf, kexec, and making namespaces of its own. clone3 gets
/// ENOSYS (its flags live in memory a filter cannot read), so the C library falls back to clone,
/// whose namespace flags are checked here.
static int install_seccomp(char *error, size_t size) {
#ifdef SANDBOX_AUDIT_ARCH
    const unsigned namespace_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                     CLONE_NEWNET | CLONE_NEWCGROUP
#ifdef CLONE_NEWTIME
                                     | CLONE_NEWTIME
#endif
        ;
    struct sock_filter filter[] = {
        // A foreign architecture's syscall numbers mean something else: kill rather than guess.
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SANDBOX_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
        // The x32 ABI shares the architecture value: refuse its numbers wholesale.
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
#endif
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        // clone(flags, ...): the flags are the first argument on both architectures.
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, namespace_flags, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        DENY(SYS_ptrace), DENY(SYS_process_vm_readv), DENY(SYS_process_vm_writev),
        DENY(SYS_mount), DENY(SYS_umount2), DENY(SYS_pivot_root), DENY(SYS_chroot),
        DENY(SYS_open_tree), DENY(SYS_move_mount), DENY(SYS_fsopen), DENY(SYS_fsconfig), DENY(SYS_fsmount),
        DENY(SYS_fspick), DENY(SYS_mount_setattr),
        DENY(SYS_unshare), DENY(SYS_setns),
        DENY(SYS_kexec_load), DENY(SYS_kexec_file_load), DENY(SYS_reboot),
        DENY(SYS_bpf), DENY(SYS_perf_event_open), DENY(SYS_userfaultfd),
        DENY(SYS_keyctl), DENY(SYS_add_key), DENY(SYS_request_key),
        DENY(SYS_init_module), DENY(SYS_finit_module), DENY(SYS_delete_module),
        DENY(SYS_swapon), DENY(SYS_swapoff), DENY(SYS_acct), DENY(SYS_quotactl),
        DENY(SYS_settimeofday), DENY(SYS_clock_settime), DENY(SYS_adjtimex),
        DENY(SYS_open_by_handle_at), DENY(SYS_name_to_handle_at),
        DENY(SYS_personality),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = { .len = (unsigned short)(sizeof filter / sizeof filter[0]), .filter = filter };
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) != 0) return fail(error, size, "install seccomp filter");
    return 0;
#else
    errno = ENOSYS;
    return fail(error, size, "seccomp filter: unsupported architecture");
#endif
}

// MARK: entry

int mcpd_sandbox_enter(const mcpd_sandbox_config *c, int *landlock_abi_out, char *error, size_t size) {
    if (landlock_abi_out) *landlock_abi_out = 0;
    if (size > 0) error[0] = 0;
    if (c->level <= MCPD_SANDBOX_NONE) return 0;
    if (apply_process_level(c, error, size) != 0) return -1;
    if (c->level < MCPD_SANDBOX_STRICT) return 0;

    if (enter_namespaces(c, error, size) != 0) return -1;
    pid_t child = fork();
    if (child < 0) return fail(error, size, "fork into the pid namespace");
    if (child > 0) wait_for_sandbox(child);
    // pid 1 of the new namespace: die with the waiter outside, which dies with the supervisor.
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (build_filesystem(c, error, size) != 0) return -1;
    if (!c->allow_network && bring_up_loopback(error, size) != 0) return -1;
    int abi = restrict_writes(c, error, size);
    if (abi < 0) return -1;
    if (landlock_abi_out) *landlock_abi_out = abi;
    if (drop_capabilities(error, size) != 0) return -1;
    if (install_seccomp(error, size) != 0) return -1;
    return 0;
}
