/*
 * The floor for `tiesim-bench plugin`: the least any mosquitto plugin must do to stamp DXL's source ids
 * into events that arrive without them. It registers the per-message callbacks a DXL broker plugin
 * needs (so that mosquitto dispatches to it as often), answers every check at once, and gives each
 * message a new buffer of mosquitto's, `plugin_opt_grow` bytes longer (the stamp's size: 80 with GUID
 * ids), without reading the message at all. With `plugin_opt_grow 0` it leaves messages untouched: the
 * least any plugin costs that is asked about every message (the floor for events already stamped);
 * with `plugin_opt_grow 0` and `plugin_opt_copy 1` it still gives each a new buffer, of the same size:
 * what the copy costs without the stamp's bytes.
 * Built by the benchmark at run time; never loaded by tiesim.
 */
#include <stdlib.h>
#include <string.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mosquitto.h>

static unsigned grow_by = 80;
static int copy_always = 0;

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
	}
	static const struct { int event; MOSQ_FUNC_generic_callback callback; } callbacks[] = {
		{MOSQ_EVT_ACL_CHECK, allow}, {MOSQ_EVT_MESSAGE, grow}, {MOSQ_EVT_TICK, allow}, {MOSQ_EVT_DISCONNECT, allow},
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
