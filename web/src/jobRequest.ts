import type { ClickPoint, CreateJobRequest, Effect, ProcessingMode } from "./api";

/**
 * The job request for the chosen points: the first positive click is the main
 * one (click_x/click_y); the gateway adds it to `points` itself, so `points`
 * holds only the others.
 */
export function buildJobRequest(
  uploadKey: string,
  points: ClickPoint[],
  mode: ProcessingMode,
  effect: Effect,
): CreateJobRequest {
  const main = points.find((p) => p.positive !== false);
  const others = points.filter((p) => p !== main);
  if (!main) throw new Error("Click at least once on the object (a plain click, not shift-click).");
  return {
    upload_key: uploadKey,
    click_x: main.x,
    click_y: main.y,
    frame: main.frame ?? 0,
    ...(others.length ? { points: others } : {}),
    processing_mode: mode,
    ...(mode === "privacy" ? { effect } : {}),
  };
}
