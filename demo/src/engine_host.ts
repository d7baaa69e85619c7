// The engine's worker: the package's engine_worker.js (which answers AsyncQueryEngine's calls),
// plus one message of the demo's own, answered on a MessagePort of its own so that it never
// crosses AsyncQueryEngine's protocol: what the module download cost (this worker fetched it,
// so only its resource timing knows) and the size of the engine's WebAssembly memory.
import "datafusion-wasm/engine_worker.js";
import init from "datafusion-wasm";

self.addEventListener("message", (event: MessageEvent) => {
  const message = event.data;
  if (!message || message.type !== "demo-host-report" || !(message.port instanceof MessagePort)) return;
  const port: MessagePort = message.port;
  const resources = performance
    .getEntriesByType("resource")
    .filter((entry) => entry.name.split("?")[0].endsWith(".wasm"))
    .map((entry) => {
      const timing = entry as PerformanceResourceTiming;
      return {
        name: timing.name,
        transferSize: timing.transferSize,
        encodedBodySize: timing.encodedBodySize,
        decodedBodySize: timing.decodedBodySize,
      };
    });
  // init() of an already initialised glue returns its exports at once (no second instance):
  // engine_worker.js initialised it before it reported ready.
  init()
    .then((exports) => port.postMessage({ resources, wasmMemoryBytes: exports.memory.buffer.byteLength }))
    .catch(() => port.postMessage({ resources, wasmMemoryBytes: null }));
});
