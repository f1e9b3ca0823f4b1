import { z } from 'zod';

/**
 * The shapes of the Confluence Cloud REST responses Attest reads, written from Atlassian's published
 * OpenAPI specs (v2 `Page`/`BlogPost`/`SpaceBulk`/`SpacePermissionAssignment`/`FooterCommentModel`,
 * v1 `PermissionCheckResponse`/`GroupArrayWithLinks`/`User`/`SearchPageResponseSearchResult`).
 * Only the fields Attest uses are required; optional fields may be absent or null, as the specs allow,
 * and unknown fields are kept (Confluence adds fields over time). The devhost's answers are checked
 * against the same schemas in a test, so the stand-in cannot drift from what the client expects.
 */

const id = z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String);
const nullableString = z.string().nullish();
const links = z.object({ next: z.string().nullish(), base: z.string().nullish() }).passthrough().nullish();

/** v2 `GET /pages/{id}` and `GET /blogposts/{id}` with `body-format=storage`. */
export const contentV2 = z
  .object({
    id,
    title: z.string().nullish(),
    status: nullableString,
    spaceId: id,
    authorId: nullableString,
    version: z.object({ number: z.number().int().positive(), authorId: nullableString, createdAt: nullableString }).passthrough(),
    body: z
      .object({ storage: z.object({ value: z.string(), representation: z.string().nullish() }).passthrough().nullish() })
      .passthrough()
      .nullish(),
  })
  .passthrough();

/** v2 `GET /pages?id=…` and `GET /blogposts?id=…` (MultiEntityResult of PageBulk / BlogPostBulk). */
export const contentListV2 = z.object({ results: z.array(contentV2), _links: links }).passthrough();

/** v2 `GET /spaces/{id}` (and each entry of `GET /spaces?keys=`). */
export const spaceV2 = z.object({ id, key: z.string().min(1), name: nullableString }).passthrough();
export const spacesV2 = z.object({ results: z.array(spaceV2), _links: links }).passthrough();

/** v2 `GET /spaces/{id}/permissions`: principals are users, groups or (RBAC) roles. */
export const spacePermissionsV2 = z
  .object({
    results: z.array(
      z
        .object({
          principal: z.object({ type: z.enum(['user', 'group', 'role']), id: z.string().nullish() }).passthrough().nullish(),
          operation: z.object({ key: z.string(), targetType: z.string() }).passthrough().nullish(),
        })
        .passthrough(),
    ),
    _links: links,
  })
  .passthrough();

/** v2 `GET /spaces/{id}/role-assignments?role-id=`: who holds a space role. */
export const roleAssignmentsV2 = z
  .object({
    results: z.array(
      z
        .object({
          principal: z.object({ principalType: z.string(), principalId: z.string().nullish() }).passthrough(),
          roleId: nullableString,
        })
        .passthrough(),
    ),
    _links: links,
  })
  .passthrough();

/** v2 `POST /footer-comments`. */
export const footerCommentV2 = z.object({ id }).passthrough();

/** v2 `POST /pages` and `PUT /pages/{id}`: the page as written, with its new version. */
export const pageWrittenV2 = z
  .object({
    id,
    version: z.object({ number: z.number().int().positive() }).passthrough(),
    _links: z.object({ webui: z.string().nullish(), base: z.string().nullish() }).passthrough().nullish(),
  })
  .passthrough();

/** v1 `POST /content/{id}/permission/check`. */
export const permissionCheckV1 = z.object({ hasPermission: z.boolean() }).passthrough();

/** v1 `GET /user/memberof`: the server may answer fewer than `limit` rows and still have more. */
export const memberOfV1 = z
  .object({
    results: z.array(z.object({ name: z.string().min(1), id: z.string().nullish() }).passthrough()),
    start: z.number().int().nullish(),
    limit: z.number().int().nullish(),
    size: z.number().int().nullish(),
    _links: links,
  })
  .passthrough();

const userFields = {
  accountId: z.string().min(1),
  displayName: nullableString,
  publicName: nullableString,
  profilePicture: z.object({ path: nullableString }).passthrough().nullish(),
};

/** v1 `GET /user?accountId=` (with `expand=operations` for the site-admin check). */
export const userV1 = z
  .object({
    ...userFields,
    operations: z.array(z.object({ operation: z.string(), targetType: z.string() }).passthrough()).nullish(),
  })
  .passthrough();

/** v1 `GET /search/user?cql=`. */
export const userSearchV1 = z
  .object({ results: z.array(z.object({ user: z.object(userFields).passthrough().nullish() }).passthrough()) })
  .passthrough();

/** v1 `GET /group/picker?query=`. */
export const groupPickerV1 = z
  .object({ results: z.array(z.object({ name: z.string().min(1), id: z.string().nullish() }).passthrough()) })
  .passthrough();

/** Connect `GET /rest/atlassian-connect/1/addons/{addonKey}/properties/{key}`. */
export const appPropertyV1 = z.object({ key: z.string(), value: z.unknown() }).passthrough();
/** Connect `PUT …/properties/{key}`: 200 "Property updated." or 201 "Property created.". */
export const appPropertyPutV1 = z.object({ message: z.string().nullish(), statusCode: z.number().int().nullish() }).passthrough();

export type ContentV2 = z.infer<typeof contentV2>;
