# pg_dump --schema-only output, normalised for comparing an upgraded
# database with a fresh install: comments, blank lines, SET lines and the
# \restrict lines (a random key per dump) go, and the columns of each
# CREATE TABLE are sorted (ALTER TABLE ADD COLUMN in an upgrade appends a
# column that a fresh install may declare earlier; pg_dump's COPY names
# its columns, so the order does not matter to a restore).
/^--/ || /^$/ || /^SET / || /^SELECT pg_catalog.set_config/ || /^\\(un)?restrict / { next }
/^CREATE TABLE / { print; fflush(); intable = 1; next }
intable && /^\)/ { close("LC_ALL=C sort"); intable = 0; print; next }
intable { line = $0; sub(/,$/, "", line); print line | "LC_ALL=C sort"; next }
{ print }
