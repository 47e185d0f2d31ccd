-- Untyped observations ('{"Age": 22}') are text: these take them (inlined
-- into the caller's query), so that no same-named function of another role
-- can. The same in both PostgreSQL modes (after extension.sql or managed.sql).
CREATE OR REPLACE FUNCTION @extschema@.predict_proba(obs text)
RETURNS double precision LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_proba(obs::jsonb);

CREATE OR REPLACE FUNCTION @extschema@.predict_proba(obs text, model text)
RETURNS double precision LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_proba(obs::jsonb, model);

CREATE OR REPLACE FUNCTION @extschema@.predict_class(obs text)
RETURNS boolean LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_class(obs::jsonb);

CREATE OR REPLACE FUNCTION @extschema@.predict_class(obs text, model text)
RETURNS boolean LANGUAGE sql STRICT STABLE PARALLEL SAFE
RETURN @extschema@.predict_class(obs::jsonb, model);

