import type { InputHTMLAttributes } from "react";
import { cn } from "../../lib/format";

export function Input({ className, ...props }: InputHTMLAttributes<HTMLInputElement>) {
  return (
    <input
      className={cn(
        "h-9 rounded-md border border-slate-300 bg-white px-2.5 text-sm outline-none focus:border-blue-500 focus:ring-1 focus:ring-blue-500",
        className,
      )}
      {...props}
    />
  );
}

export function Label({ children, text }: { children: React.ReactNode; text: string }) {
  return (
    <label className="flex flex-col gap-1 text-sm font-medium text-slate-700">
      {text}
      {children}
    </label>
  );
}
