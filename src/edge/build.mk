# mekatek-edge (the device-side forwarder) and mekatek-notify (the outbox
# deliverer), libpq programs built with the extension.  Included by the top
# Makefile after PGXS, so they only add to `all` and `clean`; `make install`
# installs the extension as before (copy src/edge/mekatek-* to the device
# or the gateway yourself).
EDGE_BIN := src/edge/mekatek-edge
NOTIFY_BIN := src/edge/mekatek-notify

all: $(EDGE_BIN) $(NOTIFY_BIN)

# libmosquitto and json-c for its MQTT input (edge_mqtt.c); the extension
# itself links neither.
$(EDGE_BIN): src/edge/mekatek-edge.c src/edge/edge_mqtt.c src/edge/edge_mqtt.h
	$(CC) -std=gnu99 -O2 -Wall -Wextra $(MK_CFLAGS) -o $@ src/edge/mekatek-edge.c src/edge/edge_mqtt.c \
		-I$(shell $(PG_CONFIG) --includedir) -L$(shell $(PG_CONFIG) --libdir) -lpq -lcrypto -lmosquitto -ljson-c -lm

$(NOTIFY_BIN): src/edge/mekatek-notify.c
	$(CC) -std=gnu99 -O2 -Wall -Wextra $(MK_CFLAGS) -o $@ $< \
		-I$(shell $(PG_CONFIG) --includedir) -L$(shell $(PG_CONFIG) --libdir) -lpq -lcurl

EXTRA_CLEAN += $(EDGE_BIN) $(NOTIFY_BIN)

# mekatek-chat: the chat bot's bridge to the ledger (JSON lines, json-c).
CHAT_BIN := src/edge/mekatek-chat

all: $(CHAT_BIN)

$(CHAT_BIN): src/edge/mekatek-chat.c
	$(CC) -std=gnu99 -O2 -Wall -Wextra $(MK_CFLAGS) -o $@ $< \
		-I$(shell $(PG_CONFIG) --includedir) -L$(shell $(PG_CONFIG) --libdir) -lpq -ljson-c

EXTRA_CLEAN += $(CHAT_BIN)
