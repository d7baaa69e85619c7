// The Local Query screen of seed 000: a source query fetched from the query server and
// registered in the browser engine under a table name (or a dropped file, registered the same
// way), then a local query run in WebAssembly against it, its result as a paged table.

import { tableFromIPC } from "apache-arrow";
import { fetchQueryIPC } from "datafusion-wasm/fetch_query_ipc.js";
import type { DemoConfig } from "./config";
import { formatBytes, formatCount, formatMs, h, messageOf, onCtrlEnter } from "./dom";
import { fileToIPC } from "./files";
import { ResultView } from "./results";
import { substituteTimeRange, type TimeRange } from "./timerange";
import type { Workspace } from "./workspace";

// The seed's default config (000, "Default config").
export const DEFAULT_SOURCE_SQL = "SELECT process_id, exe, start_time, username, computer\nFROM processes\nLIMIT 100";
export const DEFAULT_TABLE = "data";
export const DEFAULT_LOCAL_SQL = "SELECT * FROM data LIMIT 10";

function errorBox(role: string): HTMLElement {
  return h("div", { class: "error", role: "alert", "data-role": role, hidden: true });
}

function showError(box: HTMLElement, message: string | null): void {
  box.hidden = message === null;
  box.textContent = message ?? "";
}

export class LocalQueryScreen {
  private readonly tableName = h("input", { id: "source-table", value: DEFAULT_TABLE, spellcheck: "false", "aria-label": "table name" });
  private readonly sourceSql = h("textarea", { id: "source-sql", rows: 4, spellcheck: "false", "aria-label": "source SQL (runs on the query server)" });
  private readonly fetchButton = h("button", { id: "fetch", class: "primary", title: "Ctrl+Enter in the source SQL" }, "Fetch & Register");
  private readonly sourceStats = h("span", { id: "source-stats", class: "stats", "aria-live": "polite" });
  private readonly sourceError = errorBox("source-error");
  private readonly fileInput = h("input", { id: "file-input", type: "file", accept: ".arrow,.arrows,.ipc,.feather,.csv,.tsv,.json,.ndjson,.jsonl" });
  private readonly localSql = h("textarea", { id: "local-sql", rows: 5, spellcheck: "false", "aria-label": "local SQL (runs in the browser)" });
  private readonly runButton = h("button", { id: "run", class: "primary", title: "Ctrl+Enter in the local SQL" }, "Run");
  private readonly localStats = h("span", { id: "local-stats", class: "stats", "aria-live": "polite" });
  private readonly localError = errorBox("local-error");
  private readonly result = new ResultView(100, "main-result");
  private fetching: AbortController | null = null;
  // Completed operations (success or failure), on the stats elements: what a test waits for.
  private fetches = 0;
  private runs = 0;

  constructor(
    root: HTMLElement,
    private readonly config: DemoConfig,
    private readonly workspace: Workspace,
    private readonly timeRange: () => TimeRange,
  ) {
    this.sourceSql.value = DEFAULT_SOURCE_SQL;
    this.localSql.value = DEFAULT_LOCAL_SQL;
    const drop = h(
      "label",
      { class: "dropzone", id: "dropzone", title: "Arrow IPC (stream or file), CSV or JSON; converted in the page" },
      h("span", {}, config.server ? "or drop a file here: " : "Drop a file here: "),
      h("span", { class: "muted" }, "Arrow IPC, CSV or JSON, registered under the table name "),
      this.fileInput,
    );
    const source = h(
      "div",
      { class: "panel source" },
      h("h2", {}, "Source", h("span", { class: "muted" }, config.server ? " · remote query, registered in the browser" : " · a file, registered in the browser")),
      h("label", { class: "inline" }, "table name ", this.tableName),
      config.server ? this.sourceSql : null,
      h("div", { class: "actions" }, config.server ? this.fetchButton : null, this.sourceStats),
      this.sourceError,
      drop,
    );
    const local = h(
      "div",
      { class: "panel local" },
      h("h2", {}, "Local query", h("span", { class: "muted" }, " · runs in WebAssembly")),
      this.localSql,
      h("div", { class: "actions" }, this.runButton, this.localStats),
      this.localError,
    );
    root.append(h("div", { class: "local-layout" }, h("div", { class: "editors" }, source, local), this.result.element));

    this.fetchButton.addEventListener("click", () => void this.fetchAndRegister());
    this.runButton.addEventListener("click", () => void this.run());
    onCtrlEnter(this.sourceSql, () => void this.fetchAndRegister());
    // Escape in the source SQL cancels a fetch in flight (the server sees the client go).
    this.sourceSql.addEventListener("keydown", (event: KeyboardEvent) => {
      if (event.key === "Escape" && this.fetching) {
        this.fetching.abort();
        this.sourceStats.textContent = "fetch cancelled";
      }
    });
    onCtrlEnter(this.localSql, () => void this.run());
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files?.[0];
      if (file) void this.registerFile(file);
    });
    drop.addEventListener("dragover", (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      const file = event.dataTransfer?.files[0];
      if (file) void this.registerFile(file);
    });
  }

  private name(): string {
    const name = this.tableName.value.trim();
    if (!name) throw new Error("give the table a name (it is what the local query selects FROM)");
    return name;
  }

  async fetchAndRegister(): Promise<void> {
    showError(this.sourceError, null);
    this.fetching?.abort();
    const controller = new AbortController();
    this.fetching = controller;
    this.fetchButton.disabled = true;
    this.sourceStats.textContent = "fetching…";
    delete this.sourceStats.dataset.rows;
    delete this.sourceStats.dataset.bytes;
    try {
      const name = this.name();
      const sql = substituteTimeRange(this.sourceSql.value, this.timeRange());
      const { engine } = await this.workspace.load();
      const started = performance.now();
      const ipc = await fetchQueryIPC({ sql }, controller.signal, { url: this.config.queryUrl });
      const fetched = performance.now();
      const bytes = ipc.byteLength;
      // transfer: the page keeps no copy (the bytes are the engine's now).
      const rows = await engine.register_table(name, ipc, { transfer: true });
      const registered = performance.now();
      this.workspace.known.set(name, { rows, ipcBytes: bytes });
      this.sourceStats.textContent =
        `rows: ${formatCount(rows)} (${formatBytes(bytes)}) · fetch ${formatMs(fetched - started)} + register ${formatMs(registered - fetched)}`;
      this.sourceStats.dataset.rows = String(rows);
      this.sourceStats.dataset.bytes = String(bytes);
    } catch (error) {
      if (controller.signal.aborted) return; // cancelled, or a newer fetch replaced this one
      this.sourceStats.textContent = "";
      showError(this.sourceError, messageOf(error));
    } finally {
      if (this.fetching === controller) {
        this.fetching = null;
        this.fetchButton.disabled = false;
        this.sourceStats.dataset.done = String(++this.fetches);
      }
      void this.workspace.refreshStatus();
    }
  }

  async registerFile(file: File): Promise<void> {
    showError(this.sourceError, null);
    this.sourceStats.textContent = `reading ${file.name}…`;
    delete this.sourceStats.dataset.rows;
    delete this.sourceStats.dataset.bytes;
    try {
      const name = this.name();
      const started = performance.now();
      const { ipc, format } = await fileToIPC(file);
      const converted = performance.now();
      const bytes = ipc.byteLength;
      const { engine } = await this.workspace.load();
      const loaded = performance.now();
      const rows = await engine.register_table(name, ipc, { transfer: true });
      const registered = performance.now();
      this.workspace.known.set(name, { rows, ipcBytes: bytes });
      this.sourceStats.textContent =
        `${file.name} (${format}) as ${name}: rows: ${formatCount(rows)} (${formatBytes(bytes)} IPC) · ` +
        `convert ${formatMs(converted - started)} + register ${formatMs(registered - loaded)}`;
      this.sourceStats.dataset.rows = String(rows);
      this.sourceStats.dataset.bytes = String(bytes);
    } catch (error) {
      this.sourceStats.textContent = "";
      showError(this.sourceError, `${file.name}: ${messageOf(error)}`);
    } finally {
      this.fileInput.value = "";
      this.sourceStats.dataset.done = String(++this.fetches);
      void this.workspace.refreshStatus();
    }
  }

  async run(): Promise<void> {
    showError(this.localError, null);
    this.runButton.disabled = true;
    this.result.setRunning(true);
    this.localStats.textContent = "running…";
    delete this.localStats.dataset.rows;
    try {
      const sql = substituteTimeRange(this.localSql.value, this.timeRange());
      const { engine } = await this.workspace.load();
      const started = performance.now();
      const ipc = await engine.execute_sql(sql);
      const ran = performance.now();
      const table = tableFromIPC(ipc);
      const decoded = performance.now();
      const summary =
        `${formatCount(table.numRows)} rows × ${table.numCols} columns · ${formatBytes(ipc.byteLength)} IPC · ` +
        `query ${formatMs(ran - started)} + decode ${formatMs(decoded - ran)}`;
      this.result.show(table, summary);
      this.localStats.textContent = `${formatCount(table.numRows)} rows in ${formatMs(decoded - started)}`;
      this.localStats.dataset.rows = String(table.numRows);
    } catch (error) {
      this.localStats.textContent = "";
      this.result.clear("no result: the statement failed");
      showError(this.localError, messageOf(error));
    } finally {
      this.result.setRunning(false);
      this.runButton.disabled = false;
      this.localStats.dataset.done = String(++this.runs);
      void this.workspace.refreshStatus();
    }
  }
}
