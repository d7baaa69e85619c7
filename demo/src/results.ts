// A result as a paged table: 100 rows a page (a million-row result renders one page, never all of
// it), the column's type under its name, numbers right-aligned, NULL unlike an empty string.
// The view keeps its size while a query runs (the old page stays, dimmed, under a "running"
// label), so nothing below it jumps.

import type { Table } from "apache-arrow";
import { h, formatCount } from "./dom";
import { ColumnReader, isNumeric, typeLabel } from "./format";

export class ResultView {
  readonly element: HTMLElement;
  private readonly meta: HTMLElement;
  private readonly scroller: HTMLElement;
  private readonly pager: HTMLElement;
  private readonly overlay: HTMLElement;
  private readonly pageLabel: HTMLElement;
  private readonly buttons: Record<"first" | "prev" | "next" | "last", HTMLButtonElement>;
  private table: Table | null = null;
  private readers: ColumnReader[] = [];
  private page = 0;

  constructor(
    private readonly pageSize = 100,
    extraClass = "",
  ) {
    this.meta = h("div", { class: "result-meta", "data-role": "result-meta" }, "no result yet");
    this.scroller = h("div", { class: "result-scroll", tabindex: 0, "aria-label": "result rows" });
    this.overlay = h("div", { class: "result-overlay", hidden: true }, "running…");
    const button = (label: string, role: string, title: string) =>
      h("button", { class: "pager-button", "data-role": role, title, disabled: true }, label);
    this.buttons = {
      first: button("«", "first", "first page"),
      prev: button("‹", "prev", "previous page"),
      next: button("›", "next", "next page"),
      last: button("»", "last", "last page"),
    };
    this.pageLabel = h("span", { class: "pager-label", "data-role": "page-label" }, "");
    this.pager = h(
      "div",
      { class: "pager" },
      this.buttons.first,
      this.buttons.prev,
      this.pageLabel,
      this.buttons.next,
      this.buttons.last,
    );
    this.buttons.first.addEventListener("click", () => this.goto(0));
    this.buttons.prev.addEventListener("click", () => this.goto(this.page - 1));
    this.buttons.next.addEventListener("click", () => this.goto(this.page + 1));
    this.buttons.last.addEventListener("click", () => this.goto(this.pages - 1));
    this.scroller.addEventListener("keydown", (event: KeyboardEvent) => {
      if (event.key === "PageDown" && event.altKey) this.goto(this.page + 1);
      if (event.key === "PageUp" && event.altKey) this.goto(this.page - 1);
    });
    this.element = h(
      "div",
      { class: `result ${extraClass}`.trim(), "data-role": "result" },
      this.meta,
      h("div", { class: "result-body" }, this.scroller, this.overlay),
      this.pager,
    );
  }

  get rows(): number {
    return this.table?.numRows ?? 0;
  }

  get pages(): number {
    return Math.max(1, Math.ceil(this.rows / this.pageSize));
  }

  setRunning(running: boolean, label = "running…"): void {
    this.element.classList.toggle("running", running);
    this.overlay.hidden = !running;
    this.overlay.textContent = label;
    this.element.setAttribute("aria-busy", String(running));
  }

  show(table: Table, summary: string): void {
    this.table = table;
    this.readers = table.schema.fields.map((field, i) => new ColumnReader(table.getChildAt(i)!, field.type));
    this.meta.textContent = summary;
    this.meta.classList.remove("error");
    this.goto(0);
  }

  clear(text = "no result yet"): void {
    this.table = null;
    this.readers = [];
    this.meta.textContent = text;
    this.scroller.replaceChildren();
    this.updatePager();
  }

  goto(page: number): void {
    if (!this.table) return;
    this.page = Math.min(Math.max(0, page), this.pages - 1);
    this.render();
  }

  private render(): void {
    const table = this.table!;
    const fields = table.schema.fields;
    const numeric = fields.map((f) => isNumeric(f.type));
    const head = h(
      "tr",
      {},
      h("th", { class: "rownum", scope: "col" }, "#"),
      ...fields.map((field, i) =>
        h(
          "th",
          { scope: "col", class: numeric[i] ? "num" : undefined },
          h("span", { class: "col-name" }, field.name),
          h("span", { class: "col-type", "data-role": "col-type" }, typeLabel(field.type)),
        ),
      ),
    );
    const body = h("tbody");
    const start = this.page * this.pageSize;
    const end = Math.min(this.rows, start + this.pageSize);
    const fragment = document.createDocumentFragment();
    for (let row = start; row < end; row++) {
      const tr = h("tr", {}, h("td", { class: "rownum" }, String(row + 1)));
      for (const reader of this.readers) {
        const cell = reader.cell(row);
        const td = document.createElement("td");
        td.className = cell.kind;
        if (cell.kind === "empty") td.title = "empty string";
        else if (cell.kind === "null") td.title = "NULL";
        else if (cell.text.length > 40) td.title = cell.text;
        td.textContent = cell.text;
        tr.append(td);
      }
      fragment.append(tr);
    }
    body.append(fragment);
    const grid = h("table", { class: "grid" }, h("thead", {}, head), body);
    this.scroller.replaceChildren(grid);
    this.scroller.scrollTop = 0;
    this.updatePager();
  }

  private updatePager(): void {
    const rows = this.rows;
    const start = this.page * this.pageSize;
    const end = Math.min(rows, start + this.pageSize);
    this.pageLabel.textContent = rows
      ? `rows ${formatCount(start + 1)}–${formatCount(end)} of ${formatCount(rows)} · page ${formatCount(this.page + 1)} of ${formatCount(this.pages)}`
      : "";
    const atStart = !this.table || this.page === 0;
    const atEnd = !this.table || this.page >= this.pages - 1;
    this.buttons.first.disabled = this.buttons.prev.disabled = atStart;
    this.buttons.next.disabled = this.buttons.last.disabled = atEnd;
  }
}
