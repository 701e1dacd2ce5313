-- Operating the queue. Dead-letter listings and exports page through the table newest
-- first by (failed_at, id): one index serves the order and the keyset cursor. A review
-- keeps when it happened.
DROP INDEX dead_letter_jobs_failed;
CREATE INDEX dead_letter_jobs_failed ON dead_letter_jobs (failed_at, id);
ALTER TABLE dead_letter_jobs ADD COLUMN reviewed_at BIGINT;
