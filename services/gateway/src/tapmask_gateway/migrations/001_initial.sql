-- Jobs, quotas, API keys, the transactional outbox and event dedupe.

CREATE TABLE IF NOT EXISTS api_keys (
    id                  uuid PRIMARY KEY,
    key_hash            text NOT NULL UNIQUE,          -- sha256 hex of the key; the key itself is never stored
    name                text NOT NULL,
    tier                text NOT NULL DEFAULT 'pro',
    videos_per_month    integer,                        -- NULL: the configured pro default
    created_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at          timestamptz
);

-- What was presigned, so a job can only use an upload this server handed out, once,
-- with exactly the size that was announced.
CREATE TABLE IF NOT EXISTS uploads (
    key                 text PRIMARY KEY,
    content_type        text NOT NULL,
    size_bytes          bigint NOT NULL,
    subject             text NOT NULL,                  -- client ip or api key the upload was presigned for
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,           -- when the object is deleted if no job used it
    job_id              uuid
);
CREATE INDEX IF NOT EXISTS uploads_unused_expiry ON uploads (expires_at) WHERE job_id IS NULL;

CREATE TABLE IF NOT EXISTS jobs (
    id                  uuid PRIMARY KEY,
    access_token_hash   text NOT NULL,
    status              text NOT NULL,
    stage               text NOT NULL,
    percent             double precision NOT NULL DEFAULT 0,
    mode                text NOT NULL,
    effect              text NOT NULL,
    points              jsonb NOT NULL,
    upload_key          text NOT NULL,
    masks_key           text,
    output_key          text,
    output_size         bigint,
    error               text,
    video               jsonb NOT NULL,
    client_ip           text NOT NULL,
    api_key_id          uuid REFERENCES api_keys (id),
    tier                text NOT NULL,
    stage_started       jsonb NOT NULL DEFAULT '{}'::jsonb,  -- stage -> first time seen
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    expires_at          timestamptz NOT NULL,
    last_event_at       timestamptz
);
CREATE INDEX IF NOT EXISTS jobs_expiry ON jobs (expires_at) WHERE status <> 'expired';
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);

CREATE TABLE IF NOT EXISTS usage_tracking (
    subject             text NOT NULL,                  -- 'ip:1.2.3.4' or 'key:<uuid>'
    month               date NOT NULL,
    videos              integer NOT NULL DEFAULT 0,
    PRIMARY KEY (subject, month)
);

CREATE TABLE IF NOT EXISTS outbox (
    id                  bigserial PRIMARY KEY,
    topic               text NOT NULL,
    key                 bytea NOT NULL,
    payload             jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

CREATE TABLE IF NOT EXISTS processed_events (
    event_id            uuid PRIMARY KEY,
    job_id              uuid NOT NULL,
    processed_at        timestamptz NOT NULL DEFAULT now()
);
