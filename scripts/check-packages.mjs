// Lints what npm users will get: packs every public workspace package with pnpm (as `pnpm
// publish` would) and checks the tarball with publint and with @arethetypeswrong/cli in its
// ESM-only profile, and the manifest against our publishing conventions (public access, a
// license, and the repository that npm provenance must match). Expects built packages
// (`pnpm build`). Exits 1 when a check fails.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { publint } from "publint";
import { formatMessage } from "publint/utils";
import { CommandError, pnpmBin, publicPackages, repoRoot, run } from "./lib/workspace.mjs";

if (process.argv.length > 2) {
  console.error(`check-packages: takes no arguments (got ${process.argv.slice(2).join(" ")})`);
  process.exit(2);
}

const attwBin = path.join(repoRoot, "node_modules/.bin/attw");
const { repository } = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8"));

/** What publint does not know: fields every package of ours needs to publish with provenance. */
function conventionProblems(manifest, dir) {
  const directory = path.relative(repoRoot, dir);
  const problems = [];
  if (manifest.publishConfig?.access !== "public") problems.push('publishConfig.access must be "public"');
  if (!manifest.license) problems.push("license is missing");
  if (!manifest.files) problems.push("files is missing: list what the package ships");
  if (manifest.repository?.url !== repository.url || manifest.repository?.directory !== directory) {
    problems.push(
      `repository must be { "type": "git", "url": "${repository.url}", "directory": "${directory}" } (npm provenance checks it)`,
    );
  }
  return problems.map((problem) => `package.json: ${problem}`);
}
const packDir = mkdtempSync(path.join(tmpdir(), "sierra-check-packages-"));
let failures = 0;
try {
  for (const pkg of await publicPackages()) {
    const packed = JSON.parse(
      await run(pnpmBin, ["pack", "--json", "--pack-destination", packDir], { cwd: pkg.dir }),
    );
    const tarball = path.resolve(packDir, packed.filename);
    const problems = conventionProblems(
      JSON.parse(readFileSync(path.join(pkg.dir, "package.json"), "utf8")),
      pkg.dir,
    );

    const lint = await publint({
      pack: { tarball: new Uint8Array(readFileSync(tarball)).buffer },
      strict: true,
    });
    for (const message of lint.messages) {
      const text = `publint ${message.type}: ${formatMessage(message, lint.pkg, { color: false })}`;
      if (message.type === "suggestion") console.log(`  ${pkg.name}: ${text}`);
      else problems.push(text);
    }

    try {
      await run(attwBin, [
        tarball,
        "--profile",
        "esm-only",
        "--format",
        "table-flipped",
        "--no-color",
        "--no-emoji",
      ]);
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      problems.push(`attw (esm-only):\n${error.output}`);
    }

    const files = packed.files.length;
    if (problems.length === 0) {
      console.log(
        `ok    ${pkg.name}@${pkg.version} (${files} files): conventions, publint, attw --profile esm-only`,
      );
    } else {
      failures += 1;
      console.log(`FAIL  ${pkg.name}@${pkg.version} (${files} files)`);
      for (const problem of problems) console.log(`  ${problem}`);
    }
  }
} finally {
  rmSync(packDir, { recursive: true, force: true });
}
if (failures > 0) {
  console.log(`check-packages: ${failures} package(s) failed`);
  process.exit(1);
}
