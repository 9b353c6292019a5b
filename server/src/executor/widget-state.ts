/**
 * The ipywidgets state a run's kernel reported, kept as nbclient keeps it: every `comm_open` and
 * `comm_msg` whose data carries a `state` updates that comm's model, and the executed notebook gets
 * `metadata.widgets` in the widget-state format (version 2.0) for the models that name their class.
 * Binary buffers are not kept (nbclient stores them base64 beside the state); a model with buffers
 * shows without them.
 */
type Json = Record<string, unknown>;

export const WIDGET_STATE_MIMETYPE =
  'application/vnd.jupyter.widget-state+json';

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class WidgetState {
  private readonly models = new Map<string, Json>();

  /** An iopub message; anything but a comm message with a state is ignored. */
  add(msgType: string, content: unknown): void {
    if (msgType !== 'comm_open' && msgType !== 'comm_msg') {
      return;
    }
    if (!isRecord(content) || typeof content.comm_id !== 'string') {
      return;
    }
    const data = content.data;
    if (!isRecord(data) || !isRecord(data.state)) {
      return; // a custom message, not a state update
    }
    const model = this.models.get(content.comm_id) ?? {};
    Object.assign(model, data.state);
    this.models.set(content.comm_id, model);
  }

  /** `metadata.widgets` for the executed notebook, or null when the run showed no widget. */
  toMetadata(): Json | null {
    const state: Json = {};
    for (const [id, model] of this.models) {
      if ('_model_name' in model) {
        state[id] = {
          model_name: model._model_name,
          model_module: model._model_module,
          model_module_version: model._model_module_version,
          state: model
        };
      }
    }
    if (Object.keys(state).length === 0) {
      return null;
    }
    return {
      [WIDGET_STATE_MIMETYPE]: { state, version_major: 2, version_minor: 0 }
    };
  }
}
