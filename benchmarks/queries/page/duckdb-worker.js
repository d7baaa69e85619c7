// DuckDB-WASM's worker (?worker=URL, its eh bundle's duckdb-browser-eh.worker.js), run unchanged,
// plus one thing: on a message {benchMemory: true} with a port, the byteLength of its wasm memory
// goes back on that port (the page cannot see memory in a worker). The message never reaches
// DuckDB's own handler, and the reply never reaches AsyncDuckDB's.

const memories = new Set();

// The memories among an object's own data properties. Not Object.values: it runs getters, and
// emscripten's import object has some (reading them broke DuckDB's instantiation).
const memoriesIn = (object) => {
  if (!object || typeof object !== "object") return [];
  const found = [];
  for (const key of Object.getOwnPropertyNames(object)) {
    const descriptor = Object.getOwnPropertyDescriptor(object, key);
    if (descriptor && "value" in descriptor && descriptor.value instanceof WebAssembly.Memory) found.push(descriptor.value);
  }
  return found;
};

const note = (imports, instance) => {
  const namespaces = imports && typeof imports === "object" ? Object.getOwnPropertyNames(imports) : [];
  for (const name of namespaces) {
    const descriptor = Object.getOwnPropertyDescriptor(imports, name);
    if (descriptor && "value" in descriptor) memoriesIn(descriptor.value).forEach((m) => memories.add(m));
  }
  if (instance) memoriesIn(instance.exports).forEach((m) => memories.add(m));
};

const instantiate = WebAssembly.instantiate;
WebAssembly.instantiate = function (source, imports, ...rest) {
  return instantiate.call(WebAssembly, source, imports, ...rest).then((result) => {
    note(imports, result instanceof WebAssembly.Instance ? result : result.instance);
    return result;
  });
};
const instantiateStreaming = WebAssembly.instantiateStreaming;
if (instantiateStreaming) {
  WebAssembly.instantiateStreaming = function (source, imports, ...rest) {
    return instantiateStreaming.call(WebAssembly, source, imports, ...rest).then((result) => {
      note(imports, result.instance);
      return result;
    });
  };
}

// Registered before DuckDB's worker sets its onmessage: this listener runs first.
self.addEventListener("message", (event) => {
  if (!event.data || event.data.benchMemory !== true) return;
  event.stopImmediatePropagation();
  const bytes = Math.max(0, ...Array.from(memories, (memory) => memory.buffer.byteLength));
  event.ports[0].postMessage(memories.size ? bytes : null);
});

importScripts(new URL(self.location.href).searchParams.get("worker"));
