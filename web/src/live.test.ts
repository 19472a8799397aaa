import { describe, expect, it } from "vitest";
import { frameNote, partialHint, trackingState, type Tracked } from "./live";
import { jobPoints, newObject } from "./objects";
import { stageLabel } from "./progress";
import { loadSession, saveSession } from "./session";
import { framesText, reasonText } from "./components/ResultView";

const hold = (over: Partial<{ paused: boolean; at_end: boolean }> = {}) => ({ paused: false, at_end: false, points: null, revision: 0, ...over });
const previews = (over: Partial<{ done: boolean; paused_at: number | null; frames_done: number }> = {}) => ({
  done: false,
  paused_at: null,
  frames_done: 10,
  frame_count: 45,
  ...over,
});

describe("the live tracking view's state", () => {
  it("follows the tracker: starting, tracking, paused, ready for the OK, accepted", () => {
    expect(trackingState(null, null)).toBe("starting");
    expect(trackingState(previews({ frames_done: 0 }), hold({ paused: true }))).toBe("paused");
    expect(trackingState(previews(), hold())).toBe("tracking");
    expect(trackingState(previews({ paused_at: 21 }), hold({ paused: true }))).toBe("paused");
    // Done and held for the OK: ready; done and not held: rendering starts.
    expect(trackingState(previews({ done: true, frames_done: 45 }), hold({ at_end: true }))).toBe("ready");
    expect(trackingState(previews({ done: true, frames_done: 45 }), hold())).toBe("accepted");
  });

  it("says what a frame shows: the tracker's outline, not reached yet, or the nearest outlines", () => {
    const tracked: Tracked = {
      revision: 0,
      step: 5,
      framesDone: 22,
      frameCount: 45,
      done: false,
      pausedAt: null,
      unsure: [],
      review: [],
      outlines: new Map([[10, {} as HTMLCanvasElement]]),
    };
    expect(frameNote(tracked, 10)).toBe("The tracker's outline on frame 11.");
    expect(frameNote(tracked, 30)).toContain("has not reached frame 31 yet");
    expect(frameNote(tracked, 12)).toContain("see frame 11 or 16");
  });
});

describe("the job's points for tracking again", () => {
  it("are every click, the main one first, each with its frame and object", () => {
    const o = { ...newObject([]), clicks: [
      { x: 200, y: 233, frame: 0, positive: true },
      { x: 197, y: 200, frame: 30, positive: true },
    ] };
    expect(jobPoints([o])).toEqual([
      { x: 200, y: 233, frame: 0, positive: true, object_id: 0 },
      { x: 197, y: 200, frame: 30, positive: true, object_id: 0 },
    ]);
  });
});

class MemoryStore {
  data = new Map<string, string>();
  get length() {
    return this.data.size;
  }
  key(i: number) {
    return [...this.data.keys()][i] ?? null;
  }
  getItem(k: string) {
    return this.data.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.data.set(k, v);
  }
  removeItem(k: string) {
    this.data.delete(k);
  }
}

describe("a job's session in this browser", () => {
  const video = { upload_key: "u", display_width: 640, display_height: 360, frame_count: 45, fps: 30, duration_s: 1.5, has_audio: false, codec: "h264", format: "mp4" };
  it("brings back the upload and the clicks after a reload, and keeps the last five jobs only", () => {
    const store = new MemoryStore();
    const objects = [{ ...newObject([]), clicks: [{ x: 1, y: 2, frame: 0, positive: true }] }];
    for (let i = 0; i < 7; i++) saveSession(`job-${i}`, { uploadKey: `uploads/${i}.mp4`, video, objects, mode: "privacy", effect: "blur" }, store);
    expect(loadSession("job-6", store)?.uploadKey).toBe("uploads/6.mp4");
    expect(loadSession("job-6", store)?.objects).toEqual(objects);
    expect(store.length).toBe(5);
    expect(loadSession("job-0", store)).toBeNull();
    expect(loadSession("nothing", store)).toBeNull();
  });
});

describe("words", () => {
  it("says erasing when erasing, and does not go back to fetching for the render", () => {
    expect(stageLabel("rendering", "magic_eraser")).toBe("Erasing the object in every frame");
    expect(stageLabel("rendering", "privacy")).toBe("Hiding the object in every frame");
    expect(stageLabel("downloading", "magic_eraser", 30)).toBe("Getting ready to render");
    expect(stageLabel("downloading", "privacy", 1)).toBe("Fetching your video");
  });

  it("names a single frame as one, and leaves the detector's score out", () => {
    expect(framesText(72, 72)).toBe("frame 73");
    expect(framesText(150, 179)).toBe("frames 151–180");
    expect(reasonText("possible face (score 0.22)")).toBe("possible face");
  });
});

describe("a partial outline", () => {
  const p = (frame: number, area: number) => ({ frame, area });
  it("is suspected when the outline is clearly larger on the tracked frames near the click", () => {
    // Clicked on the dog's back at frame 0: 4 % of the frame; a few frames on, head and all: 7 %.
    const hint = partialHint([p(0, 0.04), p(5, 0.068), p(10, 0.07), p(15, 0.071), p(40, 0.2)], 0);
    expect(hint).toEqual({ frame: 10, ratio: 1.8 });
  });

  it("is not suspected for a steady outline, one odd frame, or a click far from any preview", () => {
    expect(partialHint([p(0, 0.05), p(5, 0.052), p(10, 0.049)], 0)).toBeNull();
    expect(partialHint([p(0, 0.05), p(5, 0.2), p(10, 0.049), p(15, 0.05)], 0)).toBeNull();
    expect(partialHint([p(0, 0.05), p(5, 0.1), p(10, 0.1)], 7)).toBeNull();
  });
});
