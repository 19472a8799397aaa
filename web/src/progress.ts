/** A job's progress as the page shows it, built from the notifier's SSE events. */

import type { JobStatus, JobView, Stage } from "./api";

export interface Progress {
  status: JobStatus;
  stage: Stage | string;
  /** Of the whole job, 0..100. */
  percent: number;
  message: string;
  etaSeconds: number | null;
  /** Why the job failed, for the user. */
  reason: string | null;
}

export const INITIAL_PROGRESS: Progress = {
  status: "pending",
  stage: "queued",
  percent: 0,
  message: "",
  etaSeconds: null,
  reason: null,
};

const STAGE_LABELS: Record<string, string> = {
  queued: "Waiting in line",
  downloading: "Fetching your video",
  tracking: "Following the object through the video",
  rendering: "Hiding the object in every frame",
  uploading: "Saving the result",
  done: "Done",
};

/**
 * The stage in words. Erasing says so (not "hiding"); the renderer fetching the video again
 * once the tracker is done (from 30 % on) is "getting ready to render", not the first step.
 */
export function stageLabel(stage: string, mode?: string, percent = 0): string {
  if (stage === "rendering" && mode === "magic_eraser") return "Erasing the object in every frame";
  if (stage === "downloading" && percent >= 25) return "Getting ready to render";
  return STAGE_LABELS[stage] ?? stage.replace(/[-_]/g, " ");
}

export function isFinal(status: JobStatus): boolean {
  return status === "completed" || status === "failed" || status === "expired" || status === "cancelled";
}

const STATUSES: readonly string[] = ["pending", "processing", "completed", "failed", "expired", "cancelled"];

function num(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

function str(value: unknown): string | null {
  return typeof value === "string" && value ? value : null;
}

/**
 * Read one SSE `data:` payload. Tolerant: the status may be missing on
 * video-ready / job-failed events, so it is inferred from `event_type`.
 * Returns null for anything that is not a JSON object.
 */
export function parseEventData(data: string): Partial<Progress> | null {
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return null;
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) return null;
  const e = raw as Record<string, unknown>;
  const out: Partial<Progress> = {};
  let status = str(e.status);
  if (!status || !STATUSES.includes(status)) {
    if (e.event_type === "video-ready") status = "completed";
    else if (e.event_type === "job-failed") status = "failed";
    else status = null;
  }
  if (status) out.status = status as JobStatus;
  const stage = str(e.stage);
  if (stage) out.stage = stage;
  const percent = num(e.percent);
  if (percent !== null) out.percent = percent;
  const message = str(e.message);
  if (message) out.message = message;
  const eta = num(e.eta_seconds);
  if (eta !== null || e.eta_seconds === null) out.etaSeconds = eta;
  const reason = str(e.reason) ?? str(e.error);
  if (reason) out.reason = reason;
  return out;
}

/** GET /api/jobs/{id} as a progress update (the fallback when SSE is unavailable). */
export function fromJobView(job: Pick<JobView, "status"> & Partial<JobView>): Partial<Progress> {
  const out: Partial<Progress> = { status: job.status };
  if (job.stage) out.stage = job.stage;
  const percent = num(job.percent);
  if (percent !== null) out.percent = percent;
  const reason = str(job.error);
  if (reason) out.reason = reason;
  return out;
}

/**
 * Fold an update into the current progress. A final state is never left, and
 * the bar never moves backwards (a redelivered, older event must not make it jump).
 */
export function mergeProgress(current: Progress, update: Partial<Progress>): Progress {
  if (isFinal(current.status)) return current;
  const status = update.status ?? current.status;
  let percent = Math.max(0, Math.min(100, update.percent ?? current.percent));
  percent = Math.max(percent, current.percent);
  if (status === "completed") percent = 100;
  return {
    status,
    stage: status === "completed" ? "done" : (update.stage ?? current.stage),
    percent,
    message: update.message ?? (update.stage && update.stage !== current.stage ? "" : current.message),
    etaSeconds: isFinal(status) ? null : update.etaSeconds !== undefined ? update.etaSeconds : current.etaSeconds,
    reason: update.reason ?? current.reason,
  };
}

/** "about 1 min 20 s" style remaining time; empty when unknown. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return "";
  const s = Math.round(seconds);
  if (s < 5) return "a few seconds left";
  if (s < 60) return `about ${s} s left`;
  const minutes = Math.floor(s / 60);
  if (minutes >= 60) {
    const hours = Math.floor(minutes / 60);
    return `about ${hours} h ${minutes % 60} min left`;
  }
  const rest = s % 60;
  return rest ? `about ${minutes} min ${rest} s left` : `about ${minutes} min left`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
