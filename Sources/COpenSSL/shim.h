#ifndef TIESIM_COPENSSL_SHIM_H
#define TIESIM_COPENSSL_SHIM_H
// The system OpenSSL (Debian's libssl-dev), for the fabric's own TLS listeners: the WebSocket listeners
// and the management service. What OpenSSL spells as macros is wrapped here as functions Swift can call.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/objects.h>

/// A context for TLS 1.2 and later on the side `method` names (`TLS_server_method()`, `TLS_client_method()`).
static inline SSL_CTX *tiesim_tls_context(const SSL_METHOD *method) {
    SSL_CTX *context = SSL_CTX_new(method);
    if (!context) return NULL;
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    SSL_CTX_set_mode(context, SSL_MODE_AUTO_RETRY);
    return context;
}
/// Sends `ca`'s certificates as the acceptable issuers in the handshake and demands a client certificate
/// that chains to them.
static inline int tiesim_tls_require_client_certificate(SSL_CTX *context, const char *ca) {
    if (SSL_CTX_load_verify_locations(context, ca, NULL) != 1) return 0;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (names) SSL_CTX_set_client_CA_list(context, names);
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return 1;
}
/// The common name of the peer's certificate, or -1 when it sent none.
static inline int tiesim_tls_peer_common_name(SSL *ssl, char *buffer, int size) {
    X509 *certificate = SSL_get1_peer_certificate(ssl);
    if (!certificate) return -1;
    int length = X509_NAME_get_text_by_NID(X509_get_subject_name(certificate), NID_commonName, buffer, size);
    X509_free(certificate);
    return length;
}
#endif
