import { formatEta, stageLabel, type Progress } from "../progress";
import { ProgressBar } from "./ProgressBar";

interface Props {
  jobId: string;
  progress: Progress;
  watchError: string | null;
  /** Stops the job (shown while it runs). */
  onCancel?: () => void;
  /** Held by its owner (paused, or waiting for the OK on the outline): no time left to say. */
  held?: boolean;
  /** The job's mode, for the stage's words (erasing, not hiding). */
  mode?: string;
}

/** Live stage, percent, ETA and message of a running job. */
export function JobPanel({ jobId, progress, watchError, onCancel, held = false, mode }: Props) {
  const stopped = progress.status === "failed" || progress.status === "expired" || progress.status === "cancelled";
  const tone = stopped ? "failed" : progress.status === "completed" ? "done" : "normal";
  return (
    <section className="job" aria-live="polite">
      <div className="job-head">
        <strong>
          {progress.status === "failed" ? "Failed" : progress.status === "cancelled" ? "Cancelled" : stageLabel(String(progress.stage), mode, progress.percent)}
        </strong>
        <span>{Math.floor(progress.percent)}%</span>
      </div>
      <ProgressBar percent={progress.percent} label="Job progress" tone={tone} />
      <div className="job-meta">
        <span>{progress.message}</span>
        <span>{!held && (progress.status === "processing" || progress.status === "pending") ? formatEta(progress.etaSeconds) : ""}</span>
      </div>
      {progress.status === "failed" && (
        <p className="error">{progress.reason ?? "The job failed without saying why."}</p>
      )}
      {progress.status === "expired" && <p className="error">This job's files have expired.</p>}
      {progress.status === "cancelled" && <p className="muted">You cancelled this job; nothing more is done with it.</p>}
      {onCancel && (progress.status === "pending" || progress.status === "processing") && (
        <button type="button" onClick={onCancel}>
          Cancel this job
        </button>
      )}
      {watchError && <p className="error">{watchError}</p>}
      <small className="muted">Job {jobId}</small>
    </section>
  );
}
