# Mekatek: a PGXS extension.  `make demo` and `make test` are the two
# commands the README documents; everything else is ordinary PGXS
# (`make`, `make install`, `make installcheck`).

EXTENSION  = mekatek
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" mekatek.control)

# The modules, in the order of the install script and of _PG_init.  Each is
# a folder src/<module>/ holding its C files, header and <module>.sql.
# src/core/ comes first (core.sql) and last (privileges.sql) on its own.
MODULES = pos basket geo firewall backup devices ledger survey chain
MK_MODULES := $(MODULES)

MODULE_big = mekatek
OBJS      := $(patsubst %.c,%.o,$(sort $(wildcard src/core/*.c) \
             $(foreach m,$(MK_MODULES),$(wildcard src/$(m)/*.c))))

INSTALL_SQL := src/core/core.sql $(foreach m,$(MK_MODULES),src/$(m)/$(m).sql) src/core/privileges.sql
# Upgrade scripts.  0.1.0 -> 0.2.0 is built from the pieces every folder
# may hold (src/<folder>/upgrade--0.1.0--0.2.0.sql, core first, then
# MODULES in order), the whole install script of each module that 0.1.0
# did not have (MODULES_SINCE_0_2_0), and the privileges script.
MODULES_SINCE_0_2_0 = ledger survey chain
UPGRADE_0_2_0 := $(wildcard src/core/upgrade--0.1.0--0.2.0.sql) \
                 $(foreach m,$(MK_MODULES),$(wildcard src/$(m)/upgrade--0.1.0--0.2.0.sql)) \
                 $(foreach m,$(MODULES_SINCE_0_2_0),src/$(m)/$(m).sql) src/core/privileges.sql
DATA_built  = build/mekatek--$(EXTVERSION).sql build/mekatek--0.1.0--0.2.0.sql

PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/build/include
# -MMD: every object depends on the headers it includes (PGXS tracks none
# unless PostgreSQL was configured with --enable-depend).
PG_CFLAGS   = -Wvla -Wshadow=compatible-local -MMD -MP $(MK_CFLAGS)
SHLIB_LINK  = -lcurl -lz -lzstd -lcrypto -lxlsxwriter

# pg_regress: sql/*.sql against expected/*.out.  Isolation: the specs in
# test/isolation/specs against test/isolation/expected.  Both run against an
# existing server with `make installcheck` (the extension installed there)
# and against a private cluster with `make test`.
REGRESS        = $(sort $(patsubst sql/%.sql,%,$(wildcard sql/*.sql)))
REGRESS_OPTS   = --inputdir=$(srcdir) --load-extension=mekatek
ISOLATION      = $(sort $(patsubst test/isolation/specs/%.spec,%,$(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=$(srcdir)/test/isolation --load-extension=mekatek

EXTRA_CLEAN = $(OBJS:.o=.d) build/mekatek--*.sql build/include results regression.diffs regression.out output_iso

# pg_config on PATH, else PostgreSQL 15's from Debian.  On a machine that
# has neither yet, PGXS is empty and only `make deps|demo|test` work: they
# install it and call make again.
PG_CONFIG ?= $(shell command -v pg_config || echo /usr/lib/postgresql/15/bin/pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
# PGXS reads MODULES as a list of one-file libraries; ours is MK_MODULES.
undefine MODULES
include $(PGXS)

build/mekatek--$(EXTVERSION).sql: $(INSTALL_SQL) Makefile
	@mkdir -p build
	cat $(INSTALL_SQL) > $@

build/mekatek--0.1.0--0.2.0.sql: $(UPGRADE_0_2_0) Makefile
	@mkdir -p build
	cat $(UPGRADE_0_2_0) > $@

# _PG_init calls mk_<module>_init() for every module of MODULES, in order.
# The header is rewritten only when the list changes, so editing the
# Makefile does not rebuild everything.
build/include/mk_modules.h: mk-force
	@mkdir -p build/include
	@printf 'MK_MODULE(%s)\n' $(MK_MODULES) > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
$(OBJS) $(OBJS:.o=.bc): build/include/mk_modules.h
.PHONY: mk-force
mk-force:

MK_PORT ?= 54329

.PHONY: deps demo demo-stop test bench valgrind fuzz-sqlsmith print-%
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

# Slow checks kept out of `make test` (issue 14): the regression and pgTAP
# suites under valgrind (MK_VALGRIND_SUPP = PostgreSQL's valgrind.supp),
# and a bounded sqlsmith run (MK_SQLSMITH_QUERIES, default 2000).
valgrind: deps
	$(MAKE) all
	MK_VALGRIND=1 bash test/scripts/valgrind.sh

fuzz-sqlsmith: deps
	$(MAKE) all
	bash test/bench/sqlsmith/run.sh

-include $(OBJS:.o=.d)

# `make print-REGRESS` and the like: the harness reads the lists from here.
print-%:
	@echo $($*)
print-MODULES:
	@echo $(MK_MODULES)

# Programs outside the server (the edge client) bring their own rules in
# src/<dir>/build.mk.
include $(wildcard src/*/build.mk)
