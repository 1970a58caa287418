#!/usr/bin/env bash
# Build a private PostgreSQL installation root in build/stage and install
# the freshly built extension into it, as PostgreSQL's own "make check" does
# with its temporary installation.  The server binaries are copied (the
# server finds its share and lib directories relative to its own path);
# everything else is a symlink to the Debian install, so it costs ~15 MB.
source "$(dirname "$0")/common.sh"

stage=$MK_BUILD/stage
bindir=$($PG_CONFIG --bindir)
libdir=$($PG_CONFIG --pkglibdir)
sharedir=$($PG_CONFIG --sharedir)

if [ ! -x "$stage$bindir/postgres" ] || [ "$bindir/postgres" -nt "$stage$bindir/postgres" ] \
   || [ "$MK_ROOT/test/harness/packages.txt" -nt "$stage/.complete" ] || [ ! -e "$stage/.complete" ]; then
    mk_log "preparing staged installation in $stage"
    rm -rf "$stage"
    mkdir -p "$stage$bindir" "$stage$libdir" "$stage$sharedir"
    cp -a "$bindir/." "$stage$bindir/"
    cp -rs "$libdir/." "$stage$libdir/"
    cp -rs "$sharedir/." "$stage$sharedir/"
    touch "$stage/.complete"
fi
# Never write through a symlink into the system installation.
find "$stage" -name 'mekatek*' -type l -delete
make -s -C "$MK_ROOT" install DESTDIR="$stage" PG_CONFIG="$PG_CONFIG" >/dev/null
chmod -R a+rX "$stage"
echo "$stage$bindir"
