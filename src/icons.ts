import { LabIcon } from '@jupyterlab/ui-components';

/** A cell with an arrow running through it: the Cellflow mark. Uses `jp-icon3` so it follows the theme. */
const cellflowSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <g class="jp-icon3" fill="#616161">
    <rect x="3" y="3" width="7" height="7" rx="1.5"/>
    <rect x="14" y="14" width="7" height="7" rx="1.5"/>
    <path d="M10 6.5h4.5a2 2 0 0 1 2 2V14h-2V8.5H10z"/>
  </g>
</svg>`;

export const cellflowIcon = new LabIcon({
  name: 'cellflow:icon',
  svgstr: cellflowSvg
});

export const runHereIcon = new LabIcon({
  name: 'cellflow:run-here',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <g class="jp-icon3" fill="#616161">
    <rect x="2" y="4" width="6" height="6" rx="1"/>
    <rect x="2" y="14" width="6" height="6" rx="1"/>
    <path d="M12 5v14l10-7z"/>
  </g>
</svg>`
});

export const stopRunIcon = new LabIcon({
  name: 'cellflow:stop-run',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <g class="jp-icon3" fill="#616161"><rect x="6" y="6" width="12" height="12" rx="1.5"/></g>
</svg>`
});

/** A clock face: when a run is (or was) scheduled, in the run history. A glyph like ⏲ is missing from many fonts. */
export const scheduledIcon = new LabIcon({
  name: 'cellflow:scheduled',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 2a8 8 0 1 1 0 16 8 8 0 0 1 0-16z"/>
    <path d="M11 6h2v5.6l3.7 2.1-1 1.7L11 12.8z"/>
  </g>
</svg>`
});

/** A play triangle: when a run started, in the run history. */
export const startedIcon = new LabIcon({
  name: 'cellflow:started',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <g class="jp-icon3" fill="#616161"><path d="M7 4v16l13-8z"/></g>
</svg>`
});
