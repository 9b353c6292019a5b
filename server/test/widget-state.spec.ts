/**
 * The ipywidgets state an executed notebook records, built from the kernel's comm messages as nbclient
 * builds it (the messages below have the shape ipywidgets 8 sends on iopub).
 */
import { describe, expect, it } from 'vitest';

import {
  WIDGET_STATE_MIMETYPE,
  WidgetState
} from '../src/executor/widget-state.js';

const slider = {
  _model_name: 'IntSliderModel',
  _model_module: '@jupyter-widgets/controls',
  _model_module_version: '2.0.0',
  value: 3
};

describe('WidgetState', () => {
  it('keeps the latest state of every model that names its class, in the widget-state format', () => {
    const widgets = new WidgetState();
    widgets.add('comm_open', {
      comm_id: 'w1',
      target_name: 'jupyter.widget',
      data: { state: slider, buffer_paths: [] }
    });
    widgets.add('comm_msg', {
      comm_id: 'w1',
      data: { method: 'update', state: { value: 7 }, buffer_paths: [] }
    });
    // A custom message and other message types leave the state alone.
    widgets.add('comm_msg', {
      comm_id: 'w1',
      data: { method: 'custom', content: {} }
    });
    widgets.add('stream', { name: 'stdout', text: 'x' });
    // A model without its class name is not one the notebook could show.
    widgets.add('comm_open', { comm_id: 'w2', data: { state: { value: 1 } } });
    expect(widgets.toMetadata()).toEqual({
      [WIDGET_STATE_MIMETYPE]: {
        state: {
          w1: {
            model_name: 'IntSliderModel',
            model_module: '@jupyter-widgets/controls',
            model_module_version: '2.0.0',
            state: { ...slider, value: 7 }
          }
        },
        version_major: 2,
        version_minor: 0
      }
    });
  });

  it('is null when the run showed no widget, so a stale state is dropped', () => {
    const widgets = new WidgetState();
    widgets.add('comm_msg', { comm_id: 'x', data: 'not an object' });
    widgets.add('comm_open', null);
    expect(widgets.toMetadata()).toBeNull();
  });
});
