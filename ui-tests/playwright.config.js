/**
 * Galata / Playwright configuration for Cellflow's UI tests.
 * The lab is the one from the project's .venv (PyPI JupyterLab 4.6); the browser is Debian's chromium,
 * because no browser download is possible on these machines.
 */
const path = require('path');
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

// CELLFLOW_LAB_VENV lets the wheel test point the same tests at a lab where the wheel is installed.
const venvBin = path.join(
  process.env.CELLFLOW_LAB_VENV || path.resolve(__dirname, '..', '.venv'),
  'bin'
);
const labPort = Number(process.env.CELLFLOW_TEST_LAB_PORT || 8888);
const serverPort = Number(process.env.CELLFLOW_TEST_SERVER_PORT || 8788);
// The tutorial's users API: a port of its own per run (reused when already up), so two runs on one
// machine never share it and one's exit cannot take it from the other.
const usersApiPort = Number(process.env.CELLFLOW_TEST_USERS_API_PORT || 8766);
process.env.CELLFLOW_TEST_USERS_API_URL = `http://127.0.0.1:${usersApiPort}`;
// Fixed paths (the config is evaluated by every worker): the Cellflow server's data, and the lab's
// Cellflow profile (never the user's ~/.config). Both start empty: the server command clears them.
const tmp = path.resolve(__dirname, '.tmp');
const dataDir = path.join(tmp, 'cellflow-data');
const configDir = path.join(tmp, 'config');
// The wheel test (scripts/test-wheel.sh) runs its lab in local mode, with the local server's data here,
// and with a PATH that holds no node; every other run keeps local mode off (the tests log in).
const localDataDir = process.env.CELLFLOW_TEST_LOCAL_DATA_DIR;
const labPath =
  process.env.CELLFLOW_LAB_PATH || `${venvBin}:${process.env.PATH}`;
process.env.CELLFLOW_TEST_SERVER_URL = `http://127.0.0.1:${serverPort}`;
process.env.CELLFLOW_TEST_DATA_DIR = dataDir;

module.exports = {
  ...baseConfig,
  testDir: './tests',
  outputDir: './test-results',
  timeout: 120000,
  expect: { timeout: 20000 },
  workers: 1,
  retries: 0,
  reporter: process.env.CELLFLOW_PW_REPORT
    ? [['list'], ['json', { outputFile: process.env.CELLFLOW_PW_REPORT }]]
    : [['list']],
  use: {
    ...baseConfig.use,
    baseURL: `http://127.0.0.1:${labPort}`,
    video: 'off',
    trace: 'off',
    launchOptions: {
      executablePath: process.env.CELLFLOW_CHROMIUM || '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  },
  globalSetup: require.resolve('./tests/helpers/global-setup.js'),
  webServer: [
    {
      // The tutorial's users API (examples/users-api), with its failure switch, for tutorial.spec.ts.
      command: `${venvBin}/python ../examples/users-api/server.py --port ${usersApiPort}`,
      url: `http://127.0.0.1:${usersApiPort}/health`,
      timeout: 30000,
      // It keeps no state but its failure switch, which the tutorial test resets first.
      reuseExistingServer: true,
      stdout: 'ignore',
      stderr: process.env.CELLFLOW_DEBUG ? 'pipe' : 'ignore'
    },
    {
      // The Cellflow server, on its embedded store, as the start command runs it.
      command: `rm -rf ${dataDir} ${configDir} && mkdir -p ${dataDir} ${configDir} && node ../server/bin/cellflow.js server --host 127.0.0.1 --port ${serverPort} --data-dir ${dataDir}`,
      url: `http://127.0.0.1:${serverPort}/api/health`,
      timeout: 60000,
      reuseExistingServer: false,
      stdout: 'ignore',
      stderr: process.env.CELLFLOW_DEBUG ? 'pipe' : 'ignore',
      env: { ...process.env, PATH: `${venvBin}:${process.env.PATH}` }
    },
    {
      command: `${venvBin}/jupyter lab --config jupyter_server_test_config.py --allow-root --no-browser --ServerApp.port=${labPort} --ServerApp.port_retries=0 --ServerApp.ip=127.0.0.1 --CellflowLocalServer.enabled=${localDataDir ? 'True' : 'False'}`,
      url: `http://127.0.0.1:${labPort}/lab`,
      timeout: 120000,
      reuseExistingServer: !process.env.CI,
      // The lab's request log drowns the test report; CELLFLOW_DEBUG=1 shows it.
      stdout: 'ignore',
      stderr: process.env.CELLFLOW_DEBUG ? 'pipe' : 'ignore',
      env: {
        ...process.env,
        PATH: labPath,
        CELLFLOW_CONFIG_DIR: configDir,
        ...(localDataDir ? { CELLFLOW_DATA_DIR: localDataDir } : {})
      }
    }
  ]
};
