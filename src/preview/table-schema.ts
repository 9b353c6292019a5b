/**
 * pandas' table schema (`application/vnd.dataresource+json`, what a DataFrame's execute_result carries
 * with `pd.options.display.html.table_schema = True`) read into columns and rows for the data preview.
 * Pure: no DOM, no danfojs.
 */

export const DATA_RESOURCE_MIME = 'application/vnd.dataresource+json';

/** A cell's value as JSON gives it: pandas writes NaN, NaT and None as null. */
export type CellValue = string | number | boolean | null | object;

/** How a column sorts and which summary it gets. */
export type ColumnKind = 'number' | 'boolean' | 'datetime' | 'string' | 'other';

export interface IPreviewColumn {
  /** The field's name in the schema and the key of each row. */
  name: string;
  /** The schema's type (integer, number, boolean, datetime, string, any, …). */
  type: string;
  kind: ColumnKind;
  /** Part of the DataFrame's index (the schema's primaryKey), not of its data. */
  isIndex: boolean;
}

export interface IPreviewTable {
  columns: IPreviewColumn[];
  rows: Record<string, CellValue>[];
}

function kindOf(type: string): ColumnKind {
  switch (type) {
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'datetime':
    case 'date':
      return 'datetime';
    case 'string':
      return 'string';
    default:
      return 'other';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether an nbformat output carries a table the preview can show. */
export function hasDataResource(output: Record<string, unknown>): boolean {
  return isRecord(output.data) && DATA_RESOURCE_MIME in output.data;
}

/**
 * Read a data resource (the object, or its JSON text) into a table.
 * Throws an Error that names what is missing when it is not pandas' table schema.
 */
export function readTableSchema(resource: unknown): IPreviewTable {
  const value =
    typeof resource === 'string' ? parseJson(resource) : (resource as unknown);
  if (!isRecord(value)) {
    throw new Error(
      `${DATA_RESOURCE_MIME}: expected an object with "schema" and "data", got ${describe(value)}`
    );
  }
  const schema = value.schema;
  if (!isRecord(schema) || !Array.isArray(schema.fields)) {
    throw new Error(`${DATA_RESOURCE_MIME}: "schema.fields" is missing`);
  }
  if (!Array.isArray(value.data)) {
    throw new Error(`${DATA_RESOURCE_MIME}: "data" is not a list of rows`);
  }
  // pandas names the index fields in primaryKey ("index" for an unnamed index, level_0… for a
  // MultiIndex); an older writer may leave it out, and then "index" is the index as pandas names it.
  const primaryKey = Array.isArray(schema.primaryKey)
    ? schema.primaryKey.map(String)
    : ['index'];
  const seen = new Set<string>();
  const columns: IPreviewColumn[] = [];
  schema.fields.forEach((field: unknown, i: number) => {
    if (!isRecord(field) || typeof field.name !== 'string') {
      throw new Error(
        `${DATA_RESOURCE_MIME}: field ${i} of "schema.fields" has no name`
      );
    }
    // Rows are JSON objects, so a repeated name holds one value: show it once.
    if (seen.has(field.name)) {
      return;
    }
    seen.add(field.name);
    const type = typeof field.type === 'string' ? field.type : 'any';
    columns.push({
      name: field.name,
      type,
      kind: kindOf(type),
      isIndex: primaryKey.includes(field.name)
    });
  });
  const rows = value.data.map((row: unknown, i: number) => {
    if (!isRecord(row)) {
      throw new Error(
        `${DATA_RESOURCE_MIME}: row ${i} of "data" is ${describe(row)}, not an object`
      );
    }
    const cells: Record<string, CellValue> = {};
    for (const column of columns) {
      const cell = row[column.name];
      cells[column.name] = cell === undefined ? null : (cell as CellValue);
    }
    return cells;
  });
  return { columns, rows };
}

/** The data columns (index columns stripped: danfojs wants unique row labels, and they are not data). */
export function dataColumns(table: IPreviewTable): IPreviewColumn[] {
  return table.columns.filter(c => !c.isIndex);
}

/** One column's values with the missing ones (null) left out. */
export function presentValues(
  table: IPreviewTable,
  column: string
): Exclude<CellValue, null>[] {
  const values: Exclude<CellValue, null>[] = [];
  for (const row of table.rows) {
    const value = row[column];
    if (value !== null && value !== undefined) {
      values.push(value);
    }
  }
  return values;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(
      `${DATA_RESOURCE_MIME}: not valid JSON (${(e as Error).message})`
    );
  }
}

function describe(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  return Array.isArray(value) ? 'a list' : typeof value;
}
