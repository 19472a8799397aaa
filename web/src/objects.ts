/**
 * The objects a person marks: each its own colour, each a list of clicks
 * (positive: "this is it", negative: "not this"), each click on some frame.
 * Pure: the editor renders it, the job request is built from it.
 */

import type { ClickedJobRequest, ClickPoint, Effect, ProcessingMode } from "./api";

export interface Click {
  x: number;
  y: number;
  frame: number;
  positive: boolean;
}

export interface MarkedObject {
  /** Stable within the page; not the job's object_id (those are renumbered 0..n-1). */
  key: number;
  colour: string;
  clicks: Click[];
}

/** Distinct on light and dark footage, and for the common colour blindnesses (Okabe–Ito). */
export const PALETTE = ["#0072B2", "#E69F00", "#CC79A7", "#009E73", "#D55E00", "#56B4E9", "#F0E442"];

export function newObject(existing: MarkedObject[]): MarkedObject {
  const key = existing.reduce((m, o) => Math.max(m, o.key), -1) + 1;
  return { key, colour: PALETTE[key % PALETTE.length], clicks: [] };
}

export function addClick(objects: MarkedObject[], key: number, click: Click): MarkedObject[] {
  return objects.map((o) => (o.key === key ? { ...o, clicks: [...o.clicks, click] } : o));
}

export function undoClick(objects: MarkedObject[], key: number): MarkedObject[] {
  return objects.map((o) => (o.key === key ? { ...o, clicks: o.clicks.slice(0, -1) } : o));
}

export function removeObject(objects: MarkedObject[], key: number): MarkedObject[] {
  const rest = objects.filter((o) => o.key !== key);
  return rest.length ? rest : [newObject([])];
}

/** The object's clicks on `frame`, when it has a positive one there (the mask preview's input). */
export function clicksOn(object: MarkedObject, frame: number): Click[] {
  const here = object.clicks.filter((c) => c.frame === frame);
  return here.some((c) => c.positive) ? here : [];
}

/**
 * The object's "not this" clicks on `frame` that correct its track there: the tracker
 * follows the object from its first positive click on, and a negative click on a later
 * frame cuts that spot from the mask it carries from there (no preview: the mask there is
 * the track's). A negative before the object's first positive click says nothing.
 */
export function correctionsOn(object: MarkedObject, frame: number): Click[] {
  const firstPositive = Math.min(...object.clicks.filter((c) => c.positive).map((c) => c.frame));
  if (clicksOn(object, frame).length) return [];
  return object.clicks.filter((c) => !c.positive && c.frame === frame && c.frame > firstPositive);
}

/** An object is usable once it has a positive click. */
export function isMarked(object: MarkedObject): boolean {
  return object.clicks.some((c) => c.positive);
}

/**
 * The job request: objects with a positive click become object_id 0, 1, ...
 * in the order they were added; the first positive click of the first is the
 * main click (click_x/click_y/frame), every other click goes in `points`.
 * A negative click goes with its object's positive ones on its frame, or on a later
 * frame as a correction of the track (`correctionsOn`); one before the object's first
 * positive click says nothing to the tracker, so it is left out.
 */
export function jobRequest(
  uploadKey: string,
  objects: MarkedObject[],
  mode: ProcessingMode,
  effect: Effect,
): ClickedJobRequest {
  const marked = objects.filter(isMarked);
  if (!marked.length) throw new Error("Click on the object first (with “This is it” selected).");
  const points: ClickPoint[] = [];
  marked.forEach((o, id) => {
    const firstPositive = Math.min(...o.clicks.filter((c) => c.positive).map((c) => c.frame));
    for (const c of o.clicks) {
      if (!c.positive && c.frame < firstPositive) continue;
      points.push({ x: c.x, y: c.y, frame: c.frame, positive: c.positive, object_id: id });
    }
  });
  const main = points.findIndex((p) => p.positive && p.object_id === 0);
  const [first] = points.splice(main, 1);
  return {
    upload_key: uploadKey,
    click_x: first.x,
    click_y: first.y,
    frame: first.frame ?? 0,
    ...(points.length ? { points } : {}),
    processing_mode: mode,
    ...(mode === "privacy" ? { effect } : {}),
  };
}

/** Every click the job tracks with, as the API's points (the main click first). */
export function jobPoints(objects: MarkedObject[]): ClickPoint[] {
  const request = jobRequest("", objects, "privacy", "blur");
  return [
    { x: request.click_x, y: request.click_y, frame: request.frame ?? 0, positive: true, object_id: 0 },
    ...(request.points ?? []),
  ];
}
