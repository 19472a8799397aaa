import { useRef, useState, type DragEvent } from "react";
import { formatDuration, formatLimitBytes, type UploadLimits } from "../sniff";

interface Props {
  onFile: (file: File) => void;
  disabled?: boolean;
  limits: UploadLimits;
}

/** Pick a video with the file dialog or by dropping it on the box. */
export function DropZone({ onFile, disabled = false, limits }: Props) {
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);

  const onDrop = (e: DragEvent<HTMLDivElement>) => {
    e.preventDefault();
    setOver(false);
    const file = e.dataTransfer.files[0];
    if (file && !disabled) onFile(file);
  };

  return (
    <div
      className={`dropzone${over ? " over" : ""}${disabled ? " disabled" : ""}`}
      role="button"
      tabIndex={0}
      aria-label="Choose a video file"
      onClick={() => !disabled && input.current?.click()}
      onKeyDown={(e) => {
        if ((e.key === "Enter" || e.key === " ") && !disabled) input.current?.click();
      }}
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <input
        ref={input}
        type="file"
        accept="video/mp4,video/quicktime,video/webm,video/x-matroska,video/x-msvideo,.mp4,.mov,.webm,.mkv,.avi"
        hidden
        onChange={(e) => {
          const file = e.target.files?.[0];
          if (file) onFile(file);
          e.target.value = "";
        }}
      />
      <strong>Drop a video here</strong>
      <span>
        or click to choose one — MP4, MOV, WebM, MKV or AVI, up to {formatLimitBytes(limits.maxUploadBytes)} and{" "}
        {formatDuration(limits.maxDurationS)}
      </span>
    </div>
  );
}
