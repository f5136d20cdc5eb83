#!/usr/bin/env node
// A native-solc stand-in backed by solcjs (the WebAssembly build from npm).
//
// No native solc can be downloaded on an offline machine, but py-solc-x (used by
// ape-solidity) and forge only need two calls from a `solc` executable:
//   solc --version
//   solc --standard-json [--base-path DIR] [--include-path DIR]... [--allow-paths ...]
// This launcher answers exactly those, resolving imports the way native solc does:
// relative to the base path first, then each include path.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require(path.join(__dirname, "..", "node_modules", "solc"));

function usage(message) {
  process.stderr.write(`carechain solc launcher: ${message}\n` +
    "supported: --version | --standard-json [--base-path DIR] [--include-path DIR] [--allow-paths P]\n");
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, includePaths: [], inputFile: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const takeValue = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--version") opts.version = true;
    else if (arg === "--standard-json") opts.standardJson = true;
    else if (arg === "--base-path") opts.basePath = takeValue();
    else if (arg === "--include-path") opts.includePaths.push(takeValue());
    else if (arg === "--allow-paths") takeValue(); // solcjs reads only through our callback
    else if (arg.startsWith("--base-path=")) opts.basePath = arg.slice(12);
    else if (arg.startsWith("--include-path=")) opts.includePaths.push(arg.slice(15));
    else if (arg.startsWith("--allow-paths=")) continue;
    else if (arg === "--no-color" || arg === "--pretty-json") continue;
    else if (!arg.startsWith("-") && opts.standardJson && !opts.inputFile) opts.inputFile = arg;
    else usage(`unsupported argument ${arg}`);
  }
  return opts;
}

function makeImportResolver(roots) {
  return function findImports(importPath) {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : roots.map((root) => path.resolve(root, importPath));
    for (const candidate of candidates) {
      try {
        return { contents: fs.readFileSync(candidate, "utf8") };
      } catch (_err) {
        // try the next root
      }
    }
    return { error: `File not found: ${importPath} (looked in ${roots.join(", ")})` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    process.stdout.write(
      `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) usage("nothing to do");
  const input = fs.readFileSync(opts.inputFile || 0, "utf8");
  const roots = [opts.basePath || process.cwd(), ...opts.includePaths];
  const output = solc.compile(input, { import: makeImportResolver(roots) });
  process.stdout.write(output);
}

main();
