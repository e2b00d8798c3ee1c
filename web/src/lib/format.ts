import { clsx, type ClassValue } from "clsx";
import { twMerge } from "tailwind-merge";

export function formatCost(value: number | null | undefined): string {
  if (value == null || value === 0) return "–";
  return value < 0.01 ? `$${value.toPrecision(2)}` : `$${value.toFixed(4)}`;
}

export function formatSeconds(seconds: number | null | undefined): string {
  if (seconds == null) return "–";
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(2)} s`;
}

export function formatTokens(value: number | null | undefined): string {
  return value ? Math.round(value).toLocaleString("en-US") : "–";
}

export function formatTime(ms: number): string {
  const date = new Date(ms);
  return `${date.toLocaleDateString("en-CA")} ${date.toLocaleTimeString("en-GB")}`;
}

export function cn(...inputs: ClassValue[]): string {
  return twMerge(clsx(inputs));
}
