-- Counting a client's recent unused uploads (the presign cap) without scanning the table.
CREATE INDEX IF NOT EXISTS uploads_subject_created ON uploads (subject, created_at)
    WHERE job_id IS NULL;
