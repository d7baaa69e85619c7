// What the server that serves the page says about itself (demo-config.json, written by
// `nox -s demo`): whether a query server answers at queryUrl, and what its tables hold. A page
// served without it (dist/ copied to any static server) runs in file mode.

export interface DemoConfig {
  server: boolean;
  queryUrl: string;
  tables: Record<string, { rows: number; columns: string[] }>;
  dataEnd: string | null;
}

export async function loadConfig(): Promise<DemoConfig> {
  const fallback: DemoConfig = { server: false, queryUrl: "", tables: {}, dataEnd: null };
  try {
    const response = await fetch("./demo-config.json", { cache: "no-store" });
    if (!response.ok) return fallback;
    return { ...fallback, ...((await response.json()) as Partial<DemoConfig>) };
  } catch {
    return fallback;
  }
}
