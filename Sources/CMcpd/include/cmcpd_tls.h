// TLS client connections through OpenSSL loaded at run time.
//
// mcpd has no build-time dependency on OpenSSL: workers that fetch https:// URLs dlopen
// libssl.so.3 on first use. Sockets stay non-blocking; the caller polls the descriptor when an
// operation says it wants to read or write, so that deadlines and cancellation stay in Swift.
#ifndef CMCPD_TLS_H
#define CMCPD_TLS_H

#include <stddef.h>

enum {
    MCPD_TLS_WANT_READ = -2,   ///< poll for POLLIN, then repeat the same call
    MCPD_TLS_WANT_WRITE = -3,  ///< poll for POLLOUT, then repeat the same call
    MCPD_TLS_FAILED = -1,      ///< fatal; mcpd_tls_error describes it
};

typedef struct mcpd_tls mcpd_tls;

/// Loads libssl once per process. Returns 1 when TLS is usable, 0 when not (then *error_text
/// says why, e.g. "libssl.so.3: cannot open shared object file").
int mcpd_tls_available(const char **error_text);

/// Starts a client session on connected socket `fd` for `host` (SNI, and the name the
/// certificate must carry unless `verify` is 0). Returns NULL and fills `error` on failure.
mcpd_tls *mcpd_tls_new(int fd, const char *host, int verify, char *error, size_t error_size);

/// Drives the handshake: 1 when done, MCPD_TLS_WANT_*, or MCPD_TLS_FAILED.
int mcpd_tls_handshake(mcpd_tls *tls);

/// Bytes read (> 0), 0 at the end of the stream, MCPD_TLS_WANT_*, or MCPD_TLS_FAILED.
long mcpd_tls_read(mcpd_tls *tls, void *buffer, size_t size);

/// Bytes written (> 0), MCPD_TLS_WANT_*, or MCPD_TLS_FAILED. After a WANT, repeat with the same bytes.
long mcpd_tls_write(mcpd_tls *tls, const void *bytes, size_t size);

/// The reason for the last MCPD_TLS_FAILED on this session (certificate problem, alert, errno).
const char *mcpd_tls_error(const mcpd_tls *tls);

/// Sends close_notify (best effort, never waits) and frees the session. Does not close `fd`.
void mcpd_tls_free(mcpd_tls *tls);

#endif
