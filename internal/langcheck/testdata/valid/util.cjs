"use strict";
// CommonJS: require, module.exports, a top-level return guard.
const path = require("path");
if (require.main !== module) {
  module.exports = { join: (...parts) => path.join(...parts) };
  return;
}
const args = process.argv.slice(2);
console.log(args.length ? path.resolve(...args) : process.cwd());
