import { expect, it } from "vitest";
import { snippets } from "./snippets";

it("fills in the host and both keys, and Basic auth for OTel", () => {
  const all = snippets({ host: "http://127.0.0.1:3000", publicKey: "pk-lf-1", secretKey: "sk-lf-2" });
  expect(all.map((snippet) => snippet.title)).toEqual(["Environment (.env)", "Python", "JS/TS", "OpenTelemetry (OTLP/HTTP)"]);
  for (const { code } of all.slice(0, 3)) {
    expect(code).toContain("pk-lf-1");
    expect(code).toContain("sk-lf-2");
    expect(code).toContain("http://127.0.0.1:3000");
  }
  expect(all[3].code).toContain(`Basic ${btoa("pk-lf-1:sk-lf-2")}`);
});
