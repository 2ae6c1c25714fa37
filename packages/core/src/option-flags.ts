// Turns a zod object schema into command-line flags, help rows and doc tables, so that an
// option is declared once (name, type, default, description) and every view derives from it.
import { z } from "zod";
import { SierraError } from "./errors.js";

export type OptionKind = "boolean" | "number" | "string" | "enum";

export interface OptionDescriptor {
  /** Property name in the parsed options object, e.g. `execJobsPerNode`. */
  key: string;
  /** The long flag, e.g. `--exec-jobs-per-node`. */
  flag: string;
  kind: OptionKind;
  description: string;
  /** Default as shown to the user, if any. */
  defaultLabel?: string;
  choices?: readonly string[];
  /** Environment variable that supplies the value when the flag is absent. */
  env?: string;
  /** Placeholder for the value in help, e.g. `N`. */
  valueName?: string;
}

/** Metadata an option may carry via `.meta({...})` beyond its description. */
export interface OptionMeta {
  env?: string;
  valueName?: string;
  /** Shown instead of the schema default, for defaults computed at run time. */
  defaultLabel?: string;
}

export const toFlag = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function unwrap(schema: z.ZodType): { inner: z.ZodType; defaultValue?: unknown } {
  let inner = schema;
  let defaultValue: unknown;
  for (;;) {
    if (inner instanceof z.ZodDefault) {
      defaultValue = inner.def.defaultValue;
      inner = inner.def.innerType as z.ZodType;
    } else if (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable) {
      inner = inner.def.innerType as z.ZodType;
    } else if (inner instanceof z.ZodPipe) {
      inner = inner.def.in as z.ZodType;
    } else {
      return { inner, defaultValue };
    }
  }
}

function kindOf(schema: z.ZodType): { kind: OptionKind; choices?: readonly string[] } {
  if (schema instanceof z.ZodBoolean) return { kind: "boolean" };
  if (schema instanceof z.ZodNumber) return { kind: "number" };
  if (schema instanceof z.ZodEnum) return { kind: "enum", choices: schema.options.map(String) };
  return { kind: "string" };
}

/** One descriptor per property of an options schema, in declaration order. */
export function describeOptions(schema: z.ZodObject): OptionDescriptor[] {
  return Object.entries(schema.shape).map(([key, field]) => {
    const fieldSchema = field as z.ZodType;
    const meta = (z.globalRegistry.get(fieldSchema) ?? {}) as OptionMeta & { description?: string };
    const { inner, defaultValue } = unwrap(fieldSchema);
    const { kind, choices } = kindOf(inner);
    const defaultLabel =
      meta.defaultLabel ??
      (defaultValue === undefined || defaultValue === false ? undefined : String(defaultValue));
    return {
      key,
      flag: toFlag(key),
      kind,
      description: fieldSchema.description ?? meta.description ?? "",
      ...(defaultLabel === undefined ? {} : { defaultLabel }),
      ...(choices ? { choices } : {}),
      ...(meta.env ? { env: meta.env } : {}),
      ...(meta.valueName ? { valueName: meta.valueName } : {}),
    };
  });
}

/**
 * Parses raw command-line values (strings, booleans) into an options object: flags
 * absent from `raw` fall back to their environment variable, then to the schema default.
 * Throws a one-line message naming the flag on invalid input.
 */
export function parseOptions<S extends z.ZodObject>(
  schema: S,
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): z.output<S> {
  const input: Record<string, unknown> = {};
  for (const option of describeOptions(schema)) {
    let value = raw[option.key];
    if (value === undefined && option.env && env[option.env] !== undefined) value = env[option.env];
    if (value === undefined) continue;
    if (option.kind === "number" && typeof value === "string") {
      const number = value.trim() === "" ? Number.NaN : Number(value);
      if (Number.isNaN(number))
        throw new SierraError(`${option.flag} ${JSON.stringify(value)}: must be a number`);
      value = number;
    }
    if (option.kind === "boolean" && typeof value === "string") value = !/^(0|false|no|)$/i.test(value);
    input[option.key] = value;
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key = String(issue?.path[0] ?? "");
  const shown = raw[key] ?? input[key];
  const message = issue?.message ?? "invalid value";
  throw new SierraError(
    shown === undefined ? `${toFlag(key)} ${message}` : `${toFlag(key)} ${JSON.stringify(shown)}: ${message}`,
  );
}
