interface Props {
  /** 0..100 */
  percent: number;
  label: string;
  tone?: "normal" | "done" | "failed";
}

export function ProgressBar({ percent, label, tone = "normal" }: Props) {
  const p = Math.max(0, Math.min(100, percent));
  return (
    <div className={`progress ${tone}`} role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(p)}>
      <div className="progress-fill" style={{ width: `${p}%` }} />
    </div>
  );
}
