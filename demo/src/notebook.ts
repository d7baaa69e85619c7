// Notebook mode (seed 001): cells top to bottom, each remote (SQL on the query server) or local
// (SQL in the browser engine), each registering its result under its name so that the cells
// below can select from it. Re-running a cell replaces its table; renaming a cell moves its
// table to the new name; deleting a cell deregisters its table; "Run all" resets the engine
// first, then runs every cell in order. A cell that selects from a table that is not there
// shows the engine's error, and a failed cell's old table is removed (the cells below must not
// read stale data without knowing).

import { tableFromIPC } from "apache-arrow";
import { fetchQueryIPC } from "datafusion-wasm/fetch_query_ipc.js";
import type { DemoConfig } from "./config";
import { formatBytes, formatCount, formatMs, h, messageOf, onCtrlEnter } from "./dom";
import { ResultView } from "./results";
import { substituteTimeRange, type TimeRange } from "./timerange";
import type { Workspace } from "./workspace";

type Source = "remote" | "local";

interface CellSpec {
  name: string;
  source: Source;
  sql: string;
}

// The seed's example notebook (001, "Example Notebook").
export const SERVER_CELLS: CellSpec[] = [
  {
    name: "errors",
    source: "remote",
    sql: "SELECT time, host, level, msg\nFROM log_entries\nWHERE level IN ('ERROR', 'FATAL')\nAND time BETWEEN '$begin' AND '$end'",
  },
  {
    name: "by_host",
    source: "local",
    sql: "SELECT host, count(*) AS error_count\nFROM errors\nGROUP BY host\nORDER BY error_count DESC, host",
  },
  { name: "error_chart", source: "local", sql: "SELECT * FROM by_host LIMIT 10" },
];
export const FILE_CELLS: CellSpec[] = [
  { name: "numbers", source: "local", sql: "SELECT value AS n, value * value AS square FROM range(1, 101)" },
  { name: "even", source: "local", sql: "SELECT * FROM numbers WHERE n % 2 = 0" },
];

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

class Cell {
  readonly element: HTMLElement;
  readonly nameInput: HTMLInputElement;
  readonly sourceSelect: HTMLSelectElement;
  readonly sqlInput: HTMLTextAreaElement;
  readonly runButton: HTMLButtonElement;
  readonly deleteButton: HTMLButtonElement;
  readonly stats: HTMLElement;
  readonly error: HTMLElement;
  readonly result = new ResultView(10, "cell-result");
  /** The name its table is registered under (null: none registered). */
  registered: string | null = null;
  /** The name the cell had before the edit in progress. */
  committedName: string;

  constructor(spec: CellSpec, serverAvailable: boolean) {
    this.committedName = spec.name;
    this.nameInput = h("input", { class: "cell-name", value: spec.name, spellcheck: "false", "aria-label": "cell name (its table's name)" });
    this.sourceSelect = h(
      "select",
      { class: "cell-source", "aria-label": "where the SQL runs" },
      h("option", { value: "remote", disabled: !serverAvailable }, "remote"),
      h("option", { value: "local" }, "local"),
    );
    this.sourceSelect.value = serverAvailable ? spec.source : "local";
    this.sqlInput = h("textarea", { class: "cell-sql", rows: Math.min(6, spec.sql.split("\n").length + 1), spellcheck: "false", "aria-label": "cell SQL" });
    this.sqlInput.value = spec.sql;
    this.runButton = h("button", { class: "cell-run primary", title: "Ctrl+Enter in the SQL" }, "Run");
    this.deleteButton = h("button", { class: "cell-delete", title: "delete the cell and deregister its table" }, "Delete");
    this.stats = h("span", { class: "stats cell-stats" });
    this.error = h("div", { class: "error cell-error", role: "alert", hidden: true });
    this.element = h(
      "article",
      { class: "cell", "data-cell": spec.name },
      h("div", { class: "cell-head" }, this.nameInput, this.sourceSelect, this.runButton, this.deleteButton, this.stats),
      this.sqlInput,
      this.error,
      this.result.element,
    );
  }

  get source(): Source {
    return this.sourceSelect.value as Source;
  }

  setError(message: string | null): void {
    this.error.hidden = message === null;
    this.error.textContent = message ?? "";
    this.element.classList.toggle("failed", message !== null);
  }
}

export class Notebook {
  private readonly cells: Cell[] = [];
  private readonly list = h("div", { class: "cells" });
  private readonly runAllButton = h("button", { id: "run-all", class: "primary", title: "reset the engine, then run every cell in order" }, "Run all");
  private readonly addButton = h("button", { id: "add-cell" }, "Add cell");
  private readonly summary = h("span", { id: "notebook-summary", class: "stats", "aria-live": "polite" });
  /** Cell operations run one after another (a rename must not interleave with a run). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    root: HTMLElement,
    private readonly config: DemoConfig,
    private readonly workspace: Workspace,
    private readonly timeRange: () => TimeRange,
  ) {
    root.append(
      h(
        "div",
        { class: "notebook-bar" },
        this.runAllButton,
        this.addButton,
        this.summary,
        h("span", { class: "muted hint" }, "each cell's result is a table named after the cell; cells select from the cells above"),
      ),
      this.list,
    );
    this.runAllButton.addEventListener("click", () => void this.runAll());
    this.addButton.addEventListener("click", () => this.add());
    for (const spec of config.server ? SERVER_CELLS : FILE_CELLS) this.add(spec);
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  add(spec?: CellSpec): Cell {
    let n = this.cells.length + 1;
    while (this.cells.some((c) => c.committedName === `cell_${n}`)) n++;
    const cell = new Cell(spec ?? { name: `cell_${n}`, source: "local", sql: "SELECT 1 AS one" }, this.config.server);
    this.cells.push(cell);
    this.list.append(cell.element);
    cell.runButton.addEventListener("click", () => void this.run(cell));
    onCtrlEnter(cell.sqlInput, () => void this.run(cell));
    cell.deleteButton.addEventListener("click", () => void this.remove(cell));
    cell.nameInput.addEventListener("change", () => void this.rename(cell));
    onCtrlEnter(cell.nameInput, () => void this.run(cell));
    if (!spec) cell.sqlInput.focus();
    return cell;
  }

  private validName(cell: Cell, name: string): string | null {
    if (!NAME.test(name)) return `cell name ${JSON.stringify(name)}: use letters, digits and _ (not first), so SQL can name the table unquoted`;
    const other = this.cells.find((c) => c !== cell && c.committedName === name);
    if (other) return `cell name ${name}: another cell has it (a name is a table: each must be unique)`;
    return null;
  }

  rename(cell: Cell): Promise<void> {
    return this.serial(async () => {
      const name = cell.nameInput.value.trim();
      const old = cell.committedName;
      if (name === old) return;
      const invalid = this.validName(cell, name);
      if (invalid) {
        cell.setError(invalid);
        cell.nameInput.value = old;
        return;
      }
      cell.setError(null);
      cell.committedName = name;
      cell.element.dataset.cell = name;
      if (cell.registered) {
        // The table keeps its data under the new name: read out, registered anew, the old removed.
        try {
          const { engine } = await this.workspace.load();
          const ipc = await engine.read_table_ipc(cell.registered);
          await engine.register_table(name, ipc, { transfer: true });
          await engine.deregister_table(cell.registered);
          const known = this.workspace.known.get(cell.registered);
          this.workspace.known.delete(cell.registered);
          if (known) this.workspace.known.set(name, known);
          cell.registered = name;
          cell.stats.textContent = cell.stats.textContent?.replace(`→ table ${old}`, `→ table ${name}`) ?? "";
        } catch (error) {
          cell.setError(`renaming the table ${old} to ${name} failed: ${messageOf(error)}`);
        }
      }
      void this.workspace.refreshStatus();
    });
  }

  remove(cell: Cell): Promise<void> {
    return this.serial(async () => {
      const at = this.cells.indexOf(cell);
      if (at < 0) return;
      if (cell.registered) {
        const { engine } = await this.workspace.load();
        await engine.deregister_table(cell.registered).catch(() => undefined); // gone already (a reset)
        this.workspace.known.delete(cell.registered);
      }
      this.cells.splice(at, 1);
      cell.element.remove();
      void this.workspace.refreshStatus();
    });
  }

  run(cell: Cell): Promise<boolean> {
    return this.serial(() => this.runCell(cell));
  }

  runAll(): Promise<void> {
    return this.serial(async () => {
      this.runAllButton.disabled = true;
      const started = performance.now();
      try {
        const { engine } = await this.workspace.load();
        await engine.reset();
        this.workspace.known.clear();
        for (const cell of this.cells) cell.registered = null;
        let failed = 0;
        for (const cell of [...this.cells]) if (!(await this.runCell(cell))) failed += 1;
        this.summary.textContent =
          `ran ${this.cells.length} cells in ${formatMs(performance.now() - started)}` + (failed ? `, ${failed} failed` : "");
      } catch (error) {
        this.summary.textContent = `run all: ${messageOf(error)}`;
      } finally {
        this.runAllButton.disabled = false;
        this.summary.dataset.done = String(Number(this.summary.dataset.done ?? 0) + 1);
      }
    });
  }

  private async runCell(cell: Cell): Promise<boolean> {
    const name = cell.nameInput.value.trim();
    if (name !== cell.committedName) {
      const invalid = this.validName(cell, name);
      if (invalid) {
        cell.setError(invalid);
        return false;
      }
      cell.committedName = name;
      cell.element.dataset.cell = name;
    }
    cell.setError(null);
    cell.runButton.disabled = true;
    cell.result.setRunning(true);
    cell.stats.textContent = "running…";
    delete cell.stats.dataset.rows;
    const started = performance.now();
    try {
      const { engine } = await this.workspace.load();
      const sql = substituteTimeRange(cell.sqlInput.value, this.timeRange());
      let ipc: Uint8Array;
      if (cell.source === "remote") {
        ipc = await fetchQueryIPC({ sql }, undefined, { url: this.config.queryUrl });
        await engine.register_table(name, ipc); // copied: the page decodes the same bytes below
      } else {
        ipc = await engine.execute_and_register(sql, name);
      }
      if (cell.registered && cell.registered !== name) {
        await engine.deregister_table(cell.registered).catch(() => undefined);
        this.workspace.known.delete(cell.registered);
      }
      cell.registered = name;
      const table = tableFromIPC(ipc);
      this.workspace.known.set(name, { rows: table.numRows, ipcBytes: ipc.byteLength });
      const ms = performance.now() - started;
      cell.result.show(table, `${formatCount(table.numRows)} rows × ${table.numCols} columns · ${formatBytes(ipc.byteLength)} IPC`);
      cell.stats.textContent = `${cell.source}: ${formatCount(table.numRows)} rows in ${formatMs(ms)} → table ${name}`;
      cell.stats.dataset.rows = String(table.numRows);
      return true;
    } catch (error) {
      cell.stats.textContent = "";
      cell.result.clear("no result: the cell failed");
      if (cell.registered) {
        // Its old table would be stale: the cells below see it gone instead.
        const { engine } = await this.workspace.load();
        await engine.deregister_table(cell.registered).catch(() => undefined);
        this.workspace.known.delete(cell.registered);
        cell.registered = null;
      }
      cell.setError(messageOf(error));
      return false;
    } finally {
      cell.result.setRunning(false);
      cell.runButton.disabled = false;
      cell.stats.dataset.done = String(Number(cell.stats.dataset.done ?? 0) + 1); // completed runs: what a test waits for
      void this.workspace.refreshStatus();
    }
  }
}
