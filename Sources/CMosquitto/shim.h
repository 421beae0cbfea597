#ifndef TIESIM_CMOSQUITTO_SHIM_H
#define TIESIM_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/// A TLS client context for mutual TLS as libmosquitto would make it (TLS 1.2 or later, no compression,
/// the peer verified against `ca_file`, no host name check, as with mosquitto_tls_insecure_set), that
/// also reads ahead: OpenSSL then takes many records per read(2) instead of two reads per record.
/// `cert_file` and `key_file` may be NULL (no client certificate). NULL on any error. The caller frees it
/// (libmosquitto takes its own reference).
static inline SSL_CTX *tiesim_tls_context(const char *ca_file, const char *cert_file, const char *key_file) {
    SSL_CTX *context = SSL_CTX_new(TLS_client_method());
    if (!context) return NULL;
    SSL_CTX_set_options(context, SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_read_ahead(context, 1);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(context, ca_file, NULL) != 1
        || (cert_file && SSL_CTX_use_certificate_chain_file(context, cert_file) != 1)
        || (key_file && SSL_CTX_use_PrivateKey_file(context, key_file, SSL_FILETYPE_PEM) != 1)
        || (cert_file && key_file && SSL_CTX_check_private_key(context) != 1)) {
        SSL_CTX_free(context);
        return NULL;
    }
    return context;
}

/// Whether OpenSSL holds data the socket will no longer signal: a whole record read ahead, or a failure
/// for libmosquitto's own read to report. A partial record is not one: the socket signals its rest.
/// Peeking reads nothing away, and nothing is peeked before the handshake is done (libmosquitto
/// finishes it itself).
static inline int tiesim_tls_record_buffered(void *ssl) {
    if (!ssl || !SSL_is_init_finished((SSL *)ssl) || SSL_has_pending((SSL *)ssl) != 1) return 0;
    unsigned char byte;
    int result = SSL_peek((SSL *)ssl, &byte, 1);
    if (result > 0) return 1;
    int error = SSL_get_error((SSL *)ssl, result);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return 0;
    }
    return 1;
}
#endif
