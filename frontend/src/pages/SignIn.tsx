import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { useNavigate } from "react-router-dom";

import { api, ApiError, describeError } from "../api/client";
import type { SignInResponse } from "../api/types";

const KALSHI_API_KEYS = "https://kalshi.com/account/profile";

/** What to tell the person for each way sign-in fails. */
export function signInMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 401) return `Kalshi did not accept this key: ${error.message}`;
    if (error.status === 429) return describeError(error);
    if (error.status === 503 || error.status === 502) return `Kalshi cannot be reached right now. ${error.message}`;
    if (error.notAvailable) return "Sign-in is not available on this server yet (the account service is not running).";
  }
  return describeError(error);
}

/**
 * Sign in with a Kalshi API key. The private key lives only in this form's state: it is
 * sent once over the same origin and cleared; nothing is written to any browser storage.
 */
export default function SignIn() {
  const [keyId, setKeyId] = useState("");
  const [pem, setPem] = useState("");
  const fileRef = useRef<HTMLInputElement>(null);
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const signIn = useMutation({
    mutationFn: () =>
      api<SignInResponse>("/api/v1/account/authenticate", {
        method: "POST",
        body: { key_id: keyId.trim(), private_key_pem: pem },
      }),
    onSettled: () => {
      setPem("");
      if (fileRef.current) fileRef.current.value = "";
    },
    onSuccess: (data) => {
      // The answer names the user: the positions panel starts fetching at once, the stream
      // opens, and the rest refreshes in the background (not awaited: positions come first).
      queryClient.setQueryData(["me"], data.user);
      void queryClient.invalidateQueries({ predicate: (query) => query.queryKey[0] !== "me" });
      navigate("/markets");
    },
  });
  return (
    <section className="page narrow">
      <h1>Sign in</h1>
      <p>
        Use an API key from Kalshi. Create one on{" "}
        <a href={KALSHI_API_KEYS} target="_blank" rel="noreferrer">
          Kalshi&apos;s API keys page
        </a>
        : you get a key id and a private key file.
      </p>
      <form
        className="form"
        onSubmit={(event) => {
          event.preventDefault();
          signIn.mutate();
        }}
      >
        <label>
          Key id
          <input name="key_id" value={keyId} onChange={(e) => setKeyId(e.target.value)} required autoComplete="off" spellCheck={false} />
        </label>
        <label>
          Private key (paste the PEM)
          <textarea
            name="private_key_pem"
            value={pem}
            onChange={(e) => setPem(e.target.value)}
            rows={8}
            required
            autoComplete="off"
            spellCheck={false}
            placeholder="Paste the whole .key file (BEGIN … PRIVATE KEY … END)"
          />
        </label>
        <label>
          …or choose the key file
          <input
            ref={fileRef}
            type="file"
            accept=".pem,.key,.txt"
            onChange={async (e) => {
              const file = e.target.files?.[0];
              if (file) setPem(await file.text());
            }}
          />
        </label>
        {signIn.isError ? (
          <p role="alert" className="error-message">
            {signInMessage(signIn.error)}
          </p>
        ) : null}
        <button type="submit" disabled={signIn.isPending}>
          {signIn.isPending ? "Checking the key with Kalshi…" : "Sign in"}
        </button>
      </form>
      <p className="muted small">Your key is sent to this server once, checked with Kalshi and stored encrypted there; it is never kept in this browser.</p>
    </section>
  );
}
