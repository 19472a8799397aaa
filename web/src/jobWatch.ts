/**
 * Follow a job: Server-Sent Events from the notifier, falling back to polling
 * GET /api/jobs/{id} when the event stream keeps failing (e.g. the notifier is down).
 */

import { ApiError, eventsUrlWithToken, getDownloadUrl, getJob } from "./api";
import { fromJobView, isFinal, parseEventData, type Progress } from "./progress";

/** Event names the notifier might use; unnamed events arrive as "message". */
const EVENT_NAMES = ["message", "progress", "job-progress", "video-ready", "job-failed", "completed", "failed"];

/** After this many stream errors in a row without an event, poll instead. */
const MAX_STREAM_ERRORS = 3;

export interface WatchOptions {
  pollIntervalMs?: number;
}

export interface JobRef {
  jobId: string;
  token: string;
  eventsUrl: string;
}

/** Calls `onUpdate` for each update until a final status; returns a function that stops watching. */
export function watchJob(
  job: JobRef,
  onUpdate: (update: Partial<Progress>) => void,
  onError: (message: string) => void,
  options: WatchOptions = {},
): () => void {
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  let stopped = false;
  let source: EventSource | null = null;
  let pollTimer: ReturnType<typeof setTimeout> | null = null;
  let errors = 0;

  const stop = () => {
    stopped = true;
    source?.close();
    source = null;
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
  };

  const deliver = (update: Partial<Progress>) => {
    if (stopped) return;
    onUpdate(update);
    if (update.status && isFinal(update.status)) stop();
  };

  const poll = async () => {
    pollTimer = null;
    if (stopped) return;
    try {
      deliver(fromJobView(await getJob(job.jobId, job.token)));
    } catch (err) {
      const e = err as ApiError;
      // A 4xx will not get better by asking again (unknown job, bad token).
      if (e.status >= 400 && e.status < 500) {
        onError(e.message);
        stop();
        return;
      }
    }
    if (!stopped) pollTimer = setTimeout(() => void poll(), pollIntervalMs);
  };

  const es = new globalThis.EventSource(eventsUrlWithToken(job.eventsUrl, job.token));
  source = es;
  const onMessage = (ev: MessageEvent<string>) => {
    const update = parseEventData(ev.data);
    if (!update) return;
    errors = 0;
    deliver(update);
  };
  for (const name of EVENT_NAMES) es.addEventListener(name, onMessage as EventListener);
  es.onerror = () => {
    if (stopped) return;
    errors += 1;
    // CLOSED: the browser gave up (e.g. the answer was not an event stream), it won't retry.
    if (es.readyState === 2 || errors >= MAX_STREAM_ERRORS) {
      es.close();
      source = null;
      if (pollTimer === null) void poll();
    }
  };

  return stop;
}

export interface DownloadRetry {
  /** Tries while the gateway answers 409. */
  attempts?: number;
  /** Tries while the gateway cannot be reached (the connection dropped as the job finished). */
  networkAttempts?: number;
  delayMs?: number;
}

/**
 * The result's URL once the gateway agrees the job is completed. The notifier
 * can announce `completed` a moment before the gateway's own projection of the
 * job does, and until then the gateway answers 409: so a 409 is retried a few times.
 * A dropped connection is waited out longer (about two minutes).
 */
export async function waitForDownloadUrl(job: Pick<JobRef, "jobId" | "token">, retry: DownloadRetry = {}): Promise<string> {
  const attempts = retry.attempts ?? 8;
  const networkAttempts = retry.networkAttempts ?? 45;
  const delayMs = retry.delayMs ?? 750;
  let conflicts = 0;
  let unreachable = 0;
  for (;;) {
    try {
      return (await getDownloadUrl(job.jobId, job.token)).url;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 409) conflicts += 1;
      else if (err.status === 0) unreachable += 1;
      else throw err;
      if (conflicts >= attempts || unreachable >= networkAttempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, delayMs * Math.min(conflicts + unreachable, 4)));
    }
  }
}
