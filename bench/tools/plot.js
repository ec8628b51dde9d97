// Redraws a saved run's plot: node bench/tools/plot.js bench/results/<run>.json [out.svg]
import { readFileSync, writeFileSync } from 'node:fs';
import { latencyPlot } from '../lib/plot.js';

const [input, output = input.replace(/\.json$/, '.svg')] = process.argv.slice(2);
if (!input) {
  console.error('usage: node bench/tools/plot.js <results.json> [out.svg]');
  process.exit(2);
}
const run = JSON.parse(readFileSync(input, 'utf8'));
const title = `${run.date} (${run.mode}), commit ${run.code?.commit ?? '?'}: ${run.machine?.description ?? ''}`;
writeFileSync(output, latencyPlot(run.results, title));
console.log(`wrote ${output}`);
