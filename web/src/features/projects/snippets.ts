// Copy-paste set-up snippets for a key pair. Pure, so they are unit-tested.

export type SnippetKeys = { host: string; publicKey: string; secretKey: string };

export function snippets({ host, publicKey, secretKey }: SnippetKeys): Array<{ title: string; code: string }> {
  const basic = typeof btoa === "function" ? btoa(`${publicKey}:${secretKey}`) : "";
  return [
    {
      title: "Environment (.env)",
      code: `LANGFUSE_HOST=${host}\nLANGFUSE_PUBLIC_KEY=${publicKey}\nLANGFUSE_SECRET_KEY=${secretKey}`,
    },
    {
      title: "Python",
      code: `# pip install langfuse\nfrom langfuse import Langfuse\n\nlangfuse = Langfuse(\n    public_key="${publicKey}",\n    secret_key="${secretKey}",\n    host="${host}",\n)`,
    },
    {
      title: "JS/TS",
      code: `// npm install langfuse\nimport { Langfuse } from "langfuse";\n\nconst langfuse = new Langfuse({\n  publicKey: "${publicKey}",\n  secretKey: "${secretKey}",\n  baseUrl: "${host}",\n});`,
    },
    {
      title: "OpenTelemetry (OTLP/HTTP)",
      code: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=${host}/api/public/otel/v1/traces\nOTEL_EXPORTER_OTLP_TRACES_HEADERS="Authorization=Basic ${basic}"`,
    },
  ];
}
