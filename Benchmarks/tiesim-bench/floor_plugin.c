/*
 * The floor for `tiesim-bench plugin`: the least any mosquitto plugin must do to stamp DXL's source ids
 * into events that arrive without them. It registers the callbacks a DXL broker plugin needs (so that
 * mosquitto dispatches to it as often), answers every check at once, and gives each message a new
 * buffer of mosquitto's, 80 bytes longer (the stamp's size), without reading the message at all.
 * Built by the benchmark at run time with the toolchain's clang; never loaded by tiesim.
 */
#include <string.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mosquitto.h>

enum { STAMP_BYTES = 80 };

static int allow(int event, void *data, void *userdata)
{
	(void)event; (void)data; (void)userdata;
	return MOSQ_ERR_SUCCESS;
}

static int grow(int event, void *data, void *userdata)
{
	(void)event; (void)userdata;
	struct mosquitto_evt_message *message = data;
	char *copy = mosquitto_malloc(message->payloadlen + STAMP_BYTES);
	if(copy == NULL) return MOSQ_ERR_SUCCESS;
	memcpy(copy, message->payload, message->payloadlen);
	memset(copy + message->payloadlen, ' ', STAMP_BYTES);
	message->payload = copy;
	message->payloadlen += STAMP_BYTES;
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int count, const int *versions)
{
	(void)count; (void)versions;
	return 5;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata, struct mosquitto_opt *options, int count)
{
	(void)userdata; (void)options; (void)count;
	mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, allow, NULL, NULL);
	mosquitto_callback_register(identifier, MOSQ_EVT_MESSAGE, grow, NULL, NULL);
	mosquitto_callback_register(identifier, MOSQ_EVT_TICK, allow, NULL, NULL);
	mosquitto_callback_register(identifier, MOSQ_EVT_DISCONNECT, allow, NULL, NULL);
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int count)
{
	(void)userdata; (void)options; (void)count;
	return MOSQ_ERR_SUCCESS;
}
