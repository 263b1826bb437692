-- The first signing key of each algorithm is made once, by whichever instance records it here
-- first: instances that start together must not each make their own and sign under different
-- kids until their next reload.
CREATE TABLE signing_key_genesis (
    alg TEXT PRIMARY KEY,
    kid TEXT NOT NULL
);
INSERT INTO signing_key_genesis (alg, kid) SELECT alg, MIN(kid) FROM signing_keys GROUP BY alg;
