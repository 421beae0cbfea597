#ifndef TIESIM_DXL_BROKER_FAST_PATH_H
#define TIESIM_DXL_BROKER_FAST_PATH_H
// The DXL broker plugin's path for the messages a broker sees most: events and responses from a client
// the Swift core has already seen, and their recipients, when no rule, route or bridge is involved. It
// does in C, on mosquitto's one thread, exactly what `BrokerCore` would (count, scan the header, stamp
// the source ids) and leaves everything else to it. `BrokerCore` stays the one place that decides: the
// plugin copies into `tiesim_fast` what these checks need after each call into it.
#include <stddef.h>
#include <stdint.h>

/// What the fast path may take for granted, as the Swift core last said.
typedef struct tiesim_fast_state {
    /// Everything goes to the core (before the plugin started, or when the fast path cannot apply).
    int off;
    /// A routed request is being handed to its recipients: messages and checks go to the core.
    int route_pending;
    /// Topic authorization rules on sending / on receiving: messages / recipient checks go to the core.
    int send_rules;
    int receive_rules;
    /// Some client that is no bridge has a bridge's id: recipient checks go to the core.
    int impostors;
    /// The core has something to do on its next tick (an announcement it holds back): ticks go to it.
    int tick_due;
    /// The fabric's message size limit.
    size_t max_message_size;
    /// The client (mosquitto's pointer) whose events the fast path stamps, and the stamp: its encoded id
    /// then the broker's GUID's, as the core encodes them. NULL: none.
    const void *publisher;
    unsigned char stamp[2 * 259];
    size_t stamp_length;
    /// With rules on sending: the one topic (NUL-terminated) the core found the publisher may send on.
    char topic[256];
    /// Bridges' client ids start with this (NUL-terminated).
    char bridge_prefix[64];
    /// The coarse monotonic clock's millisecond at the core's last tick.
    int64_t last_tick_ms;
    /// Messages taken in and deliveries allowed since the core last took the counts.
    uint64_t incoming;
    uint64_t outgoing;
} tiesim_fast_state;

extern tiesim_fast_state tiesim_fast;

/// The DXL message type (0–3) of `bytes` as `DXLHeader.quickScan` reads it, with where its source ids
/// start and end; -1 when the bytes are not encoded as DXL clients encode them (the core decides then).
int tiesim_fast_scan(const unsigned char *bytes, size_t count, size_t *ids_start, size_t *ids_end);

/// Writes `bytes` with `[ids_start, ids_end)` replaced by `stamp` into `destination`, which holds
/// `count - (ids_end - ids_start) + stamp_length` bytes.
void tiesim_fast_write_stamped(const unsigned char *bytes, size_t count, size_t ids_start, size_t ids_end,
                               const unsigned char *stamp, size_t stamp_length, unsigned char *destination);

/// Makes `client` the publisher whose events the fast path stamps with `stamp`, and, when there are rules
/// on sending, whose messages on `topic` it may pass (NULL: none; a stamp or topic longer than the state
/// holds: none).
void tiesim_fast_set_publisher(const void *client, const unsigned char *stamp, size_t length, const char *topic);

/// 1 when `client` is the publisher and `topic` its topic already (nothing to set again), else 0.
int tiesim_fast_holds(const void *client, const char *topic);

/// Forgets `client` as the publisher (it disconnected: mosquitto may give its address to another).
void tiesim_fast_forget_publisher(const void *client);

/// Sets what the core said the fast path must leave to it (see the fields above).
void tiesim_fast_set_conditions(int route_pending, int send_rules, int receive_rules, int impostors, int tick_due);

/// Hands over the counts and starts them again from 0.
void tiesim_fast_take_counts(uint64_t *incoming, uint64_t *outgoing);

/// Turns the fast path on for a broker whose bridges' ids start with `bridge_prefix` and whose message
/// size limit is `max_message_size`; 0 (and off) when the prefix is empty or too long to hold.
int tiesim_fast_start(const char *bridge_prefix, size_t max_message_size);

/// Turns it off: everything goes to the core.
void tiesim_fast_stop(void);

/// `MOSQ_EVT_TICK` (every turn of mosquitto's loop): 1 when the core must tick — a route is pending, it
/// holds something back for its next tick, or the coarse monotonic clock (the core's) reached another
/// millisecond since its last tick — else 0: otherwise, within one millisecond a tick has nothing to do.
int tiesim_fast_tick(void);

/// `MOSQ_EVT_MESSAGE`: 1 when the fast path took the message (stamped or passed it), 0 when the core
/// must.
int tiesim_fast_message(void *event_data);

/// `MOSQ_EVT_ACL_CHECK`: 1 when the fast path allowed the check, 0 when the core must decide.
int tiesim_fast_access(void *event_data);

#endif
