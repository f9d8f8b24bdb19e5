// TLS through OpenSSL 3 loaded with dlopen; see include/cmcpd_tls.h.
//
// Only the handful of functions a client needs are looked up. Macros in OpenSSL's headers
// (SSL_set_tlsext_host_name, SSL_CTX_set_mode) are spelled out as the SSL_ctrl calls they expand to.
#define _GNU_SOURCE
#include "cmcpd_tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ssl_method_st SSL_METHOD;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

enum {
    SSL_ERROR_NONE_ = 0, SSL_ERROR_SSL_ = 1, SSL_ERROR_WANT_READ_ = 2, SSL_ERROR_WANT_WRITE_ = 3,
    SSL_ERROR_SYSCALL_ = 5, SSL_ERROR_ZERO_RETURN_ = 6,
};
enum { SSL_VERIFY_NONE_ = 0, SSL_VERIFY_PEER_ = 1 };
enum { SSL_CTRL_MODE_ = 33, SSL_CTRL_SET_TLSEXT_HOSTNAME_ = 55, TLSEXT_NAMETYPE_host_name_ = 0 };
// A retried SSL_write may pass the same bytes from a different address (Swift arrays move).
enum { SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER_ = 2 };
// Many servers end close-delimited bodies without close_notify; treat that as the end of the body.
#define SSL_OP_IGNORE_UNEXPECTED_EOF_ ((uint64_t)1 << 7)
#define X509_V_OK_ 0L

static struct {
    const SSL_METHOD *(*TLS_client_method)(void);
    SSL_CTX *(*SSL_CTX_new)(const SSL_METHOD *);
    void (*SSL_CTX_free)(SSL_CTX *);
    int (*SSL_CTX_set_default_verify_paths)(SSL_CTX *);
    void (*SSL_CTX_set_verify)(SSL_CTX *, int, void *);
    uint64_t (*SSL_CTX_set_options)(SSL_CTX *, uint64_t);
    long (*SSL_CTX_ctrl)(SSL_CTX *, int, long, void *);
    SSL *(*SSL_new)(SSL_CTX *);
    int (*SSL_set_fd)(SSL *, int);
    long (*SSL_ctrl)(SSL *, int, long, void *);
    int (*SSL_set1_host)(SSL *, const char *);
    void (*SSL_set_verify)(SSL *, int, void *);
    int (*SSL_connect)(SSL *);
    int (*SSL_read)(SSL *, void *, int);
    int (*SSL_write)(SSL *, const void *, int);
    int (*SSL_get_error)(const SSL *, int);
    long (*SSL_get_verify_result)(const SSL *);
    int (*SSL_shutdown)(SSL *);
    void (*SSL_free)(SSL *);
    unsigned long (*ERR_get_error)(void);
    void (*ERR_clear_error)(void);
    void (*ERR_error_string_n)(unsigned long, char *, size_t);
    const char *(*X509_verify_cert_error_string)(long);
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static SSL_CTX *shared_context;  // one per process: loading CA certificates is the expensive part
static char load_error[256];

#define LOOK_UP(handle, name, required)                                                  \
    do {                                                                                 \
        *(void **)(&api.name) = dlsym(handle, #name);                                    \
        if (!api.name && (required)) {                                                   \
            snprintf(load_error, sizeof load_error, "libssl.so.3 lacks %s", #name);      \
            return;                                                                      \
        }                                                                                \
    } while (0)

static void load(void) {
    void *crypto = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    void *ssl = crypto ? dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!ssl) {
        const char *why = dlerror();
        snprintf(load_error, sizeof load_error, "%s", why ? why : "libssl.so.3 cannot be loaded");
        return;
    }
    LOOK_UP(ssl, TLS_client_method, 1);
    LOOK_UP(ssl, SSL_CTX_new, 1);
    LOOK_UP(ssl, SSL_CTX_free, 1);
    LOOK_UP(ssl, SSL_CTX_set_default_verify_paths, 1);
    LOOK_UP(ssl, SSL_CTX_set_verify, 1);
    LOOK_UP(ssl, SSL_CTX_set_options, 0);
    LOOK_UP(ssl, SSL_CTX_ctrl, 0);
    LOOK_UP(ssl, SSL_new, 1);
    LOOK_UP(ssl, SSL_set_fd, 1);
    LOOK_UP(ssl, SSL_ctrl, 1);
    LOOK_UP(ssl, SSL_set1_host, 1);
    LOOK_UP(ssl, SSL_set_verify, 1);
    LOOK_UP(ssl, SSL_connect, 1);
    LOOK_UP(ssl, SSL_read, 1);
    LOOK_UP(ssl, SSL_write, 1);
    LOOK_UP(ssl, SSL_get_error, 1);
    LOOK_UP(ssl, SSL_get_verify_result, 1);
    LOOK_UP(ssl, SSL_shutdown, 1);
    LOOK_UP(ssl, SSL_free, 1);
    LOOK_UP(crypto, ERR_get_error, 1);
    LOOK_UP(crypto, ERR_clear_error, 1);
    LOOK_UP(crypto, ERR_error_string_n, 1);
    LOOK_UP(crypto, X509_verify_cert_error_string, 1);

    SSL_CTX *context = api.SSL_CTX_new(api.TLS_client_method());
    if (!context) {
        snprintf(load_error, sizeof load_error, "SSL_CTX_new failed");
        return;
    }
    if (api.SSL_CTX_set_default_verify_paths(context) != 1) {
        snprintf(load_error, sizeof load_error, "the system's CA certificates cannot be loaded");
        api.SSL_CTX_free(context);
        return;
    }
    api.SSL_CTX_set_verify(context, SSL_VERIFY_PEER_, NULL);
    if (api.SSL_CTX_set_options) api.SSL_CTX_set_options(context, SSL_OP_IGNORE_UNEXPECTED_EOF_);
    if (api.SSL_CTX_ctrl) api.SSL_CTX_ctrl(context, SSL_CTRL_MODE_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER_, NULL);
    shared_context = context;
}

int mcpd_tls_available(const char **error_text) {
    pthread_once(&load_once, load);
    if (shared_context) return 1;
    if (error_text) *error_text = load_error;
    return 0;
}

struct mcpd_tls {
    SSL *ssl;
    char error[256];
};

/// Describes why the last call on `tls` failed: a certificate verdict beats OpenSSL's error queue,
/// which beats errno.
static void record_failure(mcpd_tls *tls, int ssl_error, int saved_errno) {
    long verdict = api.SSL_get_verify_result(tls->ssl);
    unsigned long queued = api.ERR_get_error();
    if (verdict != X509_V_OK_) {
        snprintf(tls->error, sizeof tls->error, "certificate verification failed: %s",
                 api.X509_verify_cert_error_string(verdict));
    } else if (queued != 0) {
        api.ERR_error_string_n(queued, tls->error, sizeof tls->error);
    } else if (ssl_error == SSL_ERROR_SYSCALL_ && saved_errno != 0) {
        snprintf(tls->error, sizeof tls->error, "%s", strerror(saved_errno));
    } else if (ssl_error == SSL_ERROR_SYSCALL_) {
        snprintf(tls->error, sizeof tls->error, "the connection was closed during TLS");
    } else {
        snprintf(tls->error, sizeof tls->error, "TLS error %d", ssl_error);
    }
    api.ERR_clear_error();
}

/// Maps an SSL_* return value to the header's convention.
static long outcome(mcpd_tls *tls, int rc) {
    if (rc > 0) return rc;
    int saved_errno = errno;
    int error = api.SSL_get_error(tls->ssl, rc);
    switch (error) {
    case SSL_ERROR_WANT_READ_: return MCPD_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE_: return MCPD_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN_: return 0;
    default:
        record_failure(tls, error, saved_errno);
        return MCPD_TLS_FAILED;
    }
}

mcpd_tls *mcpd_tls_new(int fd, const char *host, int verify, char *error, size_t error_size) {
    const char *why = NULL;
    if (!mcpd_tls_available(&why)) {
        snprintf(error, error_size, "%s", why);
        return NULL;
    }
    mcpd_tls *tls = calloc(1, sizeof *tls);
    if (!tls) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    api.ERR_clear_error();
    tls->ssl = api.SSL_new(shared_context);
    if (!tls->ssl || api.SSL_set_fd(tls->ssl, fd) != 1) {
        snprintf(error, error_size, "SSL_new failed");
        mcpd_tls_free(tls);
        return NULL;
    }
    api.SSL_ctrl(tls->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME_, TLSEXT_NAMETYPE_host_name_, (void *)host);
    if (verify) {
        if (api.SSL_set1_host(tls->ssl, host) != 1) {
            snprintf(error, error_size, "cannot verify the host name %s", host);
            mcpd_tls_free(tls);
            return NULL;
        }
    } else {
        api.SSL_set_verify(tls->ssl, SSL_VERIFY_NONE_, NULL);
    }
    return tls;
}

int mcpd_tls_handshake(mcpd_tls *tls) {
    errno = 0;
    long rc = outcome(tls, api.SSL_connect(tls->ssl));
    if (rc == 0) {
        snprintf(tls->error, sizeof tls->error, "the server closed the connection during the TLS handshake");
        return MCPD_TLS_FAILED;
    }
    return rc > 0 ? 1 : (int)rc;
}

long mcpd_tls_read(mcpd_tls *tls, void *buffer, size_t size) {
    errno = 0;
    int count = size > INT32_MAX ? INT32_MAX : (int)size;
    return outcome(tls, api.SSL_read(tls->ssl, buffer, count));
}

long mcpd_tls_write(mcpd_tls *tls, const void *bytes, size_t size) {
    if (size == 0) return 0;
    errno = 0;
    int count = size > INT32_MAX ? INT32_MAX : (int)size;
    long rc = outcome(tls, api.SSL_write(tls->ssl, bytes, count));
    if (rc == 0) {
        snprintf(tls->error, sizeof tls->error, "the server closed the connection");
        return MCPD_TLS_FAILED;
    }
    return rc;
}

const char *mcpd_tls_error(const mcpd_tls *tls) { return tls->error; }

void mcpd_tls_free(mcpd_tls *tls) {
    if (!tls) return;
    if (tls->ssl) {
        api.SSL_shutdown(tls->ssl);
        api.SSL_free(tls->ssl);
    }
    api.ERR_clear_error();
    free(tls);
}
