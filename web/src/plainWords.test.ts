import { describe, expect, it } from "vitest";
import { ApiError } from "./api";
import { plainError, previewError } from "./plainWords";

describe("plainError", () => {
  it("turns the size refusal into megabytes and what to do", () => {
    expect(plainError(new ApiError(413, "file is 629145600 bytes; the limit is 524288000 bytes"))).toBe(
      "This file is 600 MB; videos can be at most 500 MB. Trim it or export it at a lower quality, then try again.",
    );
  });

  it("never shows a validation log line for an empty file", () => {
    const raw = "Validation failed for POST /api/upload/presigned (size: Input should be greater than 0)";
    expect(plainError(new ApiError(400, raw))).toBe("This file is empty. Choose the video file itself.");
  });

  it("explains a file that is not a video, the quota and an unreachable server", () => {
    expect(plainError(new ApiError(422, "not a video file (no MP4, MOV, WebM, Matroska or AVI container found)"))).toMatch(
      /^This file is not a video TapMask can read/,
    );
    expect(plainError(new ApiError(429, "monthly quota used up: 10 of 10 videos this month"))).toBe(
      "You have used all 10 free videos for this month. You can process more from the 1st of next month.",
    );
    expect(plainError(new ApiError(0, "The job could not start: the server could not be reached (x)"))).toMatch(
      /could not be reached/,
    );
    expect(plainError(new ApiError(503, "Job status unavailable (HTTP 503)"))).toMatch(/^TapMask had a problem on its side/);
  });

  it("says which limit a video passes, in minutes and what to do", () => {
    // The gateway's words from its probe (tapmask_media.probe), as a job or the frames refuse it.
    expect(plainError(new ApiError(422, "700 s long, more than the 600 s allowed"))).toBe(
      "This video is 11 min 40 s long; videos can be at most 10 minutes. Trim it, then upload it again.",
    );
    expect(plainError(new ApiError(422, "the audio track is more than 600 s long, the most allowed"))).toBe(
      "This video's sound runs longer than 10 minutes. Trim it, then upload it again.",
    );
    expect(plainError(new ApiError(422, "1000 frames per second is more than the 480 allowed"))).toBe(
      "This video has 1000 frames per second; TapMask takes up to 480. Export it at a lower frame rate, then try again.",
    );
    expect(plainError(new ApiError(422, "7680x4320 pixels per frame is more than the 8847360 allowed"))).toMatch(
      /^This video's picture \(7680×4320\) is larger than TapMask takes\. Export it at a lower resolution/,
    );
    expect(plainError(new ApiError(422, "16x16 pixels is too small to click on; each side needs at least 32 pixels"))).toBe(
      "This video's picture is only 16×16 pixels, too small to click on (each side needs 32). Choose a larger video.",
    );
    expect(plainError(new ApiError(422, "more than 36000 frames"))).toMatch(/^This video has more than 36000 frames\. Trim it/);
    expect(plainError(new ApiError(422, "more than 8 streams (video, audio, subtitles...), the most allowed"))).toMatch(
      /^This file holds more than 8 tracks/,
    );
  });

  it("keeps a message it has no better words for", () => {
    expect(plainError(new ApiError(422, "click (2000, 10) is outside the 1280x720 frame"))).toBe(
      "click (2000, 10) is outside the 1280x720 frame",
    );
  });
});

describe("previewError", () => {
  it("says the clicks still count when the outline preview is not running", () => {
    const said = previewError(new ApiError(503, "the mask preview is not running on this server"));
    expect(said).toBe("The outline preview is not available right now. Your clicks still count: Start works without it.");
  });

  it("says what to do when the server cannot be reached, with no developer words", () => {
    const said = previewError(new ApiError(0, "The mask preview is unavailable: the server could not be reached"));
    expect(said).toBe("No outline: TapMask could not be reached. Check your connection, then click again.");
  });

  it("never shows a browser exception's name", () => {
    const said = previewError(new TypeError("createImageBitmap: The source image could not be decoded."));
    expect(said).not.toMatch(/TypeError|createImageBitmap/);
    expect(said).toMatch(/Start works without it/);
  });

  it("keeps the gateway's words for a click it refused", () => {
    expect(previewError(new ApiError(422, "click (2000, 10) is outside the 1280x720 frame"))).toBe(
      "click (2000, 10) is outside the 1280x720 frame",
    );
  });
});
