/**
 * The app's state in one Zustand store (the product design's choice): what was uploaded,
 * the marked objects, the job on screen and its result. Components read it with selectors;
 * `useField` gives a field as a `[value, set]` pair, as `useState` would, so a handler can
 * write one field (or update it from its previous value) without passing setters down.
 * `resetForNewVideo` is the one place that says what "start over" clears.
 */

import { create } from "zustand";
import type { Effect, ProcessingMode, UploadVideo } from "./api";
import type { JobLink } from "./jobLink";
import type { JobRef } from "./jobWatch";
import { newObject, type MarkedObject } from "./objects";
import type { Progress } from "./progress";
import type { ReviewRange } from "./components/ResultView";
import { DEFAULT_LIMITS, type UploadLimits } from "./sniff";

export type Upload =
  | { phase: "idle" }
  | { phase: "uploading"; fraction: number }
  | { phase: "done"; key: string }
  | { phase: "error"; message: string; retryable: boolean };

export interface Job {
  ref: JobRef;
  progress: Progress;
}

export interface AppState {
  limits: UploadLimits;
  file: File | null;
  /** The file's name (kept with the job: after a reload there is no File). */
  fileName: string | null;
  /** An object URL of the file, for before/after. */
  original: string | null;
  refused: string | null;
  upload: Upload;
  video: UploadVideo | null;
  videoError: string | null;
  objects: MarkedObject[];
  activeKey: number;
  frame: number;
  mode: ProcessingMode;
  effect: Effect;
  hideFaces: boolean;
  /** Rendering waits for the person's OK on the tracked outline. */
  checkFirst: boolean;
  job: Job | null;
  starting: boolean;
  startError: string | null;
  watchError: string | null;
  resultUrl: string | null;
  resultError: string | null;
  review: ReviewRange[] | null;
  /** The job's frame count as the gateway probed it (a reload may have no upload). */
  jobFrames: number;
  lastJob: JobLink | null;
  /** The original from the server, when this tab no longer has the file. */
  serverOriginal: string | null;
  /** Set while a finished (or cancelled) job's clicks are corrected: Start re-runs it. */
  correcting: JobLink | null;
  /** The clicks the running job tracks with, to tell when the person changed them. */
  sentPoints: string | null;
  liveError: string | null;
}

export function initialState(): AppState {
  return {
    limits: DEFAULT_LIMITS,
    file: null,
    fileName: null,
    original: null,
    refused: null,
    upload: { phase: "idle" },
    video: null,
    videoError: null,
    objects: [newObject([])],
    activeKey: 0,
    frame: 0,
    mode: "privacy",
    effect: "blur",
    hideFaces: false,
    checkFirst: true,
    job: null,
    starting: false,
    startError: null,
    watchError: null,
    resultUrl: null,
    resultError: null,
    review: null,
    jobFrames: 0,
    lastJob: null,
    serverOriginal: null,
    correcting: null,
    sentPoints: null,
    liveError: null,
  };
}

export const useApp = create<AppState>()(() => initialState());

/** Everything of the last video and job cleared; the page's choices (limits, mode, effect, faces, check first) kept. */
export function resetForNewVideo(): void {
  const { limits, mode, effect, hideFaces, checkFirst } = useApp.getState();
  useApp.setState({ ...initialState(), limits, mode, effect, hideFaces, checkFirst, lastJob: null });
}

type Update<T> = T | ((previous: T) => T);

/** One field of the store as `[value, set]` (set takes a value or an update function). */
export function useField<K extends keyof AppState>(key: K): [AppState[K], (next: Update<AppState[K]>) => void] {
  const value = useApp((s) => s[key]);
  return [value, setter(key)];
}

const setters = new Map<keyof AppState, (next: never) => void>();

function setter<K extends keyof AppState>(key: K): (next: Update<AppState[K]>) => void {
  let set = setters.get(key) as ((next: Update<AppState[K]>) => void) | undefined;
  if (!set) {
    set = (next: Update<AppState[K]>) =>
      useApp.setState((s) => ({
        [key]: typeof next === "function" ? (next as (previous: AppState[K]) => AppState[K])(s[key]) : next,
      }) as Pick<AppState, K>);
    setters.set(key, set as (next: never) => void);
  }
  return set;
}
