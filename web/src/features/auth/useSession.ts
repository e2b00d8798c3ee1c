import { useQuery } from "@tanstack/react-query";
import { api, ApiError, type Session } from "../../api/client";

export const SESSION_KEY = ["session"] as const;

/** The signed-in user; `data` is null when nobody is signed in. */
export function useSession() {
  return useQuery({
    queryKey: SESSION_KEY,
    queryFn: async () => {
      try {
        return await api<Session>("/auth/session");
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return null;
        throw error;
      }
    },
    staleTime: 60_000,
  });
}
