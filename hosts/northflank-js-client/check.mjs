// Checks the Northflank stand-in (tests/northflank_standin/server.py) with Northflank's own
// client, @northflank/js-client (pinned in package.json). That client was written by Northflank
// against the real API: if it pages, parses and reports errors correctly here, the stand-in
// speaks the API's shapes. Expectations come from three places that do not depend on each
// other's code paths: the committed seed (tests/northflank_standin/org.json), the stand-in's own
// data view (/__standin/org), and a few literal records.
//
//   node check.mjs http://127.0.0.1:PORT
//
// Exits 0 when every check passes, 1 on any mismatch (each one printed), 2 on a crash.

import { readFileSync } from 'node:fs';
import { ApiClient, ApiClientInMemoryContextProvider } from '@northflank/js-client';

const base = process.argv[2] ?? process.env.NORTHFLANK_STANDIN_URL;
if (!base) {
  console.error('usage: node check.mjs http://127.0.0.1:PORT');
  process.exit(2);
}
const seed = JSON.parse(
  readFileSync(new URL('../../tests/northflank_standin/org.json', import.meta.url), 'utf8'),
);
const clientVersion = JSON.parse(
  readFileSync(
    new URL('./node_modules/@northflank/js-client/package.json', import.meta.url),
    'utf8',
  ),
).version;

let failures = 0;
let passes = 0;
function check(what, ok, detail = '') {
  if (ok) {
    passes += 1;
  } else {
    failures += 1;
    console.error(`FAIL ${what}${detail ? `: ${detail}` : ''}`);
  }
}
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function admin(method, path) {
  const res = await fetch(`${base}/__standin${path}`, { method });
  if (res.status !== 200) throw new Error(`stand-in admin ${path}: HTTP ${res.status}`);
  return res.json();
}

const tokenOf = (name) => {
  const entry = seed.tokens.find((t) => t.name === name);
  if (!entry) throw new Error(`no test token named ${name} in org.json`);
  return entry.token;
};

// One client per token, as a user would configure it: an in-memory context with the
// stand-in as host. Errors are returned, not thrown, so each check can look at the status.
function clientFor(token) {
  const provider = new ApiClientInMemoryContextProvider();
  provider.addContext({ name: 'standin', token, host: base });
  return new ApiClient(provider, { throwErrorOnHttpErrorCode: false });
}

async function main() {
  await admin('POST', '/reset');
  const truth = await admin('GET', '/org');
  const full = clientFor(tokenOf('full'));
  const writer = clientFor(tokenOf('writer'));

  // The client decides org vs team scope from the token's `entityType` claim.
  check('the full test token reads as org-scoped', full.contextProvider.getTokenScope() === 'org');

  // --- org members, .all() over cursor pages ---
  const members = await full.list.orgMembers.all({ options: { per_page: 100 } });
  check('orgMembers.all: no error', !members.error, JSON.stringify(members.error));
  const memberIds = members.data.members.map((m) => m.id);
  check('orgMembers.all: at least 250 members', memberIds.length >= 250, `${memberIds.length}`);
  check(
    'orgMembers.all: every seeded member, in order',
    same(memberIds, seed.members.map((m) => m.id)),
  );
  check(
    'orgMembers.all: the same records as the stand-in holds',
    same(members.data.members, truth.members),
  );
  const log = await admin('GET', '/requests');
  const memberPages = log.requests.filter((r) => r.path === '/v1/org-members');
  check('orgMembers.all: 3 pages of 100', memberPages.length === 3, `${memberPages.length}`);
  check(
    'orgMembers.all: pages after the first send the cursor, never `page`',
    memberPages.slice(1).every((r) => r.query.includes('cursor=') && !/(^|&)page=/.test(r.query)),
  );
  check(
    'orgMembers.all: every page sent by the client carries per_page=100',
    memberPages.every((r) => r.query.includes('per_page=100')),
  );

  const ada = members.data.members.find((m) => m.id === 'ada-lovelace');
  check(
    'member ada-lovelace as seeded',
    same(ada, {
      id: 'ada-lovelace',
      name: 'Ada Lovelace',
      emails: [{ address: 'ada@example.com', verified: true }],
      joinedAt: '2021-01-20T11:20:53.176Z',
      finalized: true,
    }),
    JSON.stringify(ada),
  );
  const zoe = members.data.members.find((m) => m.id === 'zoe-angstrom');
  check('member zoe-angstrom: UTF-8 name survives', zoe?.name === 'Zoë Ångström', zoe?.name);
  const unfinalised = members.data.members.filter((m) => m.finalized === false);
  check('unfinalised members are listed', unfinalised.length >= 5, `${unfinalised.length}`);
  check(
    'the docs-example unfinalised member',
    unfinalised.some((m) => m.id === '5e6ea4090a1a280001b2d4e3' && !('name' in m)),
  );

  // Page by page, with the client's getNextPage (default page size 50).
  let page = await full.list.orgMembers({});
  let pages = 0;
  let seen = 0;
  while (page.pagination?.count) {
    pages += 1;
    seen += page.data.members.length;
    check(`orgMembers page ${pages}: default size 50 or the remainder`, page.data.members.length <= 50);
    check(
      `orgMembers page ${pages}: hasNextPage iff cursor`,
      page.pagination.hasNextPage === (page.pagination.cursor !== undefined),
    );
    page = await page.pagination.getNextPage();
  }
  check('getNextPage walks every member', seen === memberIds.length, `${seen}`);
  check('getNextPage: ceil(n/50) pages', pages === Math.ceil(memberIds.length / 50), `${pages}`);

  // --- org roles ---
  const roles = await full.list.orgRoles.all({ options: { per_page: 100 } });
  check('orgRoles.all: no error', !roles.error, JSON.stringify(roles.error));
  const roleIds = roles.data.roles.map((r) => r.id);
  check('orgRoles.all: the seeded roles', same(roleIds, seed.roles.map((r) => r.id)), `${roleIds}`);
  check(
    'orgRoles: every role has restrictions, none has permissions (list items)',
    roles.data.roles.every((r) => typeof r.restrictions?.enabled === 'boolean' && !r.permissions),
  );
  const restricted = roles.data.roles.filter((r) => r.restrictions.enabled).map((r) => r.id);
  check('orgRoles: at least 3 restricted roles', restricted.length >= 3, `${restricted}`);
  const contractor = roles.data.roles.find((r) => r.id === 'contractor');
  check(
    'role contractor: team restriction to project storefront',
    same(contractor?.restrictions?.teams, [
      {
        teamId: 'web-team',
        restrictions: { enabled: true, projects: ['storefront'], restrictionMode: 'in' },
      },
    ]),
  );
  const developer = await full.get.orgRole({ parameters: { roleId: 'developer' } });
  check('get orgRole developer', developer.data?.name === 'Developer' && !developer.error);
  check(
    'get orgRole developer: permissions in three scopes',
    ['teamScope', 'projectScope', 'orgScope'].every((k) =>
      Array.isArray(developer.data?.permissions?.[k]),
    ),
  );
  const missingRole = await full.get.orgRole({ parameters: { roleId: 'no-such-role' } });
  check('get unknown role: 404', missingRole.error?.status === 404, JSON.stringify(missingRole.error));

  // --- role members: explicit and implicit ---
  for (const role of seed.roles) {
    const listed = await full.list.orgRoleMembers.all({
      parameters: { roleId: role.id },
      options: { per_page: 100 },
    });
    check(`orgRoleMembers ${role.id}: no error`, !listed.error, JSON.stringify(listed.error));
    const rows = listed.data.members.map((m) => ({ id: m.id, type: m.type }));
    const expected = truth.roleMembers[role.id].map((m) => ({ id: m.id, type: m.type }));
    check(`orgRoleMembers ${role.id}: as the stand-in holds`, same(rows, expected));
    const explicit = rows.filter((r) => r.type === 'explicit').map((r) => r.id);
    check(`orgRoleMembers ${role.id}: explicit = seeded explicit`, same(explicit, role.explicitMembers));
  }
  const devRows = await full.list.orgRoleMembers.all({
    parameters: { roleId: 'developer' },
    options: { per_page: 100 },
  });
  const graceTypes = devRows.data.members.filter((m) => m.id === 'grace-hopper').map((m) => m.type);
  check(
    'grace-hopper is explicit and implicit in developer',
    same(graceTypes, ['explicit', 'implicit']),
    `${graceTypes}`,
  );
  check('developer has more than 2 pages of members', devRows.data.members.length > 200);
  const implicitOnly = await full.list.orgRoleMembers.all({
    parameters: { roleId: 'developer' },
    options: { per_page: 100, type: 'implicit' },
  });
  check(
    'type=implicit filters',
    implicitOnly.data.members.length > 0 &&
      implicitOnly.data.members.every((m) => m.type === 'implicit'),
  );

  // --- directory groups ---
  const groups = await full.get.orgDirectoryGroups({});
  check('orgDirectoryGroups: no error', !groups.error, JSON.stringify(groups.error));
  check('orgDirectoryGroups: not paginated', groups.pagination === undefined);
  const groupIds = groups.data.directoryGroups.map((g) => g.id);
  check('orgDirectoryGroups: the seeded groups', same(groupIds, seed.directoryGroups.map((g) => g.id)));
  check(
    'orgDirectoryGroups: all five fields',
    groups.data.directoryGroups.every((g) =>
      ['id', 'name', 'idpId', 'createdAt', 'updatedAt'].every((k) => typeof g[k] === 'string'),
    ),
  );
  for (const group of seed.directoryGroups) {
    const listed = await full.list.orgDirectoryGroupMembers.all({
      parameters: { groupId: group.id },
      options: { per_page: 100 },
    });
    check(`group ${group.name} members: no error`, !listed.error, JSON.stringify(listed.error));
    const expected = truth.directoryGroups.find((g) => g.id === group.id).members;
    check(`group ${group.name} members: as the stand-in holds`, same(listed.data.members, expected));
    check(
      `group ${group.name} members: the seeded ids`,
      same(
        listed.data.members.map((m) => m.id).sort(),
        group.members.map((m) => m.id).sort(),
      ),
    );
  }
  const engineering = seed.directoryGroups.find((g) => g.name === 'Engineering');
  const engMembers = await full.list.orgDirectoryGroupMembers.all({
    parameters: { groupId: engineering.id },
    options: { per_page: 100 },
  });
  check('Engineering has more than one page', engMembers.data.members.length > 100);
  const nullMember = engMembers.data.members.find((m) => m.id === null);
  check(
    'Engineering has a directory user with a null id',
    nullMember?.name === 'Pat Pending' && same(nullMember.emails, ['pat.pending@example.com']),
    JSON.stringify(nullMember),
  );

  // --- provisioning: add and remove a role member ---
  const add = await writer.create.orgRoleMember({
    parameters: { roleId: 'unused' },
    data: { userId: 'zoe-angstrom' },
  });
  check('add zoe-angstrom to unused: 200 {}', !add.error && same(add.data, {}), JSON.stringify(add.error));
  const afterAdd = await full.list.orgRoleMembers({ parameters: { roleId: 'unused' } });
  check(
    'unused now lists zoe-angstrom as explicit',
    same(afterAdd.data.members.map((m) => [m.id, m.type]), [['zoe-angstrom', 'explicit']]),
  );
  const again = await writer.create.orgRoleMember({
    parameters: { roleId: 'unused' },
    data: { userId: 'zoe-angstrom' },
  });
  check('adding again: 409', again.error?.status === 409, JSON.stringify(again.error));
  const remove = await writer.delete.orgRoleMember({
    parameters: { roleId: 'unused', memberId: 'zoe-angstrom' },
  });
  check('remove zoe-angstrom from unused: 200 {}', !remove.error && same(remove.data, {}));
  const afterRemove = await full.list.orgRoleMembers({ parameters: { roleId: 'unused' } });
  check('unused is empty again', afterRemove.data.members.length === 0);
  const removeAgain = await writer.delete.orgRoleMember({
    parameters: { roleId: 'unused', memberId: 'zoe-angstrom' },
  });
  check('removing a non-member: 404', removeAgain.error?.status === 404);
  const implicitId = truth.roleMembers['security-auditor'].find((m) => m.type === 'implicit').id;
  const removeImplicit = await writer.delete.orgRoleMember({
    parameters: { roleId: 'security-auditor', memberId: implicitId },
  });
  check(
    'removing an implicit member: 409 naming the directory group',
    removeImplicit.error?.status === 409 &&
      Array.isArray(removeImplicit.error.details?.directoryGroups),
    JSON.stringify(removeImplicit.error),
  );
  const unknownUser = await writer.create.orgRoleMember({
    parameters: { roleId: 'unused' },
    data: { userId: 'nobody-here' },
  });
  check('adding a non-org-member: 404', unknownUser.error?.status === 404);

  // --- errors, as the client reports them ---
  const denied = await full.create.orgRoleMember({
    parameters: { roleId: 'unused' },
    data: { userId: 'zoe-angstrom' },
  });
  check(
    'read-only token adding a member: 401 with requiredPermission',
    denied.error?.status === 401 && typeof denied.error.details?.requiredPermission === 'string',
    JSON.stringify(denied.error),
  );
  const bad = await clientFor('not-a-token').list.orgMembers({});
  check(
    'invalid token: 401 Unauthorized without details',
    bad.error?.status === 401 && bad.error.message === 'Unauthorized' && !bad.error.details,
    JSON.stringify(bad.error),
  );
  for (const [name, probe] of [
    ['no-members-read', (c) => c.list.orgMembers({})],
    ['no-roles-read', (c) => c.list.orgRoles({})],
    ['no-directory-groups-read', (c) => c.get.orgDirectoryGroups({})],
    ['team-scoped', (c) => c.list.orgMembers({})],
  ]) {
    const res = await probe(clientFor(tokenOf(name)));
    check(
      `token ${name}: 401 with requiredPermission`,
      res.error?.status === 401 && typeof res.error.details?.requiredPermission === 'string',
      JSON.stringify(res.error),
    );
  }
  const partial = clientFor(tokenOf('no-directory-groups-read'));
  const stillReads = await partial.list.orgRoles({});
  check('no-directory-groups-read still reads roles', !stillReads.error);

  // --- rate-limit headers on every answer ---
  const one = await full.list.orgRoles({ options: { per_page: 1 } });
  const headers = one.rawResponse.headers;
  check(
    'x-ratelimit-limit/-remaining/-reset are sent',
    ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'].every((h) =>
      /^[0-9]+$/.test(headers.get(h) ?? ''),
    ),
  );
  check('per_page=1 returns one role with a cursor', one.data.roles.length === 1 && !!one.pagination.cursor);
  check('x-ratelimit-limit is 1000 by default', headers.get('x-ratelimit-limit') === '1000');

  await admin('POST', '/reset');
  console.log(
    `northflank js-client ${clientVersion} against ${base}: ${passes} checks passed, ${failures} failed`,
  );
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((err) => {
  console.error(`check.mjs crashed: ${err?.stack ?? err}`);
  process.exit(2);
});
