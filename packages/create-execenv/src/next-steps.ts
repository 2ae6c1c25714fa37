// What to tell the author once the package is written.
import path from "node:path";
import type { CreatedExecEnv } from "./create-package.js";

export function nextSteps(created: CreatedExecEnv, cwd: string): string[] {
  const relative = path.relative(cwd, created.dir);
  const where = relative === "" ? "." : relative.startsWith("..") ? created.dir : `./${relative}`;
  return [
    `created ${created.packageName} (execenv ${created.execenv}) in ${where}: ${created.files.join(", ")}`,
    `next: cd ${where} && npm install && npm run build && npm test`,
    `then: sierra --execenv ${where}/dist/index.js --batch-root <batch>, or install the package and use --execenv ${created.execenv}`,
  ];
}
