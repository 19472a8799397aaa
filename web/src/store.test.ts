import { describe, expect, it } from "vitest";
import { initialState, resetForNewVideo, useApp } from "./store";

describe("the app's store", () => {
  it("starting over clears the video, the clicks and the job, and keeps the person's choices", () => {
    useApp.setState({
      ...initialState(),
      mode: "magic_eraser",
      checkFirst: false,
      fileName: "dog.mp4",
      upload: { phase: "done", key: "uploads/a.mp4" },
      objects: [{ key: 3, colour: "#000000", clicks: [{ x: 1, y: 2, frame: 0, positive: true }] }],
      sentPoints: "[]",
    });
    resetForNewVideo();
    const s = useApp.getState();
    expect(s.mode).toBe("magic_eraser");
    expect(s.checkFirst).toBe(false);
    expect(s.fileName).toBeNull();
    expect(s.upload).toEqual({ phase: "idle" });
    expect(s.objects).toHaveLength(1);
    expect(s.objects[0].clicks).toEqual([]);
    expect(s.sentPoints).toBeNull();
  });
});
