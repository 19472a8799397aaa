/**
 * What a job was made from, kept in this browser beside its link: the upload it used, the
 * video's facts and the marked objects. A reload (or coming back later) then still offers
 * "fix the outline and run again" and the live corrections, which need the frames and the
 * clicks; the server keeps neither for the page. The last few jobs only.
 */

import type { Effect, ProcessingMode, UploadVideo } from "./api";
import type { MarkedObject } from "./objects";

export interface JobSession {
  uploadKey: string;
  video: UploadVideo;
  objects: MarkedObject[];
  mode: ProcessingMode;
  effect: Effect;
  fileName?: string;
}

const PREFIX = "tapmask.session.";
const KEEP = 5;

type Store = Pick<Storage, "getItem" | "setItem" | "removeItem" | "key" | "length">;

export function saveSession(jobId: string, session: JobSession, store: Store = globalThis.localStorage): void {
  try {
    const kept: { key: string; at: number }[] = [];
    for (let i = 0; i < store.length; i++) {
      const key = store.key(i);
      if (!key?.startsWith(PREFIX) || key === PREFIX + jobId) continue;
      const at = Number((JSON.parse(store.getItem(key) ?? "{}") as { savedAt?: number }).savedAt ?? 0);
      kept.push({ key, at });
    }
    // Newest first (later than every other, also within the same millisecond).
    const savedAt = Math.max(Date.now(), ...kept.map((k) => k.at + 1));
    store.setItem(PREFIX + jobId, JSON.stringify({ ...session, savedAt }));
    kept.push({ key: PREFIX + jobId, at: savedAt });
    kept.sort((a, b) => b.at - a.at);
    for (const old of kept.slice(KEEP)) store.removeItem(old.key);
  } catch {
    // private mode or full storage: the job still works, without "fix" after a reload
  }
}

export function loadSession(jobId: string, store: Store = globalThis.localStorage): JobSession | null {
  try {
    const raw = store.getItem(PREFIX + jobId);
    if (!raw) return null;
    const s = JSON.parse(raw) as Partial<JobSession>;
    if (typeof s.uploadKey !== "string" || !s.video || !Array.isArray(s.objects) || !s.mode || !s.effect) return null;
    return { uploadKey: s.uploadKey, video: s.video, objects: s.objects, mode: s.mode, effect: s.effect, fileName: s.fileName };
  } catch {
    return null;
  }
}
