import { describe, expect, it } from "vitest";
import { addClick, clicksOn, correctionsOn, jobRequest, newObject, PALETTE, removeObject, undoClick, type MarkedObject } from "./objects";

function two(): MarkedObject[] {
  let objects = [newObject([])];
  objects = addClick(objects, 0, { x: 400, y: 467, frame: 0, positive: true });
  objects = addClick(objects, 0, { x: 655, y: 420, frame: 0, positive: false });
  objects = [...objects, newObject(objects)];
  objects = addClick(objects, 1, { x: 80, y: 40, frame: 120, positive: true });
  return objects;
}

describe("objects", () => {
  it("gives each new object its own colour", () => {
    const objects = two();
    expect(objects.map((o) => o.colour)).toEqual([PALETTE[0], PALETTE[1]]);
    expect(new Set(PALETTE).size).toBe(PALETTE.length);
  });

  it("previews an object only on frames where it has a positive click", () => {
    const [ball, later] = two();
    expect(clicksOn(ball, 0)).toHaveLength(2);
    expect(clicksOn(later, 0)).toEqual([]);
    expect(clicksOn(later, 120)).toEqual([{ x: 80, y: 40, frame: 120, positive: true }]);
  });

  it("undoes the last click of one object and never leaves no object at all", () => {
    const objects = undoClick(two(), 0);
    expect(objects[0].clicks).toHaveLength(1);
    expect(objects[1].clicks).toHaveLength(1);
    const none = removeObject(removeObject(objects, 0), 1);
    expect(none).toHaveLength(1);
    expect(none[0].clicks).toEqual([]);
  });
});

describe("jobRequest", () => {
  it("numbers objects 0..n-1, carries each click's frame and keeps negatives", () => {
    expect(jobRequest("uploads/a.mp4", two(), "privacy", "blur")).toEqual({
      upload_key: "uploads/a.mp4",
      click_x: 400,
      click_y: 467,
      frame: 0,
      points: [
        { x: 655, y: 420, frame: 0, positive: false, object_id: 0 },
        { x: 80, y: 40, frame: 120, positive: true, object_id: 1 },
      ],
      processing_mode: "privacy",
      effect: "blur",
    });
  });

  it("skips an object without a positive click and a stray negative", () => {
    let objects = [newObject([])];
    objects = addClick(objects, 0, { x: 1, y: 1, frame: 3, positive: false });
    objects = [...objects, newObject(objects)];
    objects = addClick(objects, 1, { x: 5, y: 6, frame: 9, positive: true });
    objects = addClick(objects, 1, { x: 7, y: 8, frame: 2, positive: false });
    const req = jobRequest("k", objects, "magic_eraser", "blur");
    expect(req).toEqual({ upload_key: "k", click_x: 5, click_y: 6, frame: 9, processing_mode: "magic_eraser" });
  });

  it("sends a “not this” on a later frame as a correction of the track there", () => {
    // The ball clicked on frame 0; on frame 30 its mask took the cup: "not this" there.
    let objects = addClick([newObject([])], 0, { x: 400, y: 467, frame: 0, positive: true });
    objects = addClick(objects, 0, { x: 394, y: 400, frame: 30, positive: false });
    expect(correctionsOn(objects[0], 30)).toEqual([{ x: 394, y: 400, frame: 30, positive: false }]);
    expect(correctionsOn(objects[0], 0)).toEqual([]);
    expect(jobRequest("k", objects, "privacy", "blur").points).toEqual([
      { x: 394, y: 400, frame: 30, positive: false, object_id: 0 },
    ]);
  });

  it("sends no points list for a single click", () => {
    const one = addClick([newObject([])], 0, { x: 10, y: 20, frame: 4, positive: true });
    expect(jobRequest("k", one, "privacy", "fill")).toEqual({
      upload_key: "k",
      click_x: 10,
      click_y: 20,
      frame: 4,
      processing_mode: "privacy",
      effect: "fill",
    });
  });

  it("refuses to start with nothing marked", () => {
    expect(() => jobRequest("k", [newObject([])], "privacy", "blur")).toThrow(/Click on the object first/);
  });
});
