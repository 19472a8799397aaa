import type { Effect, ProcessingMode } from "../api";

interface Props {
  mode: ProcessingMode;
  effect: Effect;
  onChange: (mode: ProcessingMode, effect: Effect) => void;
  disabled?: boolean;
}

const EFFECTS: { value: Effect; label: string }[] = [
  { value: "blur", label: "Blur" },
  { value: "pixelate", label: "Pixelate" },
  { value: "fill", label: "Solid fill" },
];

export function ModePicker({ mode, effect, onChange, disabled = false }: Props) {
  return (
    <fieldset className="modes" disabled={disabled}>
      <legend>What should happen to the object?</legend>
      <label className={`mode${mode === "privacy" ? " selected" : ""}`}>
        <input type="radio" name="mode" checked={mode === "privacy"} onChange={() => onChange("privacy", effect)} />
        <span>
          <strong>Hide it</strong>
          <small>Privacy: cover it in every frame</small>
        </span>
      </label>
      <label className={`mode${mode === "magic_eraser" ? " selected" : ""}`}>
        <input type="radio" name="mode" checked={mode === "magic_eraser"} onChange={() => onChange("magic_eraser", effect)} />
        <span>
          <strong>Erase it</strong>
          <small>Magic eraser: fill in the background behind it</small>
        </span>
      </label>
      {mode === "privacy" && (
        <div className="effects" role="radiogroup" aria-label="Effect">
          {EFFECTS.map((e) => (
            <label key={e.value} className={effect === e.value ? "selected" : ""}>
              <input type="radio" name="effect" checked={effect === e.value} onChange={() => onChange("privacy", e.value)} />
              {e.label}
            </label>
          ))}
        </div>
      )}
    </fieldset>
  );
}
