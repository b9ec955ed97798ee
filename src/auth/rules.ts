/**
 * Access rules (the `access:` section, a Berth extension): who may pull, push or delete which
 * repositories. Rules only grant, and a caller holds the union of every rule that names them, so
 * rule order never matters. Without an `access` section the registry:2 behaviour holds: every
 * authenticated user may do everything, anonymous callers nothing.
 *
 * Repository patterns are globs over the `/`-separated name: `*` matches within one component,
 * `**` across components, `?` one character other than `/`, and `${user}` the caller's own user
 * name (so `${user}/**` gives each user a namespace; such a rule never matches anonymous callers).
 */
import { type Access, type Action, REPOSITORY_ACTIONS } from './access.js';

/** One rule as configured (see the schema's `access.rules`). */
export interface AccessRuleConfig {
  /** Glob patterns of repository names. */
  repositories: string[];
  /** Actions granted: pull, push, delete, or `*` for all three. */
  actions: string[];
  /** User names; `*` means every authenticated user. */
  users?: string[] | undefined;
  /** Group names from `access.groups`. */
  groups?: string[] | undefined;
  /** Whether unauthenticated callers get this rule too (pull only). */
  anonymous?: boolean | undefined;
}

/** The `access:` section. */
export interface AccessConfig {
  /** Group name → member user names. */
  groups?: Record<string, string[]> | undefined;
  /** The rules; none means nobody is granted anything. */
  rules?: AccessRuleConfig[] | undefined;
}

export interface AccessPolicy {
  /**
   * The repository actions `user` (undefined: anonymous) holds on `repository`, without `*`.
   * Deterministic and synchronous.
   */
  repositoryActions(user: string | undefined, repository: string): Set<Action>;
  /** Whether `user` may list the catalog: any authenticated user, anonymous only when some rule admits them. */
  mayListCatalog(user: string | undefined): boolean;
  /** Whether `user` holds `access`; `*` on a repository needs all three actions. */
  allows(user: string | undefined, access: Access): boolean;
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: the literal placeholder operators write in patterns.
const USER_PLACEHOLDER = '${user}';

interface CompiledRule {
  matches(user: string | undefined, repository: string): boolean;
  admits(user: string | undefined): boolean;
  actions: ReadonlySet<Action>;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Turns a glob into a regular-expression source; `${user}` becomes `user` escaped. */
function globSource(pattern: string, user: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    if (pattern.startsWith(USER_PLACEHOLDER, i)) {
      out += escapeRegExp(user);
      i += USER_PLACEHOLDER.length - 1;
    } else if (pattern.startsWith('**', i)) {
      out += '.*';
      i++;
    } else if (pattern[i] === '*') out += '[^/]*';
    else if (pattern[i] === '?') out += '[^/]';
    else out += escapeRegExp(pattern[i] ?? '');
  }
  return `^${out}$`;
}

/** A matcher for one pattern; patterns without `${user}` are compiled once. */
function compilePattern(pattern: string): (user: string | undefined, repository: string) => boolean {
  if (!pattern.includes(USER_PLACEHOLDER)) {
    const re = new RegExp(globSource(pattern, ''));
    return (_user, repository) => re.test(repository);
  }
  return (user, repository) => user !== undefined && new RegExp(globSource(pattern, user)).test(repository);
}

function expandActions(actions: readonly string[]): Set<Action> {
  const out = new Set<Action>();
  for (const action of actions) {
    if (action === '*') for (const a of REPOSITORY_ACTIONS) out.add(a);
    else if ((REPOSITORY_ACTIONS as readonly string[]).includes(action)) out.add(action as Action);
    else throw new Error(`access rule: unknown action ${JSON.stringify(action)} (expected pull, push, delete or *)`);
  }
  return out;
}

function compileRule(rule: AccessRuleConfig, groups: Record<string, string[]>, index: number): CompiledRule {
  const where = `access.rules[${index}]`;
  const actions = expandActions(rule.actions);
  const anonymous = rule.anonymous === true;
  if (anonymous && [...actions].some((a) => a !== 'pull')) {
    throw new Error(`${where}: an anonymous rule may only grant pull`);
  }
  const users = new Set(rule.users ?? []);
  for (const group of rule.groups ?? []) {
    const members = groups[group];
    if (members === undefined)
      throw new Error(`${where}: unknown group ${JSON.stringify(group)} (not in access.groups)`);
    for (const member of members) users.add(member);
  }
  if (!anonymous && users.size === 0 && (rule.groups ?? []).length === 0) {
    throw new Error(`${where}: names nobody (set users, groups or anonymous: true)`);
  }
  if (rule.repositories.length === 0 || rule.repositories.some((p) => p === '')) {
    throw new Error(`${where}: repositories must list non-empty patterns`);
  }
  const patterns = rule.repositories.map(compilePattern);
  const everyone = users.has('*');
  const admits = (user: string | undefined): boolean =>
    user === undefined ? anonymous : everyone || users.has(user) || anonymous;
  return {
    admits,
    actions,
    matches: (user, repository) => admits(user) && patterns.some((match) => match(user, repository)),
  };
}

/**
 * Compiles the `access:` section.
 * @throws Error naming the rule when an action, group or pattern is invalid.
 */
export function compileAccessPolicy(config: AccessConfig): AccessPolicy {
  const groups = config.groups ?? {};
  const rules = (config.rules ?? []).map((rule, i) => compileRule(rule, groups, i));
  const anonymousRules = rules.some((r) => r.admits(undefined));
  const policy: AccessPolicy = {
    repositoryActions(user, repository) {
      const out = new Set<Action>();
      for (const rule of rules) {
        if (rule.matches(user, repository)) for (const a of rule.actions) out.add(a);
      }
      return out;
    },
    mayListCatalog: (user) => user !== undefined || anonymousRules,
    allows(user, access) {
      if (access.type === 'registry') return access.name === 'catalog' && policy.mayListCatalog(user);
      if (access.type !== 'repository') return false;
      const held = policy.repositoryActions(user, access.name);
      if (access.action === '*') return REPOSITORY_ACTIONS.every((a) => held.has(a));
      return held.has(access.action as Action);
    },
  };
  return policy;
}

/** registry:2's behaviour without rules: authenticated users may do everything, anonymous nothing. */
export const AUTHENTICATED_ONLY: AccessPolicy = {
  repositoryActions: (user) => new Set(user === undefined ? [] : REPOSITORY_ACTIONS),
  mayListCatalog: (user) => user !== undefined,
  allows: (user) => user !== undefined,
};
