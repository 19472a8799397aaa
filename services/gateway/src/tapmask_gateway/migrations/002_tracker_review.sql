-- What masks-ready says about a job's masks: the tracker that made them and the frame
-- ranges a person should check. NULL until the masks are ready (and for older jobs).

ALTER TABLE jobs ADD COLUMN IF NOT EXISTS tracker_backend text;
ALTER TABLE jobs ADD COLUMN IF NOT EXISTS review jsonb;  -- [{start_frame, end_frame, reason}]
