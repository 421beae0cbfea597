#include "DXLBrokerFastPath.h"
#include <string.h>
#include <time.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

/* Resolved against the mosquitto executable that loads the plugin; weak, so that a test binary that
 * only calls the scan and the stamp links without them. */
#pragma weak mosquitto_malloc
#pragma weak mosquitto_client_id

/* Off until the plugin has copied the core's conditions in. */
tiesim_fast_state tiesim_fast = { .off = 1 };

static const char notes_prefix[] = "/tiesim/broker/notes/";

/* Where the msgpack string at `offset` ends (fixstr, str8 or raw16); 0 when it is none of those or runs
 * past `count`. */
static size_t string_end(const unsigned char *bytes, size_t count, size_t offset)
{
    size_t end;
    if (offset >= count) return 0;
    unsigned char marker = bytes[offset];
    if ((marker & 0xe0) == 0xa0) {
        end = offset + 1 + (marker & 0x1f);
    } else if (marker == 0xda && offset + 2 < count) {
        end = offset + 3 + ((size_t)bytes[offset + 1] << 8 | bytes[offset + 2]);
    } else if (marker == 0xd9 && offset + 1 < count) {
        end = offset + 2 + bytes[offset + 1];
    } else {
        return 0;
    }
    return end <= count ? end : 0;
}

int tiesim_fast_scan(const unsigned char *bytes, size_t count, size_t *ids_start, size_t *ids_end)
{
    if (count < 5 || bytes[0] >= 0x80 || bytes[1] > 3) return -1;
    size_t id_end = string_end(bytes, count, 2);
    size_t client_end = id_end ? string_end(bytes, count, id_end) : 0;
    size_t broker_end = client_end ? string_end(bytes, count, client_end) : 0;
    if (broker_end == 0) return -1;
    *ids_start = id_end;
    *ids_end = broker_end;
    return bytes[1];
}

void tiesim_fast_write_stamped(const unsigned char *bytes, size_t count, size_t ids_start, size_t ids_end,
                               const unsigned char *stamp, size_t stamp_length, unsigned char *destination)
{
    memcpy(destination, bytes, ids_start);
    memcpy(destination + ids_start, stamp, stamp_length);
    memcpy(destination + ids_start + stamp_length, bytes + ids_end, count - ids_end);
}

void tiesim_fast_set_publisher(const void *client, const unsigned char *stamp, size_t length, const char *topic)
{
    size_t topic_length = topic ? strlen(topic) : 0;
    if (client == NULL || stamp == NULL || topic == NULL || length > sizeof(tiesim_fast.stamp) || topic_length >= sizeof(tiesim_fast.topic)) {
        tiesim_fast.publisher = NULL;
        return;
    }
    memcpy(tiesim_fast.topic, topic, topic_length + 1);
    memcpy(tiesim_fast.stamp, stamp, length);
    tiesim_fast.stamp_length = length;
    tiesim_fast.publisher = client;
}

int tiesim_fast_holds(const void *client, const char *topic)
{
    return client != NULL && client == tiesim_fast.publisher && topic != NULL && strcmp(topic, tiesim_fast.topic) == 0;
}

void tiesim_fast_forget_publisher(const void *client)
{
    if (client == tiesim_fast.publisher) tiesim_fast.publisher = NULL;
}

void tiesim_fast_set_conditions(int route_pending, int send_rules, int receive_rules, int impostors, int tick_due)
{
    tiesim_fast.tick_due = tick_due;
    tiesim_fast.route_pending = route_pending;
    tiesim_fast.send_rules = send_rules;
    tiesim_fast.receive_rules = receive_rules;
    tiesim_fast.impostors = impostors;
}

void tiesim_fast_take_counts(uint64_t *incoming, uint64_t *outgoing)
{
    *incoming = tiesim_fast.incoming;
    *outgoing = tiesim_fast.outgoing;
    tiesim_fast.incoming = 0;
    tiesim_fast.outgoing = 0;
}

int tiesim_fast_start(const char *bridge_prefix, size_t max_message_size)
{
    tiesim_fast_stop();
    size_t length = strlen(bridge_prefix);
    if (length == 0 || length >= sizeof(tiesim_fast.bridge_prefix)) return 0;
    memcpy(tiesim_fast.bridge_prefix, bridge_prefix, length + 1);
    tiesim_fast.max_message_size = max_message_size;
    tiesim_fast.off = 0;
    return 1;
}

void tiesim_fast_stop(void)
{
    tiesim_fast.off = 1;
    tiesim_fast.publisher = NULL;
    tiesim_fast.incoming = 0;
    tiesim_fast.outgoing = 0;
}

int tiesim_fast_tick(void)
{
    if (tiesim_fast.off || tiesim_fast.route_pending || tiesim_fast.tick_due) return 1;
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &now) != 0) return 1;
    int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (ms == tiesim_fast.last_tick_ms) return 0;
    tiesim_fast.last_tick_ms = ms;
    return 1;
}

static int is_notes_topic(const char *topic)
{
    return strncmp(topic, notes_prefix, sizeof(notes_prefix) - 1) == 0;
}

int tiesim_fast_message(void *event_data)
{
    struct mosquitto_evt_message *message = event_data;
    if (message == NULL || tiesim_fast.off || tiesim_fast.route_pending || message->client == NULL
        || message->client != tiesim_fast.publisher || message->topic == NULL
        || message->payloadlen > tiesim_fast.max_message_size || is_notes_topic(message->topic)
        || (tiesim_fast.send_rules && strcmp(message->topic, tiesim_fast.topic) != 0)) {
        return 0;
    }
    const unsigned char *bytes = message->payload;
    size_t count = message->payloadlen, start = 0, end = 0;
    int type = bytes ? tiesim_fast_scan(bytes, count, &start, &end) : -1;
    if (type != 1 && type != 2) return 0;  /* requests and error responses: the core */
    tiesim_fast.incoming += 1;
    size_t length = tiesim_fast.stamp_length;
    if (end - start == length && memcmp(bytes + start, tiesim_fast.stamp, length) == 0) return 1;
    size_t stamped = count - (end - start) + length;
    unsigned char *copy = mosquitto_malloc(stamped > 0 ? stamped : 1);
    if (copy == NULL) return 1;  /* as the core: passed on as it came */
    tiesim_fast_write_stamped(bytes, count, start, end, tiesim_fast.stamp, length, copy);
    message->payload = copy;
    message->payloadlen = (uint32_t)stamped;
    return 1;
}

int tiesim_fast_access(void *event_data)
{
    struct mosquitto_evt_acl_check *check = event_data;
    if (check == NULL) return 0;
    if (check->access == MOSQ_ACL_WRITE && !tiesim_fast.off) return 1;  /* decided with the message, as the core does */
    if (tiesim_fast.off || check->access != MOSQ_ACL_READ || tiesim_fast.route_pending || tiesim_fast.receive_rules
        || tiesim_fast.impostors || check->client == NULL || check->topic == NULL) {
        return 0;
    }
    const unsigned char *bytes = check->payload;
    size_t count = check->payloadlen;
    /* The core's own markers (dropped messages), requests and the broker's notes: the core. */
    if (count >= 1 && bytes[0] == 0xc1) return 0;
    if (count >= 2 && bytes[0] < 0x80 && bytes[1] == 0) return 0;
    if (is_notes_topic(check->topic)) return 0;
    const char *id = mosquitto_client_id(check->client);
    size_t prefix = strlen(tiesim_fast.bridge_prefix);
    if (id == NULL || prefix == 0 || strncmp(id, tiesim_fast.bridge_prefix, prefix) == 0) return 0;
    tiesim_fast.outgoing += 1;
    return 1;
}
