-- DROP EXTENSION mekatek drops every table of the extension with its rows,
-- CASCADE or not.  It is refused while the tables hold rows (the ERROR
-- names them), works on an empty database, and is forced by the superuser
-- setting mekatek.drop_with_data.  A database of its own: the suite's
-- database keeps its extension.
\set VERBOSITY default
CREATE DATABASE mekatek_drop_guard;
\c mekatek_drop_guard
CREATE EXTENSION mekatek;
-- Empty (backup_config's installed policy row is not data): dropped.
DROP EXTENSION mekatek;
CREATE EXTENSION mekatek;
INSERT INTO mekatek.branch (name) VALUES ('Apotek Sehat Pusat');
INSERT INTO mekatek.room VALUES ('resto', 'Restoran', 5);
DROP EXTENSION mekatek;
DROP EXTENSION mekatek CASCADE;
DROP EXTENSION IF EXISTS mekatek;
DROP SCHEMA mekatek CASCADE;
SELECT name FROM mekatek.branch;
-- Only a superuser may force it.
SET ROLE mekatek_admin;
SET mekatek.drop_with_data = on;
RESET ROLE;
SET mekatek.drop_with_data = on;
DROP EXTENSION mekatek;
SELECT count(*) FROM pg_extension WHERE extname = 'mekatek';
\c postgres
DROP DATABASE mekatek_drop_guard;
