-- Issue 14 §1: rejects that spill from work_mem to a temporary file and
-- are written back in more than one batch of 1000.  This crashed the
-- backend (signal 11): the slot still owned a tuple read into the batch
-- context when that context was reset.
SET work_mem = '64kB';
SELECT * FROM mekatek.fw_load(repeat(E'x\n', 3000));
SELECT count(*) AS rejects, count(DISTINCT line_no) AS distinct_lines,
       min(line_no), max(line_no)
FROM mekatek.fw_reject WHERE source IS NULL;
-- Past three batches and a partial fourth, with longer lines.
SELECT * FROM mekatek.fw_load(repeat(E'garbage line\n', 3500));
SELECT count(*) FROM mekatek.fw_reject WHERE source IS NULL;
RESET work_mem;
TRUNCATE mekatek.fw_reject;
