// Builds dist/rankfeed.min.js (a script tag's global `rankfeed`) and dist/rankfeed.mjs (ES module, for bundlers).
import { build } from "esbuild";

const common = { entryPoints: ["src/index.ts"], bundle: true, target: "es2020", legalComments: "none" };
await build({ ...common, format: "iife", globalName: "rankfeed", minify: true, outfile: "dist/rankfeed.min.js" });
await build({ ...common, format: "esm", outfile: "dist/rankfeed.mjs" });
