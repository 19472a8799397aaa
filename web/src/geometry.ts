/**
 * Mapping between where the user clicks on the page and pixels of the displayed
 * video frame. The <video> element letterboxes (object-fit: contain), so the
 * picture may not fill the element's box.
 */

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface Size {
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

/** The part of `element` (in client pixels) the picture covers under object-fit: contain. */
export function pictureBox(element: Box, video: Size): Box {
  if (video.width <= 0 || video.height <= 0 || element.width <= 0 || element.height <= 0) {
    throw new Error(`cannot map coordinates: empty size (element ${element.width}x${element.height}, video ${video.width}x${video.height})`);
  }
  const scale = Math.min(element.width / video.width, element.height / video.height);
  const width = video.width * scale;
  const height = video.height * scale;
  return {
    left: element.left + (element.width - width) / 2,
    top: element.top + (element.height - height) / 2,
    width,
    height,
  };
}

/**
 * A click at (clientX, clientY) as pixels of the displayed frame, rounded to
 * 0.1 px; null when the click falls on the letterbox bars, not the picture.
 */
export function clientToVideo(client: Point, element: Box, video: Size): Point | null {
  const pic = pictureBox(element, video);
  const u = (client.x - pic.left) / pic.width;
  const v = (client.y - pic.top) / pic.height;
  if (u < 0 || u > 1 || v < 0 || v > 1) return null;
  // Keep the point inside the frame: a click on the very last pixel row/column
  // would otherwise land on x == width, which is outside the image.
  const x = Math.min(u * video.width, video.width - 1);
  const y = Math.min(v * video.height, video.height - 1);
  return { x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10 };
}

/** Where a frame pixel appears, relative to the element's top-left corner (for drawing markers). */
export function videoToElement(point: Point, element: Size, video: Size): Point {
  const pic = pictureBox({ left: 0, top: 0, ...element }, video);
  return {
    x: pic.left + (point.x / video.width) * pic.width,
    y: pic.top + (point.y / video.height) * pic.height,
  };
}
