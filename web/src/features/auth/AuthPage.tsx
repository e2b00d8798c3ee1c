import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "@tanstack/react-router";
import { api, type Session } from "../../api/client";
import { Button } from "../../components/ui/button";
import { Input, Label } from "../../components/ui/input";
import { SESSION_KEY } from "./useSession";

export function AuthPage({ mode }: { mode: "sign-in" | "sign-up" }) {
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const submit = useMutation({
    mutationFn: () =>
      api<Session>(`/auth/${mode}`, { method: "POST", body: mode === "sign-up" ? { email, name, password } : { email, password } }),
    onSuccess: (session) => {
      queryClient.setQueryData(SESSION_KEY, session);
      navigate({ to: "/" });
    },
  });
  const signUp = mode === "sign-up";
  return (
    <div className="flex min-h-full items-center justify-center p-6">
      <form
        className="flex w-full max-w-sm flex-col gap-4 rounded-lg border border-slate-200 bg-white p-6 shadow-sm"
        onSubmit={(event) => {
          event.preventDefault();
          submit.mutate();
        }}
      >
        <h1 className="text-xl font-semibold">{signUp ? "Create your glassbox account" : "Sign in to glassbox"}</h1>
        {signUp && (
          <Label text="Name">
            <Input name="name" value={name} onChange={(event) => setName(event.target.value)} autoComplete="name" />
          </Label>
        )}
        <Label text="Email">
          <Input name="email" type="email" required value={email} onChange={(event) => setEmail(event.target.value)} autoComplete="email" />
        </Label>
        <Label text="Password">
          <Input
            name="password"
            type="password"
            required
            minLength={signUp ? 8 : undefined}
            value={password}
            onChange={(event) => setPassword(event.target.value)}
            autoComplete={signUp ? "new-password" : "current-password"}
          />
        </Label>
        {submit.error && <p role="alert" className="text-sm text-red-700">{submit.error.message}</p>}
        <Button type="submit" disabled={submit.isPending}>
          {signUp ? "Sign up" : "Sign in"}
        </Button>
        <p className="text-sm text-slate-600">
          {signUp ? "Already have an account? " : "No account yet? "}
          <Link to={signUp ? "/sign-in" : "/sign-up"} className="text-blue-700 hover:underline">
            {signUp ? "Sign in" : "Sign up"}
          </Link>
        </p>
      </form>
    </div>
  );
}
