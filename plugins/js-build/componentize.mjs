// Builds a JavaScript policy plugin into a WebAssembly component through the
// componentize() API of @bytecodealliance/componentize-js (the `jco
// componentize` command line trips over paths here).
//
// Usage: node plugins/js-build/componentize.mjs SOURCE.js WIT_DIR WORLD OUT.wasm
//
// The engine's outbound HTTP (`fetch`) and incoming-request features are
// turned off: the host links no wasi:http, so a component importing it would
// not load. stdio, clocks and random stay on (the host links them), so that an
// exception is written to stderr before the trap.

import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

const [sourcePath, witPath, worldName, outPath] = process.argv.slice(2);
if (!sourcePath || !witPath || !worldName || !outPath) {
  console.error('usage: componentize.mjs SOURCE.js WIT_DIR WORLD OUT.wasm');
  process.exit(2);
}

const started = performance.now();
const { component } = await componentize({
  sourcePath: resolve(sourcePath),
  witPath: resolve(witPath),
  worldName,
  disableFeatures: ['http', 'fetch-event'],
});

const out = resolve(outPath);
await mkdir(dirname(out), { recursive: true });
const partial = `${out}.partial`;
await writeFile(partial, component);
await rename(partial, out);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.error(`componentize.mjs: wrote ${outPath} (${component.length} bytes) in ${seconds} s`);
