/**
 * The live tracking view's state: the outline on the frames tracked so far, fetched from
 * GET /api/jobs/{id}/previews while the job tracks, and what the page asked of the tracker
 * (pause, wait before rendering). Pure helpers here; the hook polls.
 */

import { useEffect, useRef, useState } from "react";
import { getHold, getPreviews, type TrackHold, type TrackPreviews } from "./api";
import { pngBlob, tint, TRACKED_ALPHA } from "./tint";

export interface Tracked {
  revision: number;
  step: number;
  framesDone: number;
  frameCount: number;
  done: boolean;
  pausedAt: number | null;
  unsure: number[];
  /** Once tracking is done: the frames the tracker itself was unsure of (as the job lists them). */
  review: { start: number; end: number }[];
  /** Frame -> the tracker's outline there, tinted. */
  outlines: Map<number, HTMLCanvasElement>;
}

/** Where the tracker is: what the live view says about it, in words. */
export type LiveState = "starting" | "tracking" | "paused" | "ready" | "accepted";

export function trackingState(
  previews: Pick<TrackPreviews, "done" | "paused_at" | "frames_done" | "frame_count"> | null,
  hold: TrackHold | null,
): LiveState {
  if (!previews || previews.frames_done === 0) return hold?.paused ? "paused" : "starting";
  if (previews.done) return hold && (hold.at_end || hold.paused) ? "ready" : "accepted";
  return previews.paused_at !== null ? "paused" : "tracking";
}

/** What the live view says about `frame`'s outline. */
export function frameNote(tracked: Tracked | null, frame: number): string {
  if (!tracked || tracked.framesDone === 0) return "The outline appears here as the tracker follows the object.";
  if (tracked.outlines.has(frame)) return `The tracker's outline on frame ${frame + 1}.`;
  if (frame >= tracked.framesDone) return `The tracker has not reached frame ${frame + 1} yet (it is at frame ${tracked.framesDone}).`;
  const before = frame - (frame % tracked.step);
  const after = Math.min(before + tracked.step, tracked.frameCount - 1);
  return `The tracker's outline is shown every ${tracked.step}th frame: see frame ${before + 1} or ${after + 1}.`;
}

/** Polls the previews every `intervalMs` while `active`; decodes each outline once. */
export function useTracking(jobId: string | null, token: string | null, active: boolean, colour: string, intervalMs = 1000) {
  const [tracked, setTracked] = useState<Tracked | null>(null);
  const [previews, setPreviews] = useState<TrackPreviews | null>(null);
  const [hold, setHold] = useState<TrackHold | null>(null);
  const cache = useRef(new Map<string, HTMLCanvasElement>());

  useEffect(() => {
    setTracked(null);
    setPreviews(null);
    setHold(null);
    cache.current = new Map();
    if (!jobId || !token) return;
    getHold(jobId, token).then(setHold).catch(() => undefined);
  }, [jobId, token]);

  useEffect(() => {
    if (!jobId || !token || !active) return;
    let stopped = false;
    let controller: AbortController | null = null;
    const poll = async () => {
      controller = new AbortController();
      try {
        const got = await getPreviews(jobId, token, controller.signal);
        if (stopped) return;
        const outlines = new Map<number, HTMLCanvasElement>();
        for (const p of got.previews ?? []) {
          const key = `${got.revision}:${p.frame}:${colour}`;
          let image = cache.current.get(key);
          if (!image) {
            image = (await tint(pngBlob(p.png), colour, TRACKED_ALPHA)).canvas;
            cache.current.set(key, image);
          }
          outlines.set(p.frame, image);
        }
        if (stopped) return;
        setPreviews(got);
        setTracked({
          revision: got.revision ?? 0,
          step: got.step,
          framesDone: got.frames_done,
          frameCount: got.frame_count,
          done: got.done ?? false,
          pausedAt: got.paused_at ?? null,
          unsure: got.unsure ?? [],
          review: (got.review ?? []).map((r) => ({ start: r.start_frame, end: r.end_frame })),
          outlines,
        });
      } catch {
        // the next poll asks again; the progress bar says how the job is doing
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), intervalMs);
    return () => {
      stopped = true;
      clearInterval(timer);
      controller?.abort();
    };
  }, [jobId, token, active, colour, intervalMs]);

  return { tracked, previews, hold, setHold };
}

/**
 * Whether the clicked frame's outline looks like part of the object: on the tracked frames
 * near it (within `near` frames, the clicked one left out) the outline is clearly larger.
 * The tracker segments the object again as it goes (the learned one on keyframes), so a
 * click that took only the dog's back shows as a smaller outline there than a few frames
 * on, where the head is taken too. Returns the frame to look at, or null.
 */
export function partialHint(
  previews: { frame: number; area: number }[],
  clickFrame: number,
  near = 15,
  factor = 1.5,
): { frame: number; ratio: number } | null {
  const here = previews.reduce<{ frame: number; area: number } | null>(
    (best, p) => (Math.abs(p.frame - clickFrame) < Math.abs((best?.frame ?? Infinity) - clickFrame) ? p : best),
    null,
  );
  if (!here || here.area <= 0 || Math.abs(here.frame - clickFrame) > 2) return null;
  const around = previews.filter((p) => p.frame !== here.frame && Math.abs(p.frame - clickFrame) <= near && p.area > 0);
  if (around.length < 2) return null;
  // The middle of the nearby outlines (one odd frame does not make a hint).
  const sorted = [...around].sort((a, b) => a.area - b.area);
  const median = sorted[Math.floor(sorted.length / 2)];
  const ratio = median.area / here.area;
  return ratio >= factor ? { frame: median.frame, ratio: Math.round(ratio * 10) / 10 } : null;
}
