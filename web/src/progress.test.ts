import { describe, expect, it } from "vitest";
import { formatEta, fromJobView, INITIAL_PROGRESS, mergeProgress, parseEventData, stageLabel } from "./progress";

describe("parseEventData", () => {
  it("reads a job-progress event", () => {
    const data = JSON.stringify({
      event_type: "job-progress",
      status: "processing",
      stage: "tracking",
      percent: 42.5,
      message: "frame 30 of 70",
      eta_seconds: 12,
    });
    expect(parseEventData(data)).toEqual({
      status: "processing",
      stage: "tracking",
      percent: 42.5,
      message: "frame 30 of 70",
      etaSeconds: 12,
    });
  });

  it("infers the final status from the event type when it is missing", () => {
    expect(parseEventData(JSON.stringify({ event_type: "video-ready", output_key: "outputs/j.mp4" }))).toMatchObject({
      status: "completed",
    });
    expect(
      parseEventData(JSON.stringify({ event_type: "job-failed", stage: "tracking", reason: "The video has no frames" })),
    ).toEqual({ status: "failed", stage: "tracking", reason: "The video has no frames" });
  });

  it("ignores payloads that are not a JSON object", () => {
    expect(parseEventData("keep-alive")).toBeNull();
    expect(parseEventData("[1,2]")).toBeNull();
    expect(parseEventData("null")).toBeNull();
  });
});

describe("mergeProgress", () => {
  const running = mergeProgress(INITIAL_PROGRESS, { status: "processing", stage: "tracking", percent: 40, message: "m" });

  it("never moves the bar backwards on an older, redelivered event", () => {
    const next = mergeProgress(running, { status: "processing", stage: "tracking", percent: 30 });
    expect(next.percent).toBe(40);
  });

  it("stays final once completed or failed", () => {
    const done = mergeProgress(running, { status: "completed" });
    expect(done).toMatchObject({ status: "completed", stage: "done", percent: 100, etaSeconds: null });
    expect(mergeProgress(done, { status: "processing", percent: 50 })).toBe(done);

    const failed = mergeProgress(running, { status: "failed", reason: "Object lost" });
    expect(failed).toMatchObject({ status: "failed", reason: "Object lost", percent: 40 });
    expect(mergeProgress(failed, { status: "processing" })).toBe(failed);
  });

  it("clears a stage's message when the stage changes without a new one", () => {
    const next = mergeProgress(running, { stage: "rendering", percent: 60 });
    expect(next).toMatchObject({ stage: "rendering", message: "" });
  });

  it("clamps percent to 0..100", () => {
    expect(mergeProgress(INITIAL_PROGRESS, { percent: 250 }).percent).toBe(100);
  });
});

describe("fromJobView", () => {
  it("maps the job status endpoint's fields", () => {
    expect(fromJobView({ status: "failed", stage: "rendering", percent: 70, error: "Disk full" })).toEqual({
      status: "failed",
      stage: "rendering",
      percent: 70,
      reason: "Disk full",
    });
  });
});

describe("formatting", () => {
  it("formats the remaining time for people", () => {
    expect(formatEta(null)).toBe("");
    expect(formatEta(3)).toBe("a few seconds left");
    expect(formatEta(42)).toBe("about 42 s left");
    expect(formatEta(80)).toBe("about 1 min 20 s left");
    expect(formatEta(120)).toBe("about 2 min left");
    expect(formatEta(3900)).toBe("about 1 h 5 min left");
  });

  it("names stages in words", () => {
    expect(stageLabel("tracking")).toBe("Following the object through the video");
    expect(stageLabel("post_processing")).toBe("post processing");
  });
});

describe("a cancelled job", () => {
  it("reads the gateway's cancelled progress event as final and stays there", () => {
    const update = parseEventData(
      JSON.stringify({ event_type: "job-progress", status: "cancelled", stage: "tracking", percent: 12, message: "Cancelled" }),
    );
    expect(update?.status).toBe("cancelled");
    const stopped = mergeProgress(INITIAL_PROGRESS, update!);
    expect(stopped.status).toBe("cancelled");
    expect(mergeProgress(stopped, { status: "processing", percent: 40 })).toBe(stopped);
  });
});
