// The page's entry: no engine code here (the engine is import()ed on first use, engine.ts).
import "./style.css";
import { loadConfig } from "./config";
import { byId, messageOf } from "./dom";
import { LocalQueryScreen } from "./local_query";
import { Notebook } from "./notebook";
import { StatusBar } from "./status";
import { resolveRange, type TimeRange } from "./timerange";
import { Workspace } from "./workspace";

// CSP violations, recorded from the first moment this module runs: the page must cause none
// (tests/browser/test_demo.py reads them; the console shows them too).
interface Violation {
  directive: string;
  blocked: string;
  sample: string;
}
const violations: Violation[] = [];
document.addEventListener("securitypolicyviolation", (event: SecurityPolicyViolationEvent) => {
  violations.push({ directive: event.effectiveDirective, blocked: event.blockedURI, sample: event.sample });
});

type Mode = "local" | "notebook";

async function main(): Promise<void> {
  const config = await loadConfig();
  const status = new StatusBar();
  let mode: Mode = "local";
  const timeFrom = byId<HTMLInputElement>("time-from");
  const timeTo = byId<HTMLInputElement>("time-to");
  const resolved = byId("time-resolved");
  const timeRange = (): TimeRange => resolveRange(timeFrom.value, timeTo.value);
  const showRange = () => {
    try {
      const range = timeRange();
      const begin = range.begin.slice(0, 19).replace("T", " ");
      const end = range.end.slice(0, 19).replace("T", " ");
      // The end's date only when it differs: the header stays one line at 1280 px.
      resolved.textContent = `${begin} → ${end.slice(0, 10) === begin.slice(0, 10) ? end.slice(11) : end} UTC`;
      resolved.title = `$begin = '${range.begin}', $end = '${range.end}'`;
      resolved.classList.remove("status-error");
    } catch (error) {
      resolved.textContent = messageOf(error);
      resolved.classList.add("status-error");
    }
  };
  timeFrom.addEventListener("input", showRange);
  timeTo.addEventListener("input", showRange);
  showRange();
  setInterval(showRange, 15_000); // "now" moves

  const local = new Workspace("local", status, () => mode === "local");
  const notebookSpace = new Workspace("notebook", status, () => mode === "notebook");
  const localScreen = new LocalQueryScreen(byId("local"), config, local, timeRange);
  let notebook: Notebook | null = null;

  const tabs: Record<Mode, HTMLButtonElement> = { local: byId("tab-local"), notebook: byId("tab-notebook") };
  const select = (next: Mode) => {
    mode = next;
    for (const [name, tab] of Object.entries(tabs) as [Mode, HTMLButtonElement][]) {
      tab.setAttribute("aria-selected", String(name === next));
      byId(name).hidden = name !== next;
    }
    if (next === "notebook" && !notebook) notebook = new Notebook(byId("notebook"), config, notebookSpace, timeRange);
    const space = next === "local" ? local : notebookSpace;
    if (space.ready) void space.refreshStatus();
    else space.load().catch(() => undefined); // the status bar says why
  };
  tabs.local.addEventListener("click", () => select("local"));
  tabs.notebook.addEventListener("click", () => select("notebook"));
  // The tab list's keys (WAI-ARIA tabs pattern): left and right move between the two modes.
  for (const tab of Object.values(tabs)) {
    tab.addEventListener("keydown", (event: KeyboardEvent) => {
      if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
      const next: Mode = mode === "local" ? "notebook" : "local";
      select(next);
      tabs[next].focus();
    });
  }

  // For tests and the curious: the page's state, read-only.
  Object.assign(window, { demo: { config, violations, local, notebookSpace, localScreen, notebook: () => notebook } });

  // First paint without the engine, then load it: the 4 MB module does not delay the page.
  requestAnimationFrame(() => setTimeout(() => local.load().catch(() => undefined), 0));
}

main().catch((error: unknown) => {
  byId("statusbar").textContent = `the page failed to start: ${messageOf(error)}`;
});
