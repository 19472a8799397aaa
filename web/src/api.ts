/**
 * Typed client for the TapMask gateway's HTTP API (see issue 4's table).
 *
 * Every call reads `fetch` / `XMLHttpRequest` from globalThis at call time so
 * tests can stub them; nothing is created at import time.
 */

import type { components, paths } from "./generated/gateway";

/**
 * The wire types are the gateway's own, generated from its OpenAPI document
 * (services/gateway/openapi.json -> src/generated/gateway.ts by openapi-typescript; `npm run
 * gen:api`, checked by `make schemas-check`): a change to an endpoint shows here as a type
 * error, not as a surprise in a browser.
 */
type Schemas = components["schemas"];

export type ProcessingMode = Schemas["ProcessingMode"];
export type Effect = Schemas["Effect"];
export type JobStatus = Schemas["JobStatus"];
export type Stage = "queued" | "downloading" | "tracking" | "rendering" | "uploading" | "done";
export type PresignRequest = Schemas["PresignRequest"];
/** A presigned POST: send `fields` then the file as multipart/form-data to `url`. */
export type PresignResponse = Schemas["PresignResponse"];
export type PresignedPost = PresignResponse;
/** A click on the object, in pixels of the frame as displayed, rotation applied (x right, y down). */
export type ClickPoint = Schemas["ClickPoint"];
export type CreateJobRequest = Schemas["CreateJobRequest"];
/** A job request with its main click (what the page sends once something is clicked). */
export type ClickedJobRequest = CreateJobRequest & { click_x: number; click_y: number };
/** Every face hidden, nothing clicked (the gateway needs no click with auto_faces). */
export type FacesOnlyRequest = CreateJobRequest & { auto_faces: true };
export type CreateJobResponse = Schemas["CreateJobResponse"];
/** GET /api/jobs/{id}. */
export type JobView = Schemas["JobView"];
export type DownloadResponse = Schemas["DownloadView"];
export type UploadLimitsView = Schemas["LimitsView"];
/** GET /api/upload/video: the finished upload as the server sees it (probed). */
export type UploadVideo = Schemas["UploadVideoView"];
/** One frame's tracked outline, low resolution (GET /api/jobs/{id}/previews). */
export type FramePreview = Schemas["FramePreview"];
/** The outline on the frames tracked so far (tapmask_schemas.tracking.TrackPreviews). */
export type TrackPreviews = Schemas["TrackPreviews"];
/** What the owner asked of the tracker (tapmask_schemas.tracking.TrackHold). */
export type TrackHold = Schemas["TrackHold"];
export type MaskPoint = Schemas["PreviewPoint"];

/** A gateway path as its OpenAPI document names it (a path it lacks does not compile). */
type Path = keyof paths;
/** The JSON a path's method answers with 200/201, as the gateway declares it. */
type Answer<P extends Path, M extends keyof paths[P]> = paths[P][M] extends {
  responses: { [code in 200 | 201]?: { content: { "application/json": infer T } } };
}
  ? T
  : never;

/** `template` with its `{name}` parts filled in (each encoded). */
function at<P extends Path>(template: P, params: Record<string, string> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ""));
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
  return requestJson<Answer<"/api/upload/presigned", "post">>(
    at("/api/upload/presigned"),
    { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(body) },
    "Upload could not start",
  );
}

export function createJob(request: CreateJobRequest | FacesOnlyRequest): Promise<CreateJobResponse> {
  return requestJson<Answer<"/api/jobs", "post">>(
    at("/api/jobs"),
    { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(request) },
    "The job could not start",
  );
}

export function getJob(jobId: string, token: string): Promise<JobView> {
  return requestJson<Answer<"/api/jobs/{job_id}", "get">>(
    at("/api/jobs/{job_id}", { job_id: jobId }),
    { headers: { Accept: "application/json", ...bearer(token) } },
    "Job status unavailable",
  );
}

export function getDownloadUrl(jobId: string, token: string): Promise<DownloadResponse> {
  return requestJson<Answer<"/api/jobs/{job_id}/download", "get">>(
    at("/api/jobs/{job_id}/download", { job_id: jobId }),
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

export function getUploadLimits(): Promise<UploadLimitsView> {
  return requestJson<Answer<"/api/upload/limits", "get">>(at("/api/upload/limits"), { headers: { Accept: "application/json" } }, "Limits unavailable");
}

export function getUploadVideo(key: string): Promise<UploadVideo> {
  return requestJson<Answer<"/api/upload/video", "get">>(
    `${at("/api/upload/video")}?key=${encodeURIComponent(key)}`,
    { headers: { Accept: "application/json" } },
    "The video could not be read",
  );
}

/** A frame of the upload as a JPEG, decoded by the server (so AVI and HEVC work too). */
export function frameUrl(key: string, index: number): string {
  return `${at("/api/upload/frame")}?key=${encodeURIComponent(key)}&index=${index}`;
}

/** The mask the clicks of one object give on `frame`: a grey PNG (255 = the object). */
export async function fetchMask(key: string, frame: number, points: MaskPoint[], signal?: AbortSignal): Promise<Blob> {
  let response: Response;
  try {
    response = await globalThis.fetch(at("/api/upload/mask"), {
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
  return requestJson<Answer<"/api/jobs/{job_id}/original", "get">>(
    at("/api/jobs/{job_id}/original", { job_id: jobId }),
    { headers: { Accept: "application/json", ...bearer(token) } },
    "The original video is unavailable",
  );
}

/** POST /api/jobs/{id}/render: the same masks with another mode or effect (no tracking again). */
export function renderAgain(jobId: string, token: string, mode: ProcessingMode, effect: Effect): Promise<CreateJobResponse> {
  return requestJson<Answer<"/api/jobs/{job_id}/render", "post">>(
    at("/api/jobs/{job_id}/render", { job_id: jobId }),
    {
      method: "POST",
      headers: { ...JSON_HEADERS, ...bearer(token) },
      body: JSON.stringify({ processing_mode: mode, ...(mode === "privacy" ? { effect } : {}) }),
    },
    "Rendering again could not start",
  );
}

/** POST /api/jobs/{id}/rerun: track again on the same video with corrected clicks. */
export function rerunJob(jobId: string, token: string, request: ClickedJobRequest): Promise<CreateJobResponse> {
  const points: ClickPoint[] = [
    { x: request.click_x, y: request.click_y, frame: request.frame ?? 0, positive: true, object_id: 0 },
    ...(request.points ?? []),
  ];
  return requestJson<Answer<"/api/jobs/{job_id}/rerun", "post">>(
    at("/api/jobs/{job_id}/rerun", { job_id: jobId }),
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
  return requestJson<Answer<"/api/jobs/{job_id}/cancel", "post">>(
    at("/api/jobs/{job_id}/cancel", { job_id: jobId }),
    { method: "POST", headers: { Accept: "application/json", ...bearer(token) } },
    "The job could not be cancelled",
  );
}

export function getPreviews(jobId: string, token: string, signal?: AbortSignal): Promise<TrackPreviews> {
  return requestJson<Answer<"/api/jobs/{job_id}/previews", "get">>(
    at("/api/jobs/{job_id}/previews", { job_id: jobId }),
    { headers: { Accept: "application/json", ...bearer(token) }, signal },
    "The outline so far is unavailable",
  );
}

export function getHold(jobId: string, token: string): Promise<TrackHold> {
  return requestJson<Answer<"/api/jobs/{job_id}/hold", "get">>(
    at("/api/jobs/{job_id}/hold", { job_id: jobId }),
    { headers: { Accept: "application/json", ...bearer(token) } },
    "The job's pause state is unavailable",
  );
}

/** Stop tracking at the next frame, or (`atEnd`) wait before rendering until accepted. */
export function pauseJob(jobId: string, token: string, atEnd = false): Promise<TrackHold> {
  return requestJson<Answer<"/api/jobs/{job_id}/pause", "post">>(
    at("/api/jobs/{job_id}/pause", { job_id: jobId }),
    { method: "POST", headers: { ...JSON_HEADERS, ...bearer(token) }, body: JSON.stringify({ at_end: atEnd }) },
    "The job could not be paused",
  );
}

/** Go on; with `points`, track again with them; with `accept`, render now. */
export function resumeJob(jobId: string, token: string, body: { points?: ClickPoint[]; accept?: boolean }): Promise<TrackHold> {
  return requestJson<Answer<"/api/jobs/{job_id}/resume", "post">>(
    at("/api/jobs/{job_id}/resume", { job_id: jobId }),
    { method: "POST", headers: { ...JSON_HEADERS, ...bearer(token) }, body: JSON.stringify(body) },
    "The job could not go on",
  );
}
