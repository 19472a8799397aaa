import type { ReactNode } from "react";

interface Props {
  /** The step's number, shown before its title. */
  num: number;
  title: string;
  children: ReactNode;
}

/** One numbered step of the page (the video, the click, what to do): each in the same frame. */
export function Step({ num, title, children }: Props) {
  return (
    <section className="step">
      <h2>
        <span className="num">{num}</span> {title}
      </h2>
      {children}
    </section>
  );
}
