/*
 * The floor for `tiesim-bench plugin`: the least any mosquitto plugin must do to stamp DXL's source ids
 * into events that arrive without them. It registers the per-message callbacks a DXL broker plugin
 * needs (so that mosquitto dispatches to it as often), answers every check at once, and gives each
 * message a new buffer of mosquitto's, `plugin_opt_grow` bytes longer (the stamp's size: 80 with GUID
 * ids), without reading the message at all. With `plugin_opt_grow 0` it leaves messages untouched: the
 * least any plugin costs that is asked about every message (the floor for events already stamped);
 * with `plugin_opt_grow 0` and `plugin_opt_copy 1` it still gives each a new buffer, of the same size:
 * what the copy costs without the stamp's bytes.
 * With `plugin_opt_stamp` it stamps for real, through the broker plugin's own header scan and stamp
 * (`DXLBrokerFastPath`, compiled in beside it). Built by the benchmark at run time; never loaded by tiesim.
 */
#include "DXLBrokerFastPath.h"
#include <stdlib.h>
#include <string.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mosquitto.h>

static unsigned grow_by = 80;
static int copy_always = 0;
/* `plugin_opt_stamp <broker guid>`: stamp for real instead (see `stamp`). */
static char *broker_id = NULL;

static int allow(int event, void *data, void *userdata)
{
	(void)event; (void)data; (void)userdata;
	return MOSQ_ERR_SUCCESS;
}

static int grow(int event, void *data, void *userdata)
{
	(void)event; (void)userdata;
	struct mosquitto_evt_message *message = data;
	if(grow_by == 0 && !copy_always) return MOSQ_ERR_SUCCESS;
	char *copy = mosquitto_malloc(message->payloadlen + grow_by);
	if(copy == NULL) return MOSQ_ERR_SUCCESS;
	if(message->payloadlen > 0) memcpy(copy, message->payload, message->payloadlen);
	memset(copy + message->payloadlen, ' ', grow_by);
	message->payload = copy;
	message->payloadlen += grow_by;
	return MOSQ_ERR_SUCCESS;
}

/* Writes `text` as a msgpack string at `out` as DXL clients do (fixstr, else raw16); returns the bytes
 * written. */
static size_t encode_string(unsigned char *out, const char *text)
{
	size_t length = strlen(text);
	if(length > 255) length = 255;
	if(length < 32){
		out[0] = (unsigned char)(0xa0 | length);
		memcpy(out + 1, text, length);
		return length + 1;
	}
	out[0] = 0xda;
	out[1] = (unsigned char)(length >> 8);
	out[2] = (unsigned char)length;
	memcpy(out + 3, text, length);
	return length + 3;
}

/* The least a conforming DXL broker does with an event: finds the source ids behind the message id (as
 * DXL clients encode them) and, unless they are already this client's and this broker's, gives the
 * message a new buffer with them stamped in. The publisher's encoded stamp is kept for its next message. */
static const void *last_client = NULL;
static unsigned char encoded[2 * 258];
static size_t encoded_length = 0;

/* A client gone: mosquitto may give its address to the next one. */
static int forget(int event, void *data, void *userdata)
{
	(void)event; (void)userdata;
	const struct mosquitto_evt_disconnect *disconnect = data;
	if(disconnect->client == last_client) last_client = NULL;
	return MOSQ_ERR_SUCCESS;
}

static int stamp(int event, void *data, void *userdata)
{
	(void)event; (void)userdata;
	struct mosquitto_evt_message *message = data;
	const unsigned char *bytes = message->payload;
	size_t count = message->payloadlen, id_end = 0, broker_end = 0;
	if(bytes == NULL || tiesim_fast_scan(bytes, count, &id_end, &broker_end) < 0) return MOSQ_ERR_SUCCESS;
	if(message->client != last_client){
		const char *client_id = mosquitto_client_id(message->client);
		encoded_length = encode_string(encoded, client_id ? client_id : "");
		encoded_length += encode_string(encoded + encoded_length, broker_id);
		last_client = message->client;
	}
	size_t old_length = broker_end - id_end;
	if(old_length == encoded_length && memcmp(bytes + id_end, encoded, encoded_length) == 0) return MOSQ_ERR_SUCCESS;
	size_t new_count = count - old_length + encoded_length;
	unsigned char *copy = mosquitto_malloc(new_count);
	if(copy == NULL) return MOSQ_ERR_SUCCESS;
	tiesim_fast_write_stamped(bytes, count, id_end, broker_end, encoded, encoded_length, copy);
	message->payload = copy;
	message->payloadlen = (uint32_t)new_count;
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int count, const int *versions)
{
	(void)count; (void)versions;
	return 5;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *options, int count)
{
	(void)userdata;
	for(int i = 0; i < count; i++){
		if(strcmp(options[i].key, "grow") == 0) grow_by = (unsigned)strtoul(options[i].value, NULL, 10);
		if(strcmp(options[i].key, "copy") == 0) copy_always = atoi(options[i].value) != 0;
		if(strcmp(options[i].key, "stamp") == 0) broker_id = strdup(options[i].value);
	}
	const struct { int event; MOSQ_FUNC_generic_callback callback; } callbacks[] = {
		{MOSQ_EVT_ACL_CHECK, allow}, {MOSQ_EVT_MESSAGE, broker_id ? stamp : grow}, {MOSQ_EVT_TICK, allow}, {MOSQ_EVT_DISCONNECT, forget},
	};
	for(size_t i = 0; i < sizeof(callbacks) / sizeof(callbacks[0]); i++){
		int rc = mosquitto_callback_register(identifier, callbacks[i].event, callbacks[i].callback, NULL, NULL);
		if(rc != MOSQ_ERR_SUCCESS) return rc;
	}
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int count)
{
	(void)userdata; (void)options; (void)count;
	return MOSQ_ERR_SUCCESS;
}
