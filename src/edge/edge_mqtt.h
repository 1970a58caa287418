/*
 * edge_mqtt.h: MQTT messages as mekatek-edge events (edge_mqtt.c).
 */
#ifndef MEKATEK_EDGE_MQTT_H
#define MEKATEK_EDGE_MQTT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The event an MQTT message carries: fields in spool form after the id
 * ("KIND\tDEVICE\tF1\tF2\tF3\tTIME", TIME "-" when the message gave none),
 * and id the event id the message gave (DEVICE/ID) or "" when the caller
 * must derive one.  false, with why set, when the message is malformed.
 */
extern bool edge_mqtt_event(const char *prefix, const char *topic,
							const char *payload, size_t len,
							char *fields, size_t fieldslen, char *id, size_t idlen,
							char *why, size_t whylen);

#endif							/* MEKATEK_EDGE_MQTT_H */
