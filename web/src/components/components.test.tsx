// @vitest-environment jsdom
/**
 * The components as a person sees them (Testing Library, in jsdom), beside the browser
 * scenarios of web/e2e: what they say and offer in the states the live view and the result
 * go through.
 */
import { act, cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { UploadVideo } from "../api";
import type { Tracked } from "../live";
import { newObject } from "../objects";
import { INITIAL_PROGRESS } from "../progress";
import { FrameEditor } from "./FrameEditor";
import { JobPanel } from "./JobPanel";
import { ResultView } from "./ResultView";

beforeAll(() => {
  // jsdom has neither: the editor observes its canvas and draws with 2D contexts.
  globalThis.ResizeObserver ??= class {
    observe() {}
    unobserve() {}
    disconnect() {}
  } as unknown as typeof ResizeObserver;
  HTMLCanvasElement.prototype.getContext = (() => null) as unknown as typeof HTMLCanvasElement.prototype.getContext;
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

const processing = { ...INITIAL_PROGRESS, status: "processing" as const, stage: "rendering", percent: 60, etaSeconds: 40 };

describe("JobPanel", () => {
  it("says erasing when the job erases, with the time left", () => {
    render(<JobPanel jobId="j" progress={processing} watchError={null} mode="magic_eraser" />);
    expect(screen.getByText("Erasing the object in every frame")).toBeTruthy();
    expect(screen.getByText("about 40 s left")).toBeTruthy();
  });

  it("says no time left while the person holds the job (paused, or the OK awaited)", () => {
    render(<JobPanel jobId="j" progress={{ ...processing, stage: "tracking" }} watchError={null} held />);
    expect(screen.queryByText(/left$/)).toBeNull();
  });
});

describe("ResultView", () => {
  const props = {
    resultUrl: "/r.mp4",
    originalUrl: null,
    review: [{ start_frame: 72, end_frame: 72, reason: "possible face (score 0.22)" }],
    frameCount: 100,
    onAnother: () => undefined,
    onRenderAgain: () => undefined,
    onCorrect: () => undefined,
  };

  it("puts Download first, and lists a single frame as one, without the detector's score", () => {
    const { container } = render(<ResultView {...props} />);
    const first = container.querySelector("a, button, video[controls]");
    expect(first?.textContent).toBe("Download");
    const item = screen.getByRole("listitem");
    expect(item.textContent).toContain("frame 73");
    expect(item.textContent).not.toContain("73–73");
    expect(item.textContent).not.toContain("score");
  });

  it("offers neither Erase nor fixing an outline when only faces were hidden", () => {
    render(<ResultView {...props} onCorrect={null} facesOnly />);
    const again = screen.getByRole("group", { name: "Render again with the same outline" });
    expect(within(again).queryByRole("button", { name: "Erase" })).toBeNull();
    expect(within(again).getByRole("button", { name: "Pixelate" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: /Fix the outline/ })).toBeNull();
  });
});

describe("FrameEditor", () => {
  const video: UploadVideo = {
    upload_key: "uploads/u.mp4",
    display_width: 640,
    display_height: 360,
    frame_count: 45,
    fps: 30,
    duration_s: 1.5,
    has_audio: false,
    codec: "h264",
    format: "mp4",
  };
  const editor = (over: Partial<Parameters<typeof FrameEditor>[0]> = {}) => (
    <FrameEditor
      uploadKey={video.upload_key}
      video={video}
      objects={[newObject([])]}
      onObjectsChange={() => undefined}
      activeKey={0}
      onActiveChange={() => undefined}
      frame={0}
      onFrameChange={() => undefined}
      {...over}
    />
  );

  it("says how long a slow outline takes, on the frame it is for", async () => {
    vi.useFakeTimers();
    vi.stubGlobal("fetch", vi.fn(() => new Promise(() => undefined))); // never answers
    const object = { ...newObject([]), clicks: [{ x: 10, y: 10, frame: 0, positive: true }, { x: 200, y: 100, frame: 30, positive: true }] };
    render(editor({ objects: [object], frame: 30 }));
    expect(screen.getByRole("list", { name: "Objects" }).textContent).toContain("finding its outline on frame 31…");
    await act(async () => {
      vi.advanceTimersByTime(3200);
    });
    expect(screen.getByRole("list", { name: "Objects" }).textContent).toMatch(/finding its outline on frame 31… 3 s/);
  });

  it("in the live view: the tracker's outline on this frame, how far it is, and where it was unsure", () => {
    const tracked: Tracked = {
      revision: 0,
      step: 5,
      framesDone: 21,
      frameCount: 45,
      done: false,
      pausedAt: 21,
      unsure: [5, 10, 15, 20, 25, 30, 35, 40],
      review: [{ start: 12, end: 14 }],
      outlines: new Map([[10, document.createElement("canvas")]]),
    };
    const { container } = render(editor({ frame: 10, tracked, disabled: true }));
    const box = container.querySelector(".frame-box");
    expect(box?.getAttribute("data-tracked-outline")).toBe("10");
    expect(box?.getAttribute("data-tracked-count")).toBe("1");
    expect(screen.getByText(/The tracker's outline on frame 11\./).textContent).toContain("6, 11, 16, 21, 26, 31 and 2 more");
    expect(container.querySelectorAll(".ticks .unsure")).toHaveLength(9); // 8 frames and the tracker's own range
    // Paused or not, clicks wait until the tracker is held: the frame takes none.
    expect(screen.getByRole("button", { name: "+ This is it" }).hasAttribute("disabled")).toBe(true);
  });
});
