/** Masks drawn in an object's colour: a grey PNG (255 = the object) as a transparent canvas. */

function hexToRgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Opacity of a clicked outline's pixels (the job's outline as the click gives it). */
export const CLICK_ALPHA = 140;
/** Opacity of the tracker's low-resolution outline: lighter, so the two can be told apart. */
export const TRACKED_ALPHA = 100;

/** The grey PNG mask as a canvas in `colour` (transparent elsewhere), and its pixel count. */
export async function tint(
  blob: Blob,
  colour: string,
  alpha = CLICK_ALPHA,
): Promise<{ canvas: HTMLCanvasElement; pixels: number }> {
  const bitmap = await createImageBitmap(blob);
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  if (!ctx) throw new Error("no 2D canvas");
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const [r, g, b] = hexToRgb(colour);
  let pixels = 0;
  for (let i = 0; i < data.data.length; i += 4) {
    const on = data.data[i] > 127;
    if (on) pixels += 1;
    data.data[i] = r;
    data.data[i + 1] = g;
    data.data[i + 2] = b;
    data.data[i + 3] = on ? alpha : 0;
  }
  ctx.putImageData(data, 0, 0);
  return { canvas, pixels };
}

/** A base64 PNG (as the previews carry it) as a Blob. */
export function pngBlob(base64: string): Blob {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type: "image/png" });
}
