-- The extension installs into schema mekatek with its four group roles.
SELECT extname, extversion, nspname
  FROM pg_extension JOIN pg_namespace n ON n.oid = extnamespace
 WHERE extname = 'mekatek';
SELECT rolname, rolcanlogin
  FROM pg_roles WHERE rolname LIKE 'mekatek\_%' ORDER BY rolname;
