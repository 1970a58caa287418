-- devices: visitor counting.  Rebuilds the paper's Tabel 4 (per-minute
-- report) from camera events, replays its Tabel 3 capacity trials and
-- computes its accuracy formula (2) on its Tabel 2.
SET timezone = 'Asia/Jakarta';
SET datestyle = 'ISO, YMD';

INSERT INTO mekatek.room VALUES ('resto', 'Restoran', 50);
SELECT room_id, entered, exited, inside FROM mekatek.room_occupancy;

-- Tabel 4: what the application showed at the end of each of 18 minutes
-- (cumulative in, out, inside).  The camera sends one event per person,
-- the entries of a minute before its exits.
CREATE TEMP TABLE tabel4(menit int, masuk int, keluar int, di_dalam int);
INSERT INTO tabel4 VALUES
 (1, 8, 1, 7), (2, 13, 1, 12), (3, 22, 2, 20), (4, 29, 3, 26), (5, 38, 4, 34),
 (6, 49, 8, 41), (7, 56, 8, 48), (8, 61, 10, 51), (9, 66, 10, 56), (10, 66, 15, 51),
 (11, 66, 21, 45), (12, 67, 26, 41), (13, 67, 33, 34), (14, 67, 42, 25),
 (15, 67, 52, 15), (16, 68, 57, 11), (17, 68, 65, 3), (18, 68, 68, 0);

INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction, seen_at)
SELECT * FROM (
  SELECT format('cam-1:%s:%s:%s', t.menit, d.direction, k), 'cam-1', 'resto', d.direction,
         timestamptz '2021-11-20 20:17:00+07' + t.menit * interval '1 min'
           + CASE d.direction WHEN 'in' THEN k ELSE 30 + k END * interval '1 s' AS seen_at
    FROM tabel4 t
    LEFT JOIN tabel4 p ON p.menit = t.menit - 1
   CROSS JOIN LATERAL (VALUES ('in', t.masuk - coalesce(p.masuk, 0)),
                              ('out', t.keluar - coalesce(p.keluar, 0))) AS d(direction, delta)
   CROSS JOIN LATERAL generate_series(1, d.delta) AS k) e
 ORDER BY seen_at;

-- The report rebuilt from the events matches the paper row for row.
SELECT t.menit AS percobaan, to_char(v.minute, 'HH24:MI') AS minute,
       entered, exited, entered_total, exited_total, inside,
       (entered_total, exited_total, inside) = (t.masuk, t.keluar, t.di_dalam) AS same_as_paper
  FROM mekatek.visitor_minute v
  JOIN tabel4 t ON t.menit = extract(minute FROM v.minute) - 17
 WHERE room_id = 'resto' ORDER BY v.minute;

SELECT room_id, entered, exited, miscounted, inside FROM mekatek.room_occupancy WHERE room_id = 'resto';

-- Capacity 50: crossed upwards once in minute 8, downwards once in minute 11.
SELECT state, inside, capacity, at FROM mekatek.capacity_alert WHERE room_id = 'resto' ORDER BY alert_id;

-- The per-minute report as CSV (psql: \copy (...) TO 'report.csv' CSV HEADER).
COPY (SELECT to_char(minute, 'HH24:MI') AS waktu, entered_total AS masuk,
             exited_total AS keluar, inside AS di_dalam
        FROM mekatek.visitor_minute WHERE room_id = 'resto' ORDER BY minute LIMIT 4)
  TO STDOUT WITH (FORMAT csv, HEADER);

-- Tabel 3: thirty trials, capacity k and k visitors; each trial alerts at
-- the k-th visitor, once.  One more visitor alerts nothing; two leaving
-- clears the alert.
INSERT INTO mekatek.room
SELECT format('trial-%s', lpad(k::text, 2, '0')), format('Percobaan %s', k), k
  FROM generate_series(1, 30) AS k;
INSERT INTO mekatek.visitor_event(camera, room_id, direction, seen_at)
SELECT 'cam-t', format('trial-%s', lpad(k::text, 2, '0')), 'in',
       timestamptz '2021-11-21 10:00:00+07' + k * interval '1 min' + i * interval '1 s'
  FROM generate_series(1, 30) AS k, generate_series(1, k + 1) AS i
 ORDER BY k, i;
SELECT count(*) AS trials,
       count(*) FILTER (WHERE inside = capacity) AS alerted_at_capacity,
       min(capacity) AS from_cap, max(capacity) AS to_cap
  FROM mekatek.capacity_alert WHERE room_id LIKE 'trial-%';
SELECT room_id, state, inside, capacity, to_char(at, 'HH24:MI:SS') AS at
  FROM mekatek.capacity_alert WHERE room_id IN ('trial-01', 'trial-15', 'trial-23', 'trial-30')
 ORDER BY alert_id;
INSERT INTO mekatek.visitor_event(camera, room_id, direction, n, seen_at)
SELECT 'cam-t', room_id, 'out', 2, timestamptz '2021-11-21 11:00:00+07' FROM mekatek.room
 WHERE room_id LIKE 'trial-%' ORDER BY room_id;
SELECT state, count(*) FROM mekatek.capacity_alert WHERE room_id LIKE 'trial-%' GROUP BY state ORDER BY state;

-- An "out" with nobody inside is kept and flagged; inside stays at zero.
INSERT INTO mekatek.room VALUES ('teras', 'Teras', 4);
INSERT INTO mekatek.visitor_event(camera, room_id, direction, n, seen_at) VALUES
  ('cam-2', 'teras', 'in', 1, '2021-11-21 12:00:00+07'),
  ('cam-2', 'teras', 'out', 3, '2021-11-21 12:00:05+07');
SELECT direction, n, miscount FROM mekatek.visitor_event WHERE room_id = 'teras' ORDER BY event_no;
SELECT room_id, entered, exited, miscounted, inside FROM mekatek.room_occupancy WHERE room_id = 'teras';
SELECT entered, exited, miscounted, inside FROM mekatek.visitor_minute WHERE room_id = 'teras';

-- A room nobody configured yet is counted all the same (no capacity, no alert).
INSERT INTO mekatek.visitor_event(camera, room_id, direction) VALUES ('cam-9', 'annex', 'in');
SELECT room_id, entered, inside FROM mekatek.room_occupancy WHERE room_id = 'annex';

-- Replays carry the same event_id and change nothing twice.
INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction, seen_at)
VALUES ('cam-2:77', 'cam-2', 'teras', 'in', '2021-11-21 12:01:00+07'),
       ('cam-2:77', 'cam-2', 'teras', 'in', '2021-11-21 12:01:00+07')
ON CONFLICT (event_id) DO NOTHING;
INSERT INTO mekatek.visitor_event(event_id, camera, room_id, direction, seen_at)
VALUES ('cam-2:77', 'cam-2', 'teras', 'in', '2021-11-21 12:01:00+07')
ON CONFLICT (event_id) DO NOTHING;
SELECT entered, inside FROM mekatek.room_occupancy WHERE room_id = 'teras';

-- Bad events are refused with the constraint that says why.
\set VERBOSITY terse
INSERT INTO mekatek.visitor_event(camera, room_id, direction) VALUES ('cam-2', 'teras', 'up');
INSERT INTO mekatek.visitor_event(camera, room_id, direction, n) VALUES ('cam-2', 'teras', 'in', 0);
\set VERBOSITY default

-- Formula (2) on the paper's Tabel 2 (minute 10): counted vs manual.
-- In: 67 vs 78 -> 86 %.  Inside: 58 vs 73 -> 79 %.  Out: 9 vs 5 -> 20 %
-- (the paper prints 66 %, dividing by the counted 9 and then taking
-- 100 - 44 as 66; the formula gives 20).
SELECT what, counted, manual, round(mekatek.count_accuracy(counted, manual)::numeric, 2) AS accuracy
  FROM (VALUES ('masuk', 67, 78), ('keluar', 9, 5), ('di dalam', 58, 73), ('exact', 10, 10)) AS t(what, counted, manual);
SELECT mekatek.count_accuracy(5, 0);
SELECT mekatek.count_accuracy(-1, 5);
SELECT mekatek.count_accuracy(NULL, 5);
