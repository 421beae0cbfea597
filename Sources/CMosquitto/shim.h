#ifndef TIESIM_CMOSQUITTO_SHIM_H
#define TIESIM_CMOSQUITTO_SHIM_H
#include <mosquitto.h>
#include <mqtt_protocol.h>
#endif
