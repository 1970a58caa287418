-- core: mekatek.outbox_prune deletes delivered outbox messages older than
-- keep (NULL: the setting mekatek.outbox_keep, default 30 days) and never
-- an undelivered one, however old.  Admin only.
SET timezone = 'Asia/Jakarta';
SET IntervalStyle = 'postgres';
DELETE FROM mekatek.outbox;
INSERT INTO mekatek.outbox (channel, payload, created, claimed_at, delivered_at) VALUES
  ('prune', '{"m": "delivered 40 days ago"}', now() - '41 days'::interval, now() - '40 days'::interval, now() - '40 days'::interval),
  ('prune', '{"m": "delivered 31 days ago"}', now() - '31 days'::interval, now() - '31 days'::interval, now() - '31 days'::interval),
  ('prune', '{"m": "delivered 10 days ago"}', now() - '10 days'::interval, now() - '10 days'::interval, now() - '10 days'::interval),
  ('prune', '{"m": "queued 400 days ago"}', now() - '400 days'::interval, NULL, NULL),
  ('prune', '{"m": "claimed 100 days ago"}', now() - '100 days'::interval, now() - '100 days'::interval, NULL);
CREATE VIEW pg_temp.left_over AS
  SELECT payload->>'m' AS message, delivered_at IS NOT NULL AS delivered FROM mekatek.outbox ORDER BY outbox_id;

-- The setting's default: 30 days.
SHOW mekatek.outbox_keep;
SELECT mekatek.outbox_prune() AS deleted;
SELECT * FROM pg_temp.left_over;
SELECT mekatek.outbox_prune() AS again;

-- The argument wins over the setting.
SELECT mekatek.outbox_prune('5 days') AS deleted;
SELECT * FROM pg_temp.left_over;

-- The setting, used when keep is NULL (a unit: d, h, min, s).
INSERT INTO mekatek.outbox (channel, payload, delivered_at) VALUES
  ('prune', '{"m": "delivered 2 hours ago"}', now() - '2 hours'::interval),
  ('prune', '{"m": "delivered 10 minutes ago"}', now() - '10 minutes'::interval);
SET mekatek.outbox_keep = '1h';
SHOW mekatek.outbox_keep;
SELECT mekatek.outbox_prune(NULL) AS deleted;
SELECT * FROM pg_temp.left_over;
SET mekatek.outbox_keep = 90;   -- seconds
SHOW mekatek.outbox_keep;
SELECT mekatek.outbox_prune() AS deleted;
RESET mekatek.outbox_keep;

-- Refused: a negative, zero or mixed-sign keep, and such a setting.
\set VERBOSITY default
SELECT mekatek.outbox_prune('-1 day');
SELECT mekatek.outbox_prune('0');
SELECT mekatek.outbox_prune('1 mon -40 days');
SET mekatek.outbox_keep = '-5min';
SET mekatek.outbox_keep = '0';
SET mekatek.outbox_keep = '';
SHOW mekatek.outbox_keep;

-- Who may prune: an admin; not a cashier, not the deliverer.
CREATE ROLE regress_op_admin IN ROLE mekatek_admin;
CREATE ROLE regress_op_cashier IN ROLE mekatek_cashier;
CREATE ROLE regress_op_deliverer IN ROLE mekatek_outbox;
SET ROLE regress_op_cashier;
SELECT mekatek.outbox_prune();
RESET ROLE;
SET ROLE regress_op_deliverer;
SELECT mekatek.outbox_prune('1 day');
RESET ROLE;
INSERT INTO mekatek.outbox (channel, payload, delivered_at) VALUES
  ('prune', '{"m": "delivered an hour ago"}', now() - '1 hour'::interval);
SET ROLE regress_op_admin;
SELECT mekatek.outbox_prune('1 second') AS deleted;
RESET ROLE;
SELECT * FROM pg_temp.left_over;
DROP ROLE regress_op_admin, regress_op_cashier, regress_op_deliverer;
DELETE FROM mekatek.outbox;
