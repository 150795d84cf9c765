// Jest transformer: TypeScript to CommonJS with esbuild (no type checking here; tsc does that).
const { transformSync } = require('esbuild');
module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, {
      loader: 'ts', format: 'cjs', target: 'node18', sourcefile: filename, sourcemap: 'inline',
      // Modules load some dependencies with import() (on first use); jest runs CommonJS.
      supported: { 'dynamic-import': false },
    });
    return { code, map };
  },
};
