// Creates the UI tests' API keys on the test Cellflow server (through its admin socket, as an operator
// would with `cellflow keys create`), before any test runs. Keys go to .tmp/keys.json for the tests.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

module.exports = async function globalSetup() {
  const dataDir = process.env.CELLFLOW_TEST_DATA_DIR;
  const bin = path.resolve(
    __dirname,
    '..',
    '..',
    '..',
    'server',
    'bin',
    'cellflow.js'
  );
  const create = (workspace, name) => {
    const out = execFileSync(
      process.execPath,
      [
        bin,
        'keys',
        'create',
        '--workspace',
        workspace,
        '--name',
        name,
        '--data-dir',
        dataDir
      ],
      { encoding: 'utf8' }
    );
    return out.trim().split('\n').pop();
  };
  const keys = { main: create('ui-tests', 'galata') };
  fs.writeFileSync(path.join(dataDir, '..', 'keys.json'), JSON.stringify(keys));
};
