#ifndef TIESIM_CMOSQUITTO_BROKER_SHIM_H
#define TIESIM_CMOSQUITTO_BROKER_SHIM_H
// The mosquitto 2.0 broker plugin API (Debian's mosquitto-dev). Nothing is linked: a plugin's calls
// into the broker resolve against the mosquitto executable that loads it.
#include <stdbool.h>
#include <stdint.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mqtt_protocol.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

/// mosquitto_log_printf for Swift, which cannot call a variadic function: logs `text` as it is.
static inline void tiesim_broker_log(int level, const char *text) {
    mosquitto_log_printf(level, "%s", text);
}
/// The common name of a client certificate from mosquitto_client_certificate, written into `buffer`
/// (NUL-terminated); frees the certificate. The name's length, or -1 when there is none.
static inline int tiesim_certificate_common_name(void *certificate, char *buffer, int size) {
    if (!certificate) return -1;
    int length = X509_NAME_get_text_by_NID(X509_get_subject_name((X509 *)certificate), NID_commonName, buffer, size);
    X509_free((X509 *)certificate);
    return length;
}
#endif
