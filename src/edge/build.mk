# mekatek-edge: the device-side forwarder (libpq), built with the extension.
# Included by the top Makefile after PGXS, so it only adds to `all` and
# `clean`; `make install` installs the extension as before (copy
# src/edge/mekatek-edge to the device yourself).
EDGE_BIN := src/edge/mekatek-edge

all: $(EDGE_BIN)

$(EDGE_BIN): src/edge/mekatek-edge.c
	$(CC) -std=gnu99 -O2 -Wall -Wextra $(MK_CFLAGS) -o $@ $< \
		-I$(shell $(PG_CONFIG) --includedir) -L$(shell $(PG_CONFIG) --libdir) -lpq

EXTRA_CLEAN += $(EDGE_BIN)

# mekatek-chat: the chat bot's bridge to the ledger (JSON lines, json-c).
CHAT_BIN := src/edge/mekatek-chat

all: $(CHAT_BIN)

$(CHAT_BIN): src/edge/mekatek-chat.c
	$(CC) -std=gnu99 -O2 -Wall -Wextra $(MK_CFLAGS) -o $@ $< \
		-I$(shell $(PG_CONFIG) --includedir) -L$(shell $(PG_CONFIG) --libdir) -lpq -ljson-c

EXTRA_CLEAN += $(CHAT_BIN)
