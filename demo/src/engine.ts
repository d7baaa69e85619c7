// The engine, as a user of the npm package loads it: AsyncQueryEngine (the engine in a Web
// Worker, so a long query never freezes the page), imported lazily with import(): the page's
// entry chunk has no engine code, and the module (the package's .wasm asset) is fetched by the
// worker on first use.
//
// The worker is the package's engine_worker.js, started through our engine_host.ts (the
// documented `createWorker` option) so that the page can also ask the worker what the module
// download cost (the worker's resource timing) and, for engines without memory_usage(), how big
// its WebAssembly memory is.

import type { AsyncQueryEngine } from "datafusion-wasm/async_engine.js";
import packageJson from "datafusion-wasm/package.json";

/** memory_usage() of the engine (added after this page was written; feature-detected). */
export interface MemoryUsage {
  wasm_memory_bytes: number;
  tables_bytes: number;
  limit_bytes: number | null;
  tables: Array<{ name: string; rows: number; bytes: number; kind?: "table" | "view" }>;
}

type WithMemory = AsyncQueryEngine & { memory_usage?: () => Promise<MemoryUsage> };

export interface ModuleTransfer {
  name: string;
  transferSize: number; // bytes on the wire, headers included (0: from the HTTP cache)
  encodedBodySize: number; // the body as sent (compressed)
  decodedBodySize: number; // the body after decompression: the module's size
}

interface HostReport {
  resources: ModuleTransfer[];
  wasmMemoryBytes: number | null;
}

export interface LoadedEngine {
  engine: WithMemory;
  packageVersion: string;
  datafusionVersion: string;
  loadMs: number;
  /** Asks the worker for its resource timing and WebAssembly memory size. */
  hostReport(): Promise<HostReport>;
}

export const PACKAGE_VERSION: string = packageJson.version;

export async function loadEngine(): Promise<LoadedEngine> {
  const started = performance.now();
  const { AsyncQueryEngine } = await import("datafusion-wasm/async_engine.js");
  let worker: Worker | null = null;
  const engine: WithMemory = new AsyncQueryEngine({
    createWorker: () => {
      worker = new Worker(new URL("./engine_host.ts", import.meta.url), { type: "module", name: "datafusion-wasm" });
      return worker;
    },
  });
  const { datafusionVersion } = await engine.ready();
  const loadMs = performance.now() - started;
  const hostReport = () =>
    new Promise<HostReport>((resolve) => {
      if (!worker) return resolve({ resources: [], wasmMemoryBytes: null });
      const channel = new MessageChannel();
      const timer = setTimeout(() => resolve({ resources: [], wasmMemoryBytes: null }), 2000);
      channel.port1.onmessage = (event: MessageEvent<HostReport>) => {
        clearTimeout(timer);
        resolve(event.data);
      };
      // engine_worker.js ignores messages of types it does not know; engine_host.ts answers this one.
      worker.postMessage({ type: "demo-host-report", port: channel.port2 }, [channel.port2]);
    });
  return { engine, packageVersion: PACKAGE_VERSION, datafusionVersion, loadMs, hostReport };
}

/** memory_usage() when the engine has it, else null (engines built before it). */
export async function memoryUsage(engine: WithMemory): Promise<MemoryUsage | null> {
  if (typeof engine.memory_usage === "function") return engine.memory_usage();
  return null;
}
