/** Small nbformat 4.5 notebooks for the UI tests, built in code so each test shows what it runs. */

let counter = 0;

export function codeCell(
  source: string,
  metadata: Record<string, unknown> = {}
) {
  counter += 1;
  return {
    cell_type: 'code',
    id: `cell-${counter}-${Math.random().toString(36).slice(2, 8)}`,
    metadata,
    source,
    outputs: [],
    execution_count: null
  };
}

export function notebook(cells: ReturnType<typeof codeCell>[]) {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: {
        name: 'python3',
        display_name: 'Python 3 (ipykernel)',
        language: 'python'
      },
      language_info: { name: 'python' }
    },
    cells
  };
}
