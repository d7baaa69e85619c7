// The status bar: engine version, what the module cost to download, how long the engine took to
// load, its WebAssembly memory, and the tables it holds with their sizes. Memory and table sizes
// come from the engine's memory_usage() when it has one; otherwise from table_names(), the
// worker's memory size, and the IPC bytes the page registered (marked "IPC").

import { byId, formatBytes, formatCount, formatMs, h } from "./dom";
import { memoryUsage, type LoadedEngine } from "./engine";

/** What the page knows about a table it registered, for engines without memory_usage(). */
export interface KnownTable {
  rows: number;
  ipcBytes: number;
}

const HEAVY_TABLES_BYTES = 100e6;

export class StatusBar {
  private readonly el = byId("statusbar");
  private generation = 0;

  loading(what: string): void {
    this.el.replaceChildren(h("span", { "data-role": "engine-state" }, what));
  }

  failed(message: string): void {
    this.el.replaceChildren(h("span", { class: "status-error", "data-role": "engine-state" }, message));
  }

  /** Redraws from the engine's current state; `known` is the page's record of its tables. */
  async refresh(loaded: LoadedEngine, known: Map<string, KnownTable>): Promise<void> {
    const generation = ++this.generation;
    const [report, usage, names] = await Promise.all([
      loaded.hostReport(),
      memoryUsage(loaded.engine).catch(() => null),
      loaded.engine.table_names().catch(() => [] as string[]),
    ]);
    if (generation !== this.generation) return; // a newer refresh is on its way
    const module = report.resources[report.resources.length - 1];
    const moduleText = module
      ? module.transferSize === 0 && module.encodedBodySize > 0
        ? `module ${formatBytes(module.encodedBodySize)} (HTTP cache; ${formatBytes(module.decodedBodySize)} raw)`
        : `module ${formatBytes(module.encodedBodySize)} transferred (${formatBytes(module.decodedBodySize)} raw)`
      : "module size unknown";
    const memoryBytes = usage ? usage.wasm_memory_bytes : report.wasmMemoryBytes;
    const memoryText =
      memoryBytes == null
        ? "wasm memory ?"
        : `wasm memory ${formatBytes(memoryBytes)}` + (usage ? ` · tables ${formatBytes(usage.tables_bytes)}` : "") +
          (usage?.limit_bytes ? ` of ${formatBytes(usage.limit_bytes)} allowed` : "");
    // Seed 001's memory warning: past 100 MB of tables a browser tab starts to feel it.
    const heavy = usage !== null && usage.tables_bytes > HEAVY_TABLES_BYTES;
    const tables = usage
      ? usage.tables.map((t) => ({ name: t.name, view: t.kind === "view", rows: t.rows, bytes: t.bytes, ipc: false }))
      : names.map((name) => ({ name, view: false, rows: known.get(name)?.rows ?? NaN, bytes: known.get(name)?.ipcBytes ?? NaN, ipc: true }));
    const tableItems = tables.length
      ? tables.map((t) =>
          h(
            "span",
            { class: "status-table", "data-role": "status-table", "data-name": t.name, "data-rows": t.rows, "data-bytes": t.bytes },
            h("b", {}, t.name),
            t.view ? " (view)" : "",
            ` ${Number.isNaN(t.rows) ? "?" : formatCount(t.rows)} rows, ${Number.isNaN(t.bytes) ? "?" : formatBytes(t.bytes)}${t.ipc ? " IPC" : ""}`,
          ),
        )
      : [h("span", { class: "muted" }, "none")];
    this.el.replaceChildren(
      h("span", { "data-role": "engine-version" }, `datafusion-wasm ${loaded.packageVersion} · DataFusion ${loaded.datafusionVersion}`),
      h("span", { "data-role": "module-size", "data-encoded": module?.encodedBodySize ?? "", "data-decoded": module?.decodedBodySize ?? "" }, moduleText),
      h("span", { "data-role": "load-time", "data-ms": Math.round(loaded.loadMs) }, `loaded in ${formatMs(loaded.loadMs)}`),
      h(
        "span",
        { "data-role": "wasm-memory", "data-bytes": memoryBytes ?? "", class: heavy ? "status-warning" : undefined, title: heavy ? "over 100 MB of tables: drop the ones you no longer need" : undefined },
        memoryText,
      ),
      h("span", { class: "status-tables", "data-role": "tables" }, h("span", { class: "muted" }, "tables: "), ...tableItems),
    );
  }
}
