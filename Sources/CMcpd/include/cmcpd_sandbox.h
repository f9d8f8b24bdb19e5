// The sandbox a worker or a stdio server runs in, applied by the single-threaded process itself
// before it runs tool code (see Sources/Sandbox for the policy and DESIGN.md for why not in Swift).
//
// Layers, each one thing (nsjail/bubblewrap style):
//   process: own session, PR_SET_PDEATHSIG, no_new_privs, umask 077, rlimits, close_range.
//   strict:  process + user/pid/mount/ipc/uts(/net) namespaces, a read-only view of /, a private
//            /tmp, a fresh /proc, the configured paths bound ro/rw, the hidden paths covered,
//            Landlock write rules when the kernel has them, capabilities dropped, seccomp-bpf.
#ifndef CMCPD_SANDBOX_H
#define CMCPD_SANDBOX_H

#include <stdint.h>
#include <stddef.h>

enum { MCPD_SANDBOX_NONE = 0, MCPD_SANDBOX_PROCESS = 1, MCPD_SANDBOX_STRICT = 2 };

typedef struct {
    int level;
    /// strict only: keep the host's network (no network namespace).
    int allow_network;
    /// strict only: paths bound at the same place inside, read-write when writable[i] != 0.
    const char *const *paths;
    const int *writable;
    int path_count;
    /// strict only: paths covered by an empty read-only tmpfs (the supervisor's state directory).
    const char *const *hidden;
    int hidden_count;
    /// Resource limits (soft = hard); 0 leaves the inherited limit. Core dumps are always off.
    uint64_t address_space_bytes;
    uint64_t cpu_seconds;
    uint64_t open_files;
    uint64_t processes;
    uint64_t file_size_bytes;
    /// Every descriptor from close_from up is closed; < 0 closes nothing.
    int close_from;
} mcpd_sandbox_config;

/// Applies `config` to the calling process, which must be single-threaded. Returns 0 in the
/// sandboxed process (for strict: pid 1 of the new pid namespace; the process that called it stays
/// outside as a waiter, never returns, and exits with its child's status). On failure returns -1
/// and leaves a description in `error` (nothing is half-trusted: the caller must exit).
/// `landlock_abi_out`, when not NULL, receives the Landlock ABI applied (0: none).
int mcpd_sandbox_enter(const mcpd_sandbox_config *config, int *landlock_abi_out, char *error, size_t error_size);

/// The Landlock ABI version the kernel offers, 0 when none (disabled or too old), without
/// restricting anything.
int mcpd_landlock_abi(void);

#endif
