// Bash completion: `source <(socle completion bash)`. The script asks the command itself for the
// words (`socle __complete WORDS...`), so completions follow the commands and flags of the
// installed version, and instance names those on the host.
import { COMMANDS } from './commands';
import { available, commandFlags } from './engine';
import { listInstances } from './instances';

export function completionScript(): string {
  return `# bash completion for socle (socle.postgresql): source <(socle completion bash)
_socle() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  local IFS=$'\\n'
  COMPREPLY=( $(compgen -W "$(socle __complete "\${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null)" -- "$cur") )
}
complete -o default -F _socle socle
`;
}

/** The words that may follow `words` (the command line typed so far, without the current word). */
export function completeWords(words: string[]): string[] {
  const [group, sub] = words;
  if (!group) return [...Object.keys(COMMANDS), 'completion'];
  if (group === 'completion') return words.length === 1 ? ['bash'] : [];
  const cmds = COMMANDS[group];
  if (!cmds) return [];
  if (!('' in cmds) && words.length === 1) return Object.keys(cmds);
  const cmd = '' in cmds ? cmds[''] : cmds[sub];
  if (!cmd) return [];
  const flags = available(cmd) ? commandFlags(cmd).flatMap((f) => (f.kind === 'bool' ? [`--${f.name}`, `--no-${f.name}`] : f.kind === 'secret' ? [`--${f.name}`, `--${f.name}-file`] : [`--${f.name}`])) : [];
  const extra = (cmd.extra ?? []).map((e) => `--${e.name}`);
  const global = ['--output', '--dry-run', '--diff', '--yes', '--site-settings', '--quiet', '--help'];
  let names: string[] = [];
  if (group === 'instance' || (cmd.args ?? []).some((a) => a.option === 'instance') || words[words.length - 1] === '--instance' || words[words.length - 1] === '-i') {
    try {
      names = listInstances().map((i) => i.name);
    } catch {
      names = [];
    }
  }
  return [...names, ...flags, ...extra, ...global];
}
