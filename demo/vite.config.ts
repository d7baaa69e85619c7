// The demo page's build (docs/demo.md). The engine is the npm package "datafusion-wasm", installed
// from the tarball packed out of artifacts/datafusion-wasm: Vite treats it like any dependency.
import { defineConfig } from "vite";

export default defineConfig({
  // Relative asset URLs: dist/ works from any path on any static server, not only at "/".
  base: "./",
  build: {
    target: "es2022",
    // The polyfill would be an inline <script> in index.html, which the page's CSP
    // (script-src 'self' 'wasm-unsafe-eval') refuses; every browser the engine runs in
    // (SIMD128: Chrome 91, Firefox 89, Safari 16.4) supports modulepreload or ignores it harmlessly.
    modulePreload: { polyfill: false },
    // The engine's glue is one chunk of its own (lazy); the 20 MB module is an asset, not a chunk.
    chunkSizeWarningLimit: 2048,
    reportCompressedSize: false, // the toolchain precompresses and reports sizes itself
  },
  // The package lists engine_worker.js under sideEffects, so the import of it in our own worker
  // (src/engine_host.ts) survives tree-shaking.
  worker: { format: "es" },
  // Vite's dependency pre-bundling would copy the package and lose the .wasm beside its glue.
  optimizeDeps: { exclude: ["datafusion-wasm"] },
});
