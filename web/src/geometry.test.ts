import { describe, expect, it } from "vitest";
import { clientToVideo, pictureBox, videoToElement } from "./geometry";

describe("clientToVideo", () => {
  it("scales a click when the picture fills the element exactly", () => {
    // A 1920x1080 video shown at 960x540, element at (100, 200) on the page.
    const el = { left: 100, top: 200, width: 960, height: 540 };
    expect(clientToVideo({ x: 100 + 480, y: 200 + 270 }, el, { width: 1920, height: 1080 })).toEqual({ x: 960, y: 540 });
    expect(clientToVideo({ x: 100, y: 200 }, el, { width: 1920, height: 1080 })).toEqual({ x: 0, y: 0 });
  });

  it("accounts for letterbox bars above and below a wide video", () => {
    // 1280x720 in an 800x600 box: scale 0.625, picture 800x450, bars of 75 px top and bottom.
    const el = { left: 0, top: 0, width: 800, height: 600 };
    const video = { width: 1280, height: 720 };
    expect(clientToVideo({ x: 400, y: 75 }, el, video)).toEqual({ x: 640, y: 0 });
    expect(clientToVideo({ x: 200, y: 300 }, el, video)).toEqual({ x: 320, y: 360 });
    expect(clientToVideo({ x: 400, y: 40 }, el, video)).toBeNull();
    expect(clientToVideo({ x: 400, y: 560 }, el, video)).toBeNull();
  });

  it("accounts for pillarbox bars beside a tall (portrait) video", () => {
    // 1080x1920 in a 900x480 box: scale 0.25, picture 270x480, bars of 315 px each side.
    const el = { left: 10, top: 20, width: 900, height: 480 };
    const video = { width: 1080, height: 1920 };
    expect(clientToVideo({ x: 10 + 315 + 135, y: 20 + 240 }, el, video)).toEqual({ x: 540, y: 960 });
    expect(clientToVideo({ x: 10 + 100, y: 20 + 240 }, el, video)).toBeNull();
  });

  it("keeps a click on the last pixel inside the frame", () => {
    const el = { left: 0, top: 0, width: 427, height: 240 };
    const video = { width: 854, height: 480 };
    expect(clientToVideo({ x: 427, y: 240 }, el, video)).toEqual({ x: 853, y: 479 });
  });

  it("rounds to a tenth of a pixel", () => {
    const el = { left: 0, top: 0, width: 300, height: 300 };
    const p = clientToVideo({ x: 100, y: 200 }, el, { width: 1000, height: 1000 });
    expect(p).toEqual({ x: 333.3, y: 666.7 });
  });

  it("refuses an empty video size instead of dividing by zero", () => {
    expect(() => clientToVideo({ x: 1, y: 1 }, { left: 0, top: 0, width: 10, height: 10 }, { width: 0, height: 0 })).toThrow(
      /empty size/,
    );
  });
});

describe("videoToElement", () => {
  it("is the inverse of clientToVideo, letterbox included", () => {
    const el = { left: 0, top: 0, width: 800, height: 600 };
    const video = { width: 1280, height: 720 };
    const shown = videoToElement({ x: 320, y: 360 }, el, video);
    expect(shown).toEqual({ x: 200, y: 300 });
    expect(clientToVideo(shown, el, video)).toEqual({ x: 320, y: 360 });
  });
});

describe("pictureBox", () => {
  it("centres the scaled picture in the element", () => {
    expect(pictureBox({ left: 0, top: 0, width: 800, height: 600 }, { width: 1280, height: 720 })).toEqual({
      left: 0,
      top: 75,
      width: 800,
      height: 450,
    });
  });
});
