import type { ReactNode } from "react";

export function Tile({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="tile">
      <div className="tile-label">{label}</div>
      <div className="tile-value">{children}</div>
    </div>
  );
}
