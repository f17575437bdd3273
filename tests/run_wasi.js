// tests/run_wasi.js — runs a wasm32-wasi program (simclr.wasm) under Node's built-in WASI:
//   node tests/run_wasi.js simclr.wasm ARGUMENTS...
// The current folder is the program's "." (relative paths work as for a native program) and
// /tmp its /tmp; the exit status is the program's. Node 20 marks WASI experimental (a warning
// on stderr).
'use strict';
const fs = require('fs');
const { WASI } = require('wasi');

const [program, ...args] = process.argv.slice(2);
if (!program) {
    console.error('usage: node tests/run_wasi.js PROGRAM.wasm ARGUMENTS...');
    process.exit(2);
}
const wasi = new WASI({
    version: 'preview1',
    args: [program, ...args],
    env: {},
    preopens: { '.': process.cwd(), '/tmp': '/tmp' },
    returnOnExit: true,
});
(async () => {
    const module = await WebAssembly.compile(fs.readFileSync(program));
    const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
    process.exitCode = wasi.start(instance);
})().catch((error) => {
    console.error(`run_wasi: ${error.message}`);
    process.exitCode = 1;
});
