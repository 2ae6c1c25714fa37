// One word for a POSIX shell or Python's shlex.split (a Prefect worker's command, a Slurm
// batch script): left as it is when it holds nothing a shell reads specially.

export const shellQuote = (word: string) =>
  /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'"'"'`)}'`;
