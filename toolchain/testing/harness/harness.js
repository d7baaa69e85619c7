// The page the pytest plugin (toolchain/testing/pytest_plugin.py) opens for every test:
//
//   index.html?module=URL [&script=URL ...] [&extension=URL ...]
//
// module     the wasm-bindgen JS glue (--target web) of the package under test; it is imported,
//            its default export (the init function) instantiates the .wasm beside it.
// script     classic scripts loaded first, in order (UMD bundles that set globals).
// extension  ES modules imported last, in order; a default export is called with
//            {harness, pkg, wasmExports, moduleUrl} and what it returns is added to the info.
//
// Globals: window.pkg (the glue module: the package's exports), window.wasmExports (the raw
// instance exports, memory included), window.harness (helpers; harness.ready resolves to
// {initMs, moduleUrl, exports, ...} once everything has loaded, or rejects with why not).

const harness = window.harness;
const params = new URLSearchParams(location.search);
const absolute = (url) => new URL(url, location.href).href;

harness.moduleUrl = params.get("module") ? absolute(params.get("module")) : null;

harness.base64ToBytes = (b64) => {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
};

harness.bytesToBase64 = (bytes) => {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
};

harness.loadScript = (url) => new Promise((resolve, reject) => {
  const element = document.createElement("script");
  element.src = url;
  element.onload = () => resolve();
  element.onerror = () => reject(new Error(`the script ${url} did not load`));
  document.head.appendChild(element);
});

async function load() {
  if (!harness.moduleUrl) throw new Error("the harness page needs ?module=URL (the package's JS glue)");
  for (const url of params.getAll("script")) await harness.loadScript(url);
  const started = performance.now();
  const pkg = await import(harness.moduleUrl);
  window.pkg = pkg;
  window.wasmExports = typeof pkg.default === "function" ? await pkg.default() : undefined;
  const info = {initMs: performance.now() - started, moduleUrl: harness.moduleUrl, exports: Object.keys(pkg).sort()};
  for (const url of params.getAll("extension")) {
    const extension = await import(absolute(url));
    if (typeof extension.default === "function") {
      Object.assign(info, (await extension.default({harness, pkg, wasmExports: window.wasmExports, moduleUrl: harness.moduleUrl})) || {});
    }
  }
  return info;
}

load().then(harness.settle.resolve, harness.settle.reject);
