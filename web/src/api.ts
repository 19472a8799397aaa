/**
 * Typed client for the TapMask gateway's HTTP API (see issue 4's table).
 *
 * Every call reads `fetch` / `XMLHttpRequest` from globalThis at call time so
 * tests can stub them; nothing is created at import time.
 */

export type ProcessingMode = "privacy" | "magic_eraser";
export type Effect = "blur" | "pixelate" | "fill";
export type JobStatus = "pending" | "processing" | "completed" | "failed" | "expired" | "cancelled";
export type Stage = "queued" | "downloading" | "tracking" | "rendering" | "uploading" | "done";

export interface PresignRequest {
  filename: string;
  content_type: string;
  size: number;
}

interface PresignBase {
  upload_key: string;
  expires_in: number;
}

/** A presigned POST: send `fields` then the file as multipart/form-data to `url`. */
export interface PresignedPost extends PresignBase {
  url: string;
  fields: Record<string, string>;
}

/** The gateway presigns POSTs only: their policy pins the exact size, which a PUT cannot. */
export type PresignResponse = PresignedPost;

/** A click on the object, in pixels of the frame as displayed, rotation applied (x right, y down). */
export interface ClickPoint {
  x: number;
  y: number;
  frame?: number;
  /** False marks a spot that is NOT the object. */
  positive?: boolean;
  object_id?: number;
}

export interface CreateJobRequest {
  upload_key: string;
  click_x: number;
  click_y: number;
  frame?: number;
  points?: ClickPoint[];
  processing_mode: ProcessingMode;
  effect?: Effect;
  /** Also find and hide every face, with no click (privacy mode). */
  auto_faces?: boolean;
}

/** Every face hidden, nothing clicked (the gateway needs no click with auto_faces). */
export interface FacesOnlyRequest {
  upload_key: string;
  processing_mode: "privacy";
  effect?: Effect;
  auto_faces: true;
}

export interface CreateJobResponse {
  job_id: string;
  status: JobStatus;
  access_token: string;
  /** Server-Sent Events of the job; the gateway includes `?token=`. */
  events_url: string;
  status_url?: string;
}

/** GET /api/jobs/{id}: only the fields the page reads are typed; others pass through. */
export interface JobView {
  job_id?: string;
  status: JobStatus;
  stage?: Stage | string | null;
  percent?: number | null;
  error?: string | null;
  download_url?: string | null;
  [extra: string]: unknown;
}

export interface DownloadResponse {
  /** Presigned GET of the result video. */
  url: string;
  expires_in?: number;
}

/** Litestar's error body. `extra` holds validation details when there are any. */
export interface LitestarErrorBody {
  status_code: number;
  detail: string;
  extra?: unknown;
}

/** An HTTP call that failed, with a message meant for the user. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(status: number, message: string, body: unknown = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

const CONTENT_TYPES: Record<string, string> = {
  mp4: "video/mp4",
  m4v: "video/mp4",
  mov: "video/quicktime",
  webm: "video/webm",
  mkv: "video/x-matroska",
  avi: "video/x-msvideo",
};

/** The file's MIME type, guessed from its extension when the browser gives none. */
export function guessContentType(file: { name: string; type: string }): string {
  if (file.type) return file.type;
  const ext = file.name.split(".").pop()?.toLowerCase() ?? "";
  return CONTENT_TYPES[ext] ?? "application/octet-stream";
}

function describeExtra(extra: unknown): string {
  if (Array.isArray(extra)) {
    // Litestar's validation errors: [{message, key, source}, ...]
    return extra
      .map((e) => {
        if (e && typeof e === "object") {
          const { message, key } = e as { message?: unknown; key?: unknown };
          if (typeof message === "string") return typeof key === "string" && key ? `${key}: ${message}` : message;
        }
        return typeof e === "string" ? e : "";
      })
      .filter(Boolean)
      .join("; ");
  }
  if (extra && typeof extra === "object") {
    return Object.entries(extra as Record<string, unknown>)
      .filter(([, v]) => typeof v === "string" || typeof v === "number")
      .map(([k, v]) => `${k}: ${String(v)}`)
      .join("; ");
  }
  return "";
}

/** A readable message for a failed response body (Litestar JSON, S3 XML or plain text). */
export function errorMessage(status: number, bodyText: string, fallback = "Request failed"): string {
  const text = bodyText.trim();
  if (text.startsWith("{")) {
    try {
      const body = JSON.parse(text) as Partial<LitestarErrorBody>;
      if (typeof body.detail === "string" && body.detail) {
        const extra = describeExtra(body.extra);
        return extra && !body.detail.includes(extra) ? `${body.detail} (${extra})` : body.detail;
      }
    } catch {
      // not JSON after all: fall through to the text handling below
    }
  }
  if (text.startsWith("<")) {
    // S3 answers uploads with XML: <Error><Code>EntityTooLarge</Code><Message>...</Message></Error>
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
    const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
    if (code || message) return [code, message].filter(Boolean).join(": ");
  }
  if (text && text.length <= 300 && !text.startsWith("<")) return `${fallback} (${status}): ${text}`;
  return `${fallback} (HTTP ${status})`;
}

async function requestJson<T>(path: string, init: RequestInit, what: string): Promise<T> {
  let response: Response;
  try {
    response = await globalThis.fetch(path, init);
  } catch (err) {
    throw new ApiError(0, `${what}: the server could not be reached (${(err as Error).message})`);
  }
  const text = await response.text();
  if (!response.ok) {
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // keep the raw text
    }
    throw new ApiError(response.status, errorMessage(response.status, text, what), body);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(response.status, `${what}: the server sent an unreadable answer`);
  }
}

function bearer(token: string): Record<string, string> {
  return { Authorization: `Bearer ${token}` };
}

const JSON_HEADERS = { "Content-Type": "application/json", Accept: "application/json" };

/** Ask the gateway where to upload `file`. */
export function presignUpload(file: { name: string; type: string; size: number }): Promise<PresignResponse> {
  const body: PresignRequest = { filename: file.name, content_type: guessContentType(file), size: file.size };
  return requestJson<PresignResponse>(
    "/api/upload/presigned",
    { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(body) },
    "Upload could not start",
  );
}

export function createJob(request: CreateJobRequest | FacesOnlyRequest): Promise<CreateJobResponse> {
  return requestJson<CreateJobResponse>(
    "/api/jobs",
    { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(request) },
    "The job could not start",
  );
}

export function getJob(jobId: string, token: string): Promise<JobView> {
  return requestJson<JobView>(
    `/api/jobs/${encodeURIComponent(jobId)}`,
    { headers: { Accept: "application/json", ...bearer(token) } },
    "Job status unavailable",
  );
}

export function getDownloadUrl(jobId: string, token: string): Promise<DownloadResponse> {
  return requestJson<DownloadResponse>(
    `/api/jobs/${encodeURIComponent(jobId)}/download`,
    { headers: { Accept: "application/json", ...bearer(token) } },
    "Download unavailable",
  );
}

/**
 * EventSource cannot send headers, so the token rides in the query string.
 * The gateway's events_url already carries it; a second `token` would make the
 * query ambiguous, so it is added only when missing.
 */
export function eventsUrlWithToken(eventsUrl: string, token: string): string {
  if (/[?&]token=/.test(eventsUrl)) return eventsUrl;
  const sep = eventsUrl.includes("?") ? "&" : "?";
  return `${eventsUrl}${sep}token=${encodeURIComponent(token)}`;
}

export interface UploadHandle {
  done: Promise<void>;
  abort: () => void;
}

/**
 * Upload `file` where the presign says, reporting progress as a fraction 0..1.
 * XMLHttpRequest rather than fetch: only it reports upload progress.
 */
export function uploadFile(
  presign: PresignResponse,
  file: Blob,
  onProgress: (fraction: number) => void,
): UploadHandle {
  const xhr = new globalThis.XMLHttpRequest();
  const done = new Promise<void>((resolve, reject) => {
    xhr.upload.onprogress = (e: ProgressEvent) => {
      if (e.lengthComputable && e.total > 0) onProgress(Math.min(1, e.loaded / e.total));
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else {
        reject(new ApiError(xhr.status, errorMessage(xhr.status, xhr.responseText ?? "", "Upload failed")));
      }
    };
    xhr.onerror = () => reject(
        new ApiError(0, "Upload failed: the storage server could not be reached (or it refused this page's origin: CORS)"),
      );
    xhr.onabort = () => reject(new ApiError(0, "Upload cancelled"));

    const form = new FormData();
    for (const [name, value] of Object.entries(presign.fields)) form.append(name, value);
    // S3 ignores any form field after the file, so the file goes last.
    form.append("file", file);
    xhr.open("POST", presign.url);
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

/** GET /api/upload/limits: what an upload may be, to say before a file is chosen. */
export interface UploadLimitsView {
  max_upload_bytes: number;
  max_duration_s: number;
  formats: string[];
}

export function getUploadLimits(): Promise<UploadLimitsView> {
  return requestJson<UploadLimitsView>("/api/upload/limits", { headers: { Accept: "application/json" } }, "Limits unavailable");
}

/** GET /api/upload/video: the finished upload as the server sees it (probed). */
export interface UploadVideo {
  upload_key: string;
  display_width: number;
  display_height: number;
  frame_count: number;
  fps: number | null;
  duration_s: number;
  has_audio: boolean;
  codec: string;
  format: string;
}

export function getUploadVideo(key: string): Promise<UploadVideo> {
  return requestJson<UploadVideo>(
    `/api/upload/video?key=${encodeURIComponent(key)}`,
    { headers: { Accept: "application/json" } },
    "The video could not be read",
  );
}

/** A frame of the upload as a JPEG, decoded by the server (so AVI and HEVC work too). */
export function frameUrl(key: string, index: number): string {
  return `/api/upload/frame?key=${encodeURIComponent(key)}&index=${index}`;
}

export interface MaskPoint {
  x: number;
  y: number;
  positive: boolean;
}

/** The mask the clicks of one object give on `frame`: a grey PNG (255 = the object). */
export async function fetchMask(key: string, frame: number, points: MaskPoint[], signal?: AbortSignal): Promise<Blob> {
  let response: Response;
  try {
    response = await globalThis.fetch("/api/upload/mask", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "image/png" },
      body: JSON.stringify({ upload_key: key, frame, points }),
      signal,
    });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new ApiError(0, `The mask preview is unavailable: the server could not be reached`);
  }
  if (!response.ok) {
    const text = await response.text();
    throw new ApiError(response.status, errorMessage(response.status, text, "The mask preview failed"));
  }
  return response.blob();
}

/** GET /api/jobs/{id}/original: the job's input video, for before/after after a reload. */
export function getOriginalUrl(jobId: string, token: string): Promise<DownloadResponse> {
  return requestJson<DownloadResponse>(
    `/api/jobs/${encodeURIComponent(jobId)}/original`,
    { headers: { Accept: "application/json", ...bearer(token) } },
    "The original video is unavailable",
  );
}

/** POST /api/jobs/{id}/render: the same masks with another mode or effect (no tracking again). */
export function renderAgain(jobId: string, token: string, mode: ProcessingMode, effect: Effect): Promise<CreateJobResponse> {
  return requestJson<CreateJobResponse>(
    `/api/jobs/${encodeURIComponent(jobId)}/render`,
    {
      method: "POST",
      headers: { ...JSON_HEADERS, ...bearer(token) },
      body: JSON.stringify({ processing_mode: mode, ...(mode === "privacy" ? { effect } : {}) }),
    },
    "Rendering again could not start",
  );
}

/** POST /api/jobs/{id}/rerun: track again on the same video with corrected clicks. */
export function rerunJob(jobId: string, token: string, request: CreateJobRequest): Promise<CreateJobResponse> {
  const points: ClickPoint[] = [
    { x: request.click_x, y: request.click_y, frame: request.frame ?? 0, positive: true, object_id: 0 },
    ...(request.points ?? []),
  ];
  return requestJson<CreateJobResponse>(
    `/api/jobs/${encodeURIComponent(jobId)}/rerun`,
    {
      method: "POST",
      headers: { ...JSON_HEADERS, ...bearer(token) },
      body: JSON.stringify({
        points,
        processing_mode: request.processing_mode,
        ...(request.effect ? { effect: request.effect } : {}),
        ...(request.auto_faces ? { auto_faces: true } : {}),
      }),
    },
    "The new run could not start",
  );
}

/** POST /api/jobs/{id}/cancel: the job ends as cancelled and its workers stop. */
export function cancelJob(jobId: string, token: string): Promise<{ job_id: string; status: JobStatus }> {
  return requestJson<{ job_id: string; status: JobStatus }>(
    `/api/jobs/${encodeURIComponent(jobId)}/cancel`,
    { method: "POST", headers: { Accept: "application/json", ...bearer(token) } },
    "The job could not be cancelled",
  );
}

/** One frame's tracked outline, low resolution (GET /api/jobs/{id}/previews). */
export interface FramePreview {
  frame: number;
  /** base64 grey PNG, 255 = the object, displayed orientation. */
  png: string;
  area: number;
}

/** The outline on the frames tracked so far (tapmask_schemas.tracking.TrackPreviews). */
export interface TrackPreviews {
  revision: number;
  frames_done: number;
  frame_count: number;
  step: number;
  done: boolean;
  paused_at: number | null;
  unsure: number[];
  previews: FramePreview[];
}

/** What the owner asked of the tracker (tapmask_schemas.tracking.TrackHold). */
export interface TrackHold {
  paused: boolean;
  at_end: boolean;
  points: ClickPoint[] | null;
  revision: number;
}

export function getPreviews(jobId: string, token: string, signal?: AbortSignal): Promise<TrackPreviews> {
  return requestJson<TrackPreviews>(
    `/api/jobs/${encodeURIComponent(jobId)}/previews`,
    { headers: { Accept: "application/json", ...bearer(token) }, signal },
    "The outline so far is unavailable",
  );
}

export function getHold(jobId: string, token: string): Promise<TrackHold> {
  return requestJson<TrackHold>(
    `/api/jobs/${encodeURIComponent(jobId)}/hold`,
    { headers: { Accept: "application/json", ...bearer(token) } },
    "The job's pause state is unavailable",
  );
}

/** Stop tracking at the next frame, or (`atEnd`) wait before rendering until accepted. */
export function pauseJob(jobId: string, token: string, atEnd = false): Promise<TrackHold> {
  return requestJson<TrackHold>(
    `/api/jobs/${encodeURIComponent(jobId)}/pause`,
    { method: "POST", headers: { ...JSON_HEADERS, ...bearer(token) }, body: JSON.stringify({ at_end: atEnd }) },
    "The job could not be paused",
  );
}

/** Go on; with `points`, track again with them; with `accept`, render now. */
export function resumeJob(jobId: string, token: string, body: { points?: ClickPoint[]; accept?: boolean }): Promise<TrackHold> {
  return requestJson<TrackHold>(
    `/api/jobs/${encodeURIComponent(jobId)}/resume`,
    { method: "POST", headers: { ...JSON_HEADERS, ...bearer(token) }, body: JSON.stringify(body) },
    "The job could not go on",
  );
}
