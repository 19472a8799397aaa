import { useCallback, useEffect, useRef, useState, type MouseEvent } from "react";
import type { ClickPoint } from "../api";
import { clientToVideo, videoToElement, type Size } from "../geometry";

interface Props {
  src: string;
  points: ClickPoint[];
  onPointsChange: (points: ClickPoint[]) => void;
  disabled?: boolean;
}

/** Markers closer than this (CSS px) to a click are removed by it instead of adding one. */
const HIT_RADIUS = 12;

/**
 * The video's first frame (a paused <video>) under a canvas that takes clicks
 * and draws the markers. Points are kept in decoded-frame pixels.
 */
export function FramePicker({ src, points, onPointsChange, disabled = false }: Props) {
  const video = useRef<HTMLVideoElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [size, setSize] = useState<Size | null>(null);
  const [error, setError] = useState<string | null>(null);

  const draw = useCallback(() => {
    const v = video.current;
    const c = canvas.current;
    if (!v || !c) return;
    const w = v.clientWidth;
    const h = v.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const ctx = c.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    // The element has no size while hidden or before layout: nothing to draw yet.
    if (!size || w === 0 || h === 0) return;
    points.forEach((p, i) => {
      const at = videoToElement(p, { width: w, height: h }, size);
      const positive = p.positive !== false;
      ctx.beginPath();
      ctx.arc(at.x, at.y, 9, 0, Math.PI * 2);
      ctx.fillStyle = positive ? "rgba(22, 163, 74, 0.9)" : "rgba(220, 38, 38, 0.9)";
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
      ctx.fillStyle = "#fff";
      ctx.font = "bold 11px system-ui, sans-serif";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(positive ? String(i + 1) : "−", at.x, at.y + 0.5);
    });
  }, [points, size]);

  useEffect(draw, [draw]);

  useEffect(() => {
    const v = video.current;
    if (!v) return;
    const observer = new ResizeObserver(() => draw());
    observer.observe(v);
    return () => observer.disconnect();
  }, [draw]);

  useEffect(() => {
    setSize(null);
    setError(null);
  }, [src]);

  const onLoaded = () => {
    const v = video.current;
    if (!v) return;
    if (!v.videoWidth || !v.videoHeight) {
      setError("This file has no picture the browser can show.");
      return;
    }
    v.pause();
    v.currentTime = 0;
    setSize({ width: v.videoWidth, height: v.videoHeight });
  };

  const onClick = (e: MouseEvent<HTMLCanvasElement>) => {
    const v = video.current;
    if (!v || !size || disabled) return;
    const rect = v.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) return;
    const hit = points.findIndex((p) => {
      const at = videoToElement(p, { width: rect.width, height: rect.height }, size);
      return Math.hypot(at.x - (e.clientX - rect.left), at.y - (e.clientY - rect.top)) <= HIT_RADIUS;
    });
    if (hit >= 0) {
      onPointsChange(points.filter((_, i) => i !== hit));
      return;
    }
    const p = clientToVideo({ x: e.clientX, y: e.clientY }, rect, size);
    if (!p) return; // on the letterbox bars
    onPointsChange([...points, { x: p.x, y: p.y, frame: 0, positive: !e.shiftKey }]);
  };

  return (
    <div className="frame-picker">
      <div className={`frame${disabled ? " disabled" : ""}`}>
        <video
          ref={video}
          src={src}
          muted
          playsInline
          preload="auto"
          onLoadedData={onLoaded}
          onError={() =>
            setError(
              "Your browser cannot show this video's first frame (its codec may not be supported here). Try an MP4 (H.264) or WebM file.",
            )
          }
        />
        <canvas
          ref={canvas}
          onClick={onClick}
          aria-label="First frame: click on the object to hide"
          style={{ cursor: disabled || !size ? "default" : "crosshair" }}
        />
        {!size && !error && <div className="frame-note">Loading the first frame…</div>}
      </div>
      {error && <p className="error">{error}</p>}
      {size && (
        <div className="frame-info">
          <span>
            {size.width}×{size.height} · {points.filter((p) => p.positive !== false).length} point(s) on the object
            {points.some((p) => p.positive === false) && `, ${points.filter((p) => p.positive === false).length} excluded`}
          </span>
          <span className="buttons">
            <button type="button" disabled={disabled || points.length === 0} onClick={() => onPointsChange(points.slice(0, -1))}>
              Undo
            </button>
            <button type="button" disabled={disabled || points.length === 0} onClick={() => onPointsChange([])}>
              Clear
            </button>
          </span>
        </div>
      )}
    </div>
  );
}
