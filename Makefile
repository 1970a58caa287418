# Mekatek: a PGXS extension.  `make demo` and `make test` are the two
# commands the README documents; everything else is ordinary PGXS.

EXTENSION  = mekatek
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" mekatek.control)

MODULE_big = mekatek
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
# The install script is the concatenation of src/sql/*.sql, one file per
# module, in file-name order.
DATA_built = build/mekatek--$(EXTVERSION).sql
DATA       = $(wildcard src/sql/upgrade/mekatek--*--*.sql)

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS   = -Wvla -Wshadow=compatible-local
SHLIB_LINK  = -lcurl -lz -lcrypto

EXTRA_CLEAN = build/mekatek--*.sql results regression.diffs regression.out

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

build/mekatek--$(EXTVERSION).sql: $(sort $(wildcard src/sql/[0-9]*.sql))
	@mkdir -p build
	cat $^ > $@

MK_PORT ?= 54329

.PHONY: deps demo demo-stop test bench
deps:
	bash test/harness/deps.sh

demo: deps
	$(MAKE) all
	bash test/demo/demo.sh $(MK_PORT)

demo-stop:
	bash test/harness/cluster.sh stop demo $(shell $(PG_CONFIG) --bindir)

test: deps
	$(MAKE) all
	bash test/harness/run-tests.sh

bench: deps
	$(MAKE) all
	bash test/bench/run.sh

# Programs outside the server (the edge client, fuzz harnesses) bring their
# own rules in src/<dir>/build.mk.
include $(wildcard src/*/build.mk)
