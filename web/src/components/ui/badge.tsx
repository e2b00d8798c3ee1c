import { cn } from "../../lib/format";

const LEVEL_COLOURS: Record<string, string> = {
  ERROR: "bg-red-100 text-red-800",
  WARNING: "bg-amber-100 text-amber-800",
  DEBUG: "bg-slate-100 text-slate-500",
  DEFAULT: "bg-slate-100 text-slate-700",
};

export function Badge({ children, className }: { children: React.ReactNode; className?: string }) {
  return <span className={cn("inline-flex items-center rounded px-1.5 py-0.5 text-xs font-medium", className)}>{children}</span>;
}

export function LevelBadge({ level }: { level: string | null | undefined }) {
  if (!level) return null;
  return <Badge className={LEVEL_COLOURS[level] ?? LEVEL_COLOURS.DEFAULT}>{level}</Badge>;
}
