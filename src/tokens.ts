/**
 * Public identifiers of the Cellflow extension: plugin ids, command ids and tokens.
 * Kept apart from the plugins so other extensions (and tests) can import them cheaply.
 */

/** The npm package name, used as the prefix of every plugin id. */
export const PACKAGE_NAME = 'jupyterlab-cellflow';

/** Plugin ids. `schema/<suffix>.json` holds the settings of the plugin with the same suffix. */
export namespace PluginIDs {
  export const panel = `${PACKAGE_NAME}:plugin`;
}

/** Every command the extension registers, in one place. */
export namespace CommandIDs {
  /** Reveal the Cellflow side panel. */
  export const openPanel = 'cellflow:open-panel';
}

/** The id of the side panel widget, stable so layouts restore and tests can find it. */
export const PANEL_ID = 'cellflow-panel';
