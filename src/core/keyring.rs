//! Asymmetric signing keys (ES256, EdDSA, RS256): generating them, choosing the one that signs now, and
//! which public keys to publish (JWKS).
//!
//! Rotation never surprises a verifier: a new key is published first and only signs from its
//! `activates_at`, after verifiers that refresh the JWKS have seen it; a key stays published until
//! every token it signed has expired.

use std::fmt;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretSlice};
use serde_json::{Value, json};

use super::jws::{self, JwsSigner, JwsVerifier, PublicKey};

pub use super::alg::{SigningAlg, UnknownAlg};

/// A key pair as the store keeps it: PKCS#8 DER of the private key.
#[derive(Clone)]
pub struct KeyPairRecord {
    pub kid: String,
    pub alg: SigningAlg,
    pub private_der: SecretSlice<u8>,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    /// When an operator revoked it (`signing-keys revoke`): it then neither signs nor verifies,
    /// and is no longer published.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for KeyPairRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPairRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("activates_at", &self.activates_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("HS256 signs with one shared secret; key pairs are for ES256, EdDSA and RS256")]
    NotAsymmetric,
    #[error("stored signing key {0} is unreadable")]
    Corrupt(String),
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The public JWK members that define the key (RFC 7638 §3.2), in lexicographic order.
fn public_members(public_key: Option<PublicKey<'_>>) -> Result<Value, KeyringError> {
    match public_key {
        Some(PublicKey::P256([4, point @ ..])) if point.len() == 64 => {
            let (x, y) = point.split_at(32);
            Ok(json!({"crv": "P-256", "kty": "EC", "x": b64(x), "y": b64(y)}))
        }
        Some(PublicKey::P256(_)) => Err(KeyringError::Corrupt("ES256 point".into())),
        Some(PublicKey::Ed25519(x)) if x.len() == 32 => {
            Ok(json!({"crv": "Ed25519", "kty": "OKP", "x": b64(x)}))
        }
        Some(PublicKey::Ed25519(_)) => Err(KeyringError::Corrupt("EdDSA public key".into())),
        Some(PublicKey::Rsa { n, e }) => Ok(rsa_members(n, e)),
        None => Err(KeyringError::NotAsymmetric),
    }
}

/// RSA's members from the big-endian modulus and exponent, which must carry no leading zero
/// bytes (RFC 7518 §6.3.1): a zero would change the base64url, and with it the thumbprint.
fn rsa_members(n: &[u8], e: &[u8]) -> Value {
    json!({"e": b64(e), "kty": "RSA", "n": b64(n)})
}

/// RFC 7638 thumbprint: the `kid` is derived from the public key itself.
fn thumbprint(members: &Value) -> String {
    // serde_json writes object members in key order, which is what RFC 7638 asks for.
    b64(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, members.to_string().as_bytes())
            .as_ref(),
    )
}

impl KeyPairRecord {
    /// A fresh key pair of `alg` that signs from `activates_at`.
    pub fn generate(
        alg: SigningAlg,
        now: DateTime<Utc>,
        activates_at: DateTime<Utc>,
    ) -> Result<Self, KeyringError> {
        let der = jws::generate_pkcs8(alg).map_err(|_| KeyringError::NotAsymmetric)?;
        let signer = JwsSigner::from_pkcs8(alg, "", &der)
            .map_err(|_| KeyringError::Corrupt(alg.as_str().into()))?;
        let kid = thumbprint(&public_members(signer.public_key())?);
        Ok(Self {
            kid,
            alg,
            private_der: SecretSlice::from(der),
            created_at: now,
            activates_at,
            revoked_at: None,
        })
    }
}

/// One usable key.
pub struct RingKey {
    pub kid: String,
    pub activates_at: DateTime<Utc>,
    /// When the next key took over; `None` while this one is the newest.
    pub superseded_at: Option<DateTime<Utc>>,
    /// Revoked: kept only so that no older key takes its place as the signer.
    pub revoked: bool,
    pub signer: JwsSigner,
    pub verifier: JwsVerifier,
    pub jwk: Value,
}

/// Every stored key of one algorithm, oldest first.
pub struct Keyring {
    alg: SigningAlg,
    keys: Vec<RingKey>,
    /// The longest lifetime any token can have: how long a superseded key stays published.
    max_token_lifetime: Duration,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<_> = self.kids().collect();
        f.debug_struct("Keyring")
            .field("alg", &self.alg)
            .field("kids", &kids)
            .finish()
    }
}

impl Keyring {
    pub fn new(
        alg: SigningAlg,
        mut records: Vec<KeyPairRecord>,
        max_token_lifetime: Duration,
    ) -> Result<Self, KeyringError> {
        // A key revoked before it ever signed never existed, as far as the timeline goes.
        records.retain(|r| r.alg == alg && r.revoked_at.is_none_or(|at| at >= r.activates_at));
        records.sort_by_key(|r| (r.activates_at, r.created_at));
        let activations: Vec<_> = records.iter().map(|r| r.activates_at).collect();
        let keys = records
            .iter()
            .enumerate()
            .map(|(i, record)| {
                let corrupt = |_| KeyringError::Corrupt(record.kid.clone());
                let der = record.private_der.expose_secret();
                let signer = JwsSigner::from_pkcs8(alg, &record.kid, der).map_err(corrupt)?;
                let verifier = signer.verifier().map_err(corrupt)?;
                let members = public_members(signer.public_key())?;
                let mut jwk = members;
                jwk["kid"] = json!(record.kid);
                jwk["alg"] = json!(alg.as_str());
                jwk["use"] = json!("sig");
                Ok(RingKey {
                    kid: record.kid.clone(),
                    activates_at: record.activates_at,
                    superseded_at: activations.get(i + 1).copied(),
                    revoked: record.revoked_at.is_some(),
                    signer,
                    verifier,
                    jwk,
                })
            })
            .collect::<Result<_, KeyringError>>()?;
        Ok(Self {
            alg,
            keys,
            max_token_lifetime,
        })
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The ids of the keys not revoked, oldest first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys
            .iter()
            .filter(|k| !k.revoked)
            .map(|k| k.kid.as_str())
    }

    /// The key that signs at `now`: the newest one already active, unless it was revoked (an
    /// older key never signs again; `signing-keys revoke` puts a new one in its place).
    pub fn signing_key(&self, now: DateTime<Utc>) -> Option<&RingKey> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.activates_at <= now)
            .filter(|k| !k.revoked)
    }

    /// Published keys: everything neither retired nor revoked, including keys waiting to
    /// activate.
    fn published(&self, now: DateTime<Utc>) -> impl Iterator<Item = &RingKey> {
        let keep = self.max_token_lifetime + Duration::seconds(super::lifetime::LEEWAY_SECS);
        self.keys
            .iter()
            .filter(move |k| !k.revoked && k.superseded_at.is_none_or(|at| at + keep > now))
    }

    /// The published key whose header the token carries, if any.
    pub fn verifying_key(&self, token: &jws::Parts<'_>, now: DateTime<Utc>) -> Option<&RingKey> {
        self.published(now).find(|k| k.verifier.owns(token))
    }

    /// The revoked key whose header the token carries, if any: its tokens are refused, but
    /// as genuine tokens of a withdrawn key, not as forgeries.
    pub fn revoked_key(&self, token: &jws::Parts<'_>) -> Option<&RingKey> {
        self.keys
            .iter()
            .find(|k| k.revoked && k.verifier.owns(token))
    }

    /// The JWKS document (RFC 7517 §5): public parts only.
    pub fn jwks(&self, now: DateTime<Utc>) -> Value {
        let keys: Vec<_> = self.published(now).map(|k| k.jwk.clone()).collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn b64_decode(text: &str) -> Vec<u8> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .unwrap()
    }

    fn ring(alg: SigningAlg, activations: &[i64]) -> Keyring {
        let records = activations
            .iter()
            .map(|&a| KeyPairRecord::generate(alg, at(0), at(a)).unwrap())
            .collect();
        Keyring::new(alg, records, Duration::seconds(900)).unwrap()
    }

    #[test]
    fn algorithms_parse_from_their_jose_names() {
        assert_eq!("EdDSA".parse(), Ok(SigningAlg::EdDsa));
        assert_eq!("ES256".parse(), Ok(SigningAlg::Es256));
        assert_eq!("RS256".parse(), Ok(SigningAlg::Rs256));
        assert!("es256".parse::<SigningAlg>().is_err());
        assert!("rs256".parse::<SigningAlg>().is_err());
        assert!("none".parse::<SigningAlg>().is_err());
    }

    #[test]
    fn every_algorithm_parses_from_the_name_it_displays() {
        for &alg in [SigningAlg::Hs256].iter().chain(SigningAlg::ASYMMETRIC) {
            assert_eq!(alg.to_string().parse(), Ok(alg));
        }
    }

    #[test]
    fn an_unknown_algorithm_is_answered_with_the_list_of_known_ones() {
        let err = "PS256".parse::<SigningAlg>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "a signing algorithm is HS256, ES256, EdDSA or RS256"
        );
    }

    #[test]
    fn only_hs256_is_left_out_of_the_asymmetric_algorithms() {
        assert!(!SigningAlg::ASYMMETRIC.contains(&SigningAlg::Hs256));
        assert!(SigningAlg::ASYMMETRIC.iter().all(|alg| alg.is_asymmetric()));
        assert_eq!(SigningAlg::ASYMMETRIC.len(), 3);
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint_of_the_public_key() {
        for &alg in SigningAlg::ASYMMETRIC {
            let record = KeyPairRecord::generate(alg, at(0), at(0)).unwrap();
            let der = record.private_der.expose_secret();
            let signer = JwsSigner::from_pkcs8(alg, &record.kid, der).unwrap();
            let members = public_members(signer.public_key()).unwrap();
            assert_eq!(record.kid, thumbprint(&members));
            assert_eq!(record.kid.len(), 43);
        }
    }

    #[test]
    fn rsa_members_give_the_thumbprint_of_rfc_7638s_example() {
        // RFC 7638 §3.1: the example RSA key and its thumbprint.
        let n = b64_decode(concat!(
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJEC",
            "PebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvz",
            "qY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZ",
            "u0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        ));
        let members = rsa_members(&n, &[1, 0, 1]);
        assert_eq!(
            thumbprint(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn an_rsa_jwk_carries_the_modulus_and_exponent_without_leading_zeros() {
        let jwks = ring(SigningAlg::Rs256, &[0]).jwks(at(1));
        let key = &jwks["keys"][0];
        assert_eq!(key["kty"], "RSA");
        assert_eq!(key["e"], "AQAB");
        let n = b64_decode(key["n"].as_str().unwrap());
        assert_eq!(n.len(), 256, "a 2048-bit modulus");
        assert_ne!(n[0], 0);
    }

    #[test]
    fn an_rs256_token_verifies_with_jsonwebtoken_given_the_jwks_modulus_and_exponent() {
        let ring = ring(SigningAlg::Rs256, &[0]);
        let token = ring.keys[0]
            .signer
            .sign(br#"{"sub":"acme","exp":4000000000}"#)
            .unwrap();
        let jwk = &ring.jwks(at(1))["keys"][0];
        let key = jsonwebtoken::DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.required_spec_claims.clear();
        let decoded = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
        assert_eq!(decoded.claims["sub"], "acme");
        assert_eq!(decoded.header.kid.as_deref(), jwk["kid"].as_str());
    }

    #[test]
    fn the_jwks_holds_public_parts_only() {
        for &alg in SigningAlg::ASYMMETRIC {
            let jwks = ring(alg, &[0]).jwks(at(1));
            let key = &jwks["keys"][0];
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.get(private).is_none(), "{key}");
            }
            assert_eq!(key["alg"], alg.as_str());
            assert_eq!(key["use"], "sig");
            assert!(key["kid"].is_string());
        }
    }

    #[test]
    fn a_new_key_is_published_before_it_signs() {
        let ring = ring(SigningAlg::Es256, &[0, 300]);
        let (old, new) = (&ring.keys[0].kid, &ring.keys[1].kid);
        assert_eq!(&ring.signing_key(at(299)).unwrap().kid, old);
        assert_eq!(ring.jwks(at(1))["keys"].as_array().unwrap().len(), 2);
        assert_eq!(&ring.signing_key(at(300)).unwrap().kid, new);
    }

    #[test]
    fn an_old_key_stays_published_until_its_tokens_expired() {
        let ring = ring(SigningAlg::EdDsa, &[0, 300]);
        let token = ring.keys[0].signer.sign(b"{}").unwrap();
        let old = jws::Parts::split(&token).unwrap();
        // Superseded at 300; its last tokens live 900 s, plus leeway.
        assert!(ring.verifying_key(&old, at(300 + 900)).is_some());
        assert!(ring.verifying_key(&old, at(300 + 900 + 6)).is_none());
        assert_eq!(ring.jwks(at(2000))["keys"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn a_revoked_key_neither_verifies_nor_is_published_nor_signs() {
        let mut records = vec![
            KeyPairRecord::generate(SigningAlg::Es256, at(0), at(0)).unwrap(),
            KeyPairRecord::generate(SigningAlg::Es256, at(0), at(300)).unwrap(),
        ];
        let token = {
            let ring = Keyring::new(SigningAlg::Es256, records.clone(), Duration::seconds(900));
            ring.unwrap().keys[1].signer.sign(b"{}").unwrap()
        };
        records[1].revoked_at = Some(at(400));
        let ring = Keyring::new(SigningAlg::Es256, records, Duration::seconds(900)).unwrap();
        let parts = jws::Parts::split(&token).unwrap();
        assert!(ring.verifying_key(&parts, at(500)).is_none());
        assert_eq!(ring.jwks(at(500))["keys"].as_array().unwrap().len(), 1);
        // The key it superseded does not take over again.
        assert!(ring.signing_key(at(500)).is_none());
        assert_eq!(ring.kids().count(), 1);
    }

    #[test]
    fn no_key_signs_before_the_first_activates() {
        assert!(ring(SigningAlg::Es256, &[10]).signing_key(at(5)).is_none());
    }

    #[test]
    fn debug_output_never_shows_private_keys() {
        for &alg in SigningAlg::ASYMMETRIC {
            let record = KeyPairRecord::generate(alg, at(0), at(0)).unwrap();
            let shown = format!("{record:?} {:?}", ring(alg, &[0]));
            assert!(!shown.contains("private_der"), "{shown}");
        }
    }
}
