// Hasura's query arguments, as Server 1 exposes its tables: `where` boolean expressions
// (with relations), `order_by` and `limit`/`offset`, evaluated over in-memory rows.

export type Row = Record<string, unknown>;

export interface ListArgs {
  where?: Record<string, unknown> | null;
  order_by?: Record<string, string> | Array<Record<string, string>> | null;
  limit?: number | null;
  offset?: number | null;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T/;

function compare(a: unknown, b: unknown): number {
  if (typeof a === "string" && typeof b === "string" && ISO_TIME.test(a) && ISO_TIME.test(b)) {
    return Date.parse(a) - Date.parse(b);
  }
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

const equal = (a: unknown, b: unknown) => a === b || (a != null && b != null && compare(a, b) === 0);

const OPERATORS: Record<string, (value: unknown, argument: unknown) => boolean> = {
  _eq: (value, argument) => value != null && equal(value, argument),
  _neq: (value, argument) => value != null && !equal(value, argument),
  _in: (value, argument) => value != null && (argument as unknown[]).some((item) => equal(value, item)),
  _nin: (value, argument) => value != null && !(argument as unknown[]).some((item) => equal(value, item)),
  _gt: (value, argument) => value != null && compare(value, argument) > 0,
  _gte: (value, argument) => value != null && compare(value, argument) >= 0,
  _lt: (value, argument) => value != null && compare(value, argument) < 0,
  _lte: (value, argument) => value != null && compare(value, argument) <= 0,
  _is_null: (value, argument) => (value == null) === Boolean(argument),
};

/** A row's field; relations are functions of their own list arguments (as GraphQL resolves them). */
const field = (row: Row, key: string) => {
  const value = row[key];
  return typeof value === "function" ? value({}) : value;
};

export function matches(row: Row, where: Record<string, unknown> | null | undefined): boolean {
  if (!where) return true;
  return Object.entries(where).every(([key, condition]) => {
    if (key === "_and") return (condition as Row[]).every((part) => matches(row, part));
    if (key === "_or") return (condition as Row[]).some((part) => matches(row, part));
    if (key === "_not") return !matches(row, condition as Row);
    const value = field(row, key);
    const entries = Object.entries((condition ?? {}) as Row);
    if (entries.length > 0 && entries.every(([operator]) => operator in OPERATORS)) {
      return entries.every(([operator, argument]) =>
        (OPERATORS[operator] as (v: unknown, a: unknown) => boolean)(value, argument),
      );
    }
    const unknownOperator = entries.find(([operator]) => operator.startsWith("_"));
    if (unknownOperator) throw new Error(`unsupported operator ${unknownOperator[0]}`);
    // A relation: an array relation matches when any related row does.
    if (Array.isArray(value)) return value.some((related) => matches(related as Row, condition as Row));
    return value != null && typeof value === "object" && matches(value as Row, condition as Row);
  });
}

export function select<T extends Row>(rows: T[], args: ListArgs = {}): T[] {
  let out = rows.filter((row) => matches(row, args.where));
  if (args.order_by) {
    const specs = (Array.isArray(args.order_by) ? args.order_by : [args.order_by]).flatMap((order) =>
      Object.entries(order),
    );
    out = out.sort((a, b) => {
      for (const [key, direction] of specs) {
        const descending = direction.startsWith("desc");
        // Postgres puts nulls last ascending and first descending unless told otherwise.
        const nullsFirst =
          direction.endsWith("nulls_first") || (descending && !direction.endsWith("nulls_last"));
        const [x, y] = [field(a, key), field(b, key)];
        if (x == null && y == null) continue;
        if (x == null) return nullsFirst ? -1 : 1;
        if (y == null) return nullsFirst ? 1 : -1;
        const order = compare(x, y);
        if (order) return descending ? -order : order;
      }
      return 0;
    });
  }
  if (args.offset) out = out.slice(args.offset);
  if (args.limit != null) out = out.slice(0, args.limit);
  return out;
}
