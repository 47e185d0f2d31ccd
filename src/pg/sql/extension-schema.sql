/*
 * extension-schema.sql - the extension's internal functions live in their
 * own schema, out of the users' way (\df shows what they call). Callers of
 * the user-facing functions look their internal functions up there: USAGE
 * for everyone, CREATE for no one but its owner.
 */
CREATE SCHEMA predict_internal;
GRANT USAGE ON SCHEMA predict_internal TO PUBLIC;
