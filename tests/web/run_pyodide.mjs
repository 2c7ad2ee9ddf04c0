// Run Python inside Pyodide under Node.js, with embind-py installed from its wheel and
// generated modules on sys.path: what a user does, with nothing fetched from the network.
//
//   node run_pyodide.mjs --pyodide DIR [--wheel W.whl]... [--path DIR]... (--code PY | --file F.py)
//                        [--timeout SECONDS]
//
// --path copies the files of DIR (NAME.py + NAME.wasm, ...) into /embind/<n> in Pyodide's
// file system and puts that folder on sys.path. Exit status: 0, 1 if the Python code raised
// (its traceback on stderr), 2 for bad arguments, 124 when --timeout (default 120 s) passed.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

function parse(argv) {
  const out = { wheel: [], path: [], timeout: 120 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${k} needs a value`);
    i++;
    if (k === "--pyodide") out.pyodide = v;
    else if (k === "--wheel") out.wheel.push(v);
    else if (k === "--path") out.path.push(v);
    else if (k === "--code") out.code = v;
    else if (k === "--file") out.code = fs.readFileSync(v, "utf8");
    else if (k === "--timeout") out.timeout = Number(v);
    else throw new Error(`unknown argument ${k}`);
  }
  if (!out.pyodide || out.code === undefined) throw new Error("--pyodide and --code/--file are required");
  return out;
}

let args;
try {
  args = parse(process.argv.slice(2));
} catch (e) {
  console.error(`run_pyodide: ${e.message}`);
  process.exit(2);
}
const timer = setTimeout(() => {
  console.error(`run_pyodide: timed out after ${args.timeout} s`);
  process.exit(124);
}, args.timeout * 1000);

// Errors are reported by message: Node would otherwise print the line of minified
// pyodide.asm.mjs they came from, a megabyte long.
let status = 0;
try {
  const dir = path.resolve(args.pyodide);
  const { loadPyodide } = await import(pathToFileURL(path.join(dir, "pyodide.mjs")).href);
  const py = await loadPyodide({ indexURL: dir + path.sep });
  for (const w of args.wheel) py.unpackArchive(new Uint8Array(fs.readFileSync(w)), "wheel");
  args.path.forEach((d, n) => {
    const target = `/embind/${n}`;
    py.FS.mkdirTree(target);
    for (const f of fs.readdirSync(d)) {
      const src = path.join(d, f);
      if (fs.statSync(src).isFile()) py.FS.writeFile(`${target}/${f}`, new Uint8Array(fs.readFileSync(src)));
    }
    py.runPython(`import sys; sys.path.insert(0, ${JSON.stringify(target)})`);
  });
  try {
    await py.runPythonAsync(args.code);
  } finally {
    py.runPython("import sys; sys.stdout.flush(); sys.stderr.flush()");
  }
} catch (e) {
  console.error(String((e && e.message) || e).slice(0, 20000));
  status = 1;
}
clearTimeout(timer);
process.exit(status);
