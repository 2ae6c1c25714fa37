// VitePress site config: the guide is written by hand; the reference pages (command line and
// one page per execenv) are generated from the zod schemas by scripts/generate-reference.mjs,
// and the sidebar lists every execenv page found, so a new execenv appears without edits here.
import { readdirSync } from "node:fs";
import { defineConfig } from "vitepress";

const execenvPages = readdirSync(new URL("../execenvs", import.meta.url))
  .filter((file) => file.endsWith(".md") && file !== "index.md")
  .map((file) => file.replace(/\.md$/, ""))
  .sort();

export default defineConfig({
  title: "sierra-exec",
  description: "Run batches of experiments on pluggable execution environments",
  cleanUrls: true,
  lastUpdated: false,
  // Page parts that generated pages include; not pages of their own.
  srcExclude: ["notes/**", "scripts/**"],
  themeConfig: {
    nav: [
      { text: "Guide", link: "/guide/getting-started" },
      { text: "Execenvs", link: "/execenvs/" },
      { text: "Command line", link: "/reference/command-line" },
    ],
    sidebar: [
      {
        text: "Guide",
        items: [
          { text: "Getting started", link: "/guide/getting-started" },
          { text: "The execution contract", link: "/guide/execution-contract" },
          { text: "Architecture", link: "/guide/architecture" },
          { text: "Migrating from SIERRA", link: "/guide/migrating-from-sierra" },
        ],
      },
      {
        text: "Reference",
        items: [
          { text: "Command line", link: "/reference/command-line" },
          {
            text: "Execenvs",
            link: "/execenvs/",
            items: execenvPages.map((name) => ({ text: name, link: `/execenvs/${name}` })),
          },
        ],
      },
      {
        text: "Plugin authors and maintainers",
        items: [
          { text: "Writing an execenv", link: "/guide/plugin-authoring" },
          { text: "Releasing", link: "/guide/releasing" },
        ],
      },
    ],
    search: { provider: "local" },
    socialLinks: [{ icon: "github", link: "https://github.com/sierra-exec/sierra-exec" }],
  },
});
