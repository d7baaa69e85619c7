// One engine and what the page knows about its tables. The Local Query screen and the notebook
// each have their own (the seed's "one engine per notebook": "run all" resets the notebook's
// engine and must not take the Local Query screen's table with it). The engine is loaded on
// first use; the status bar shows the workspace on screen.

import { messageOf } from "./dom";
import { loadEngine, type LoadedEngine } from "./engine";
import type { KnownTable, StatusBar } from "./status";

export class Workspace {
  readonly known = new Map<string, KnownTable>();
  private loading: Promise<LoadedEngine> | null = null;
  private loaded: LoadedEngine | null = null;

  constructor(
    readonly name: string,
    private readonly status: StatusBar,
    private readonly onScreen: () => boolean,
  ) {}

  get ready(): boolean {
    return this.loaded !== null;
  }

  load(): Promise<LoadedEngine> {
    if (!this.loading) {
      if (this.onScreen()) this.status.loading("loading the engine…");
      this.loading = loadEngine().then(
        (loaded) => {
          this.loaded = loaded;
          void this.refreshStatus();
          return loaded;
        },
        (error: unknown) => {
          this.loading = null; // the next use tries again
          const message = `the engine did not load: ${messageOf(error)}`;
          if (this.onScreen()) this.status.failed(message);
          throw new Error(message);
        },
      );
    }
    return this.loading;
  }

  async refreshStatus(): Promise<void> {
    if (this.loaded && this.onScreen()) await this.status.refresh(this.loaded, this.known);
  }
}
