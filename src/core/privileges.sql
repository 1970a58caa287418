-- Mekatek install script, core (last): the last word on privileges.
-- Functions are executable by PUBLIC by default; Mekatek grants EXECUTE
-- explicitly per role in each module file, so take PUBLIC's away here.
REVOKE EXECUTE ON ALL ROUTINES IN SCHEMA mekatek FROM PUBLIC;
