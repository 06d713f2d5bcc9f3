/** Roles, permissions and their table, exactly as the API contract defines them. */

export const PERMISSIONS = [
  'inventory:read',
  'inventory:write',
  'inventory:adjust',
  'accounting:read',
  'accounting:post',
  'accounting:close',
  'audit:read',
  'users:manage',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = [
  'admin',
  'inventory_manager',
  'sales_clerk',
  'accountant',
  'auditor',
  'viewer',
] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  admin: PERMISSIONS,
  inventory_manager: ['inventory:read', 'inventory:write', 'inventory:adjust'],
  sales_clerk: ['inventory:read', 'inventory:write'],
  accountant: ['accounting:read', 'accounting:post', 'accounting:close', 'inventory:read'],
  auditor: ['inventory:read', 'accounting:read', 'audit:read'],
  viewer: ['inventory:read', 'accounting:read'],
};

/** The union of the roles' permissions, sorted. Unknown roles contribute nothing. */
export function permissionsOf(roles: readonly string[]): Permission[] {
  const set = new Set<Permission>();
  for (const r of roles) for (const p of ROLE_PERMISSIONS[r as Role] ?? []) set.add(p);
  return [...set].sort();
}
