use std::fmt;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

use serde_json::{Map, Value};

use super::apikey::KeyId;
use super::jws::{JwsError, JwsSigner, JwsVerifier, Parts};
use super::keyring::{Keyring, SigningAlg};
use super::lifetime::Lifetime;
use super::scope::{Catalogue, ScopeSet};

pub use super::lifetime::LEEWAY_SECS;
/// Shortest accepted HS256 secret (RFC 7518 §3.2: at least the hash output size).
pub const MIN_SECRET_LEN: usize = 32;

/// The claims every token keymint issues carries, as a verifier reads them back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The account the token acts for.
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Space-separated scopes (RFC 8693 §4.2).
    #[serde(default)]
    pub scope: String,
    /// The API key that minted the token, so rotating that key can be traced to its tokens.
    pub key_id: String,
}

/// The claims as they are written, borrowed, straight into the token's payload.
struct Minted<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: uuid::Uuid,
    scope: ScopeSet,
    scopes: &'a Catalogue,
    key_id: &'a KeyId,
    /// Claims a dialect adds (Velt's user properties, for instance).
    extra: &'a Map<String, Value>,
}

impl Minted<'_> {
    fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let mut claims = super::json::Writer::object(&mut out);
        claims.key("iss").string(self.iss);
        claims.key("sub").string(self.sub);
        claims.key("aud").string(self.aud);
        claims.key("iat").integer(self.iat);
        claims.key("nbf").integer(self.iat);
        claims.key("exp").integer(self.exp);
        claims.key("jti").uuid(&self.jti);
        claims.key("scope").words(self.scopes.names_of(self.scope));
        claims.key("key_id").plain(self.key_id.as_str());
        for (name, value) in self.extra {
            claims.key_of(name).value(value);
        }
        claims.close_object();
        out
    }
}

/// The HS256 secret: generated once and kept in the store, or given by the operator.
#[derive(Clone)]
pub struct SigningSecret(SecretSlice<u8>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a signing secret must be at least {MIN_SECRET_LEN} bytes")]
pub struct WeakSecret;

impl SigningSecret {
    pub fn new(bytes: Vec<u8>) -> Result<Self, WeakSecret> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err(WeakSecret);
        }
        Ok(Self(SecretSlice::from(bytes)))
    }

    /// Takes an operator-supplied secret without judging it yet, so that a parse error can
    /// never echo it; [`SigningSecret::checked`] judges it.
    pub fn unchecked(bytes: Vec<u8>) -> Self {
        Self(SecretSlice::from(bytes))
    }

    pub fn checked(self) -> Result<Self, WeakSecret> {
        if self.expose().len() < MIN_SECRET_LEN {
            return Err(WeakSecret);
        }
        Ok(self)
    }

    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(SecretSlice::from(bytes.to_vec()))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

/// Why a presented token was not accepted. Logged, never shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token malformed")]
    Malformed,
    #[error("token header is not one this issuer writes (unknown alg, kid or parameters)")]
    Header,
    #[error("token signature does not verify")]
    Signature,
    #[error("token claims refused: {0}")]
    Claims(String),
    #[error("token of another issuer or audience")]
    Authority,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token lifetime longer than any keymint issues, or issued in the future")]
    Lifetime,
    #[error("token issued when its key was not the one signing")]
    OutsideSignerWindow,
    #[error("token signed by a key since revoked")]
    KeyRevoked,
    #[error("no signing key is active yet")]
    NoSigningKey,
    #[error("signing failed")]
    Signing,
}

impl TokenError {
    /// Whether the token could be a guess (malformed, forged, foreign) or was genuine once
    /// (expired, not yet valid): only guesses count against the client.
    pub fn attempt(&self) -> super::error::Attempt {
        use super::error::Attempt;
        match self {
            TokenError::Expired | TokenError::NotYetValid | TokenError::KeyRevoked => {
                Attempt::Lapsed
            }
            // Our own failure, not the caller's.
            TokenError::NoSigningKey | TokenError::Signing => Attempt::Absent,
            TokenError::Malformed
            | TokenError::Header
            | TokenError::Signature
            | TokenError::Claims(_)
            | TokenError::Authority
            | TokenError::Lifetime
            | TokenError::OutsideSignerWindow => Attempt::Guess,
        }
    }
}

impl From<JwsError> for TokenError {
    fn from(err: JwsError) -> Self {
        match err {
            JwsError::Malformed => TokenError::Malformed,
            JwsError::UnknownHeader => TokenError::Header,
            JwsError::BadSignature => TokenError::Signature,
            JwsError::BadKey | JwsError::SigningFailed => TokenError::Signing,
        }
    }
}

/// What a freshly issued token looks like to the caller.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub lifetime: Lifetime,
    pub expires_at: DateTime<Utc>,
    pub jti: uuid::Uuid,
    pub scopes: ScopeSet,
}

/// Who issues and who accepts tokens, and the longest lifetime a token of ours can have.
#[derive(Debug, Clone)]
pub struct TokenAuthority {
    pub issuer: String,
    pub audience: String,
    /// The longest lifetime any enabled dialect issues: a token claiming more was not minted
    /// here, whatever its signature says.
    pub max_lifetime: chrono::Duration,
    /// The scope names tokens carry (the deployment's catalogue).
    pub scopes: Arc<Catalogue>,
}

/// Where signing keys come from.
enum Keys {
    /// HS256: one shared secret.
    Hmac {
        signer: JwsSigner,
        verifier: JwsVerifier,
    },
    /// A key pair algorithm (ES256, EdDSA, RS256): a keyring, reloaded when keys are rotated.
    Ring(RwLock<Arc<Keyring>>),
}

/// Signs and verifies tokens with one algorithm, pinned.
pub struct TokenSigner {
    alg: SigningAlg,
    keys: Keys,
    authority: TokenAuthority,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("alg", &self.alg)
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    pub fn hs256(secret: &SigningSecret, authority: TokenAuthority) -> Self {
        // The header is exactly `{"alg":"HS256"}`, as published example tokens have it.
        let signer = JwsSigner::hs256(secret.expose());
        let verifier = signer
            .verifier()
            .expect("an HMAC key always makes a verifier");
        Self {
            alg: SigningAlg::Hs256,
            keys: Keys::Hmac { signer, verifier },
            authority,
        }
    }

    /// A key pair algorithm with the given keyring.
    pub fn asymmetric(keyring: Keyring, authority: TokenAuthority) -> Self {
        let alg = keyring.alg();
        Self {
            alg,
            keys: Keys::Ring(RwLock::new(Arc::new(keyring))),
            authority,
        }
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn authority(&self) -> &TokenAuthority {
        &self.authority
    }

    fn ring(&self) -> Option<Arc<Keyring>> {
        match &self.keys {
            Keys::Ring(ring) => Some(ring.read().unwrap_or_else(|p| p.into_inner()).clone()),
            Keys::Hmac { .. } => None,
        }
    }

    /// Swaps in a freshly loaded keyring if it holds other keys than the loaded one (after a
    /// rotation); says whether it did. HS256 has none.
    pub fn replace_keyring(&self, keyring: Keyring) -> bool {
        let Keys::Ring(ring) = &self.keys else {
            return false;
        };
        let mut loaded = ring.write().unwrap_or_else(|p| p.into_inner());
        if loaded.kids().eq(keyring.kids()) {
            return false;
        }
        *loaded = Arc::new(keyring);
        true
    }

    /// The public keys verifiers may use; empty for HS256, whose secret is never published.
    pub fn jwks(&self, now: DateTime<Utc>) -> Value {
        self.ring()
            .map(|ring| ring.jwks(now))
            .unwrap_or_else(|| serde_json::json!({"keys": []}))
    }

    /// Builds the claims for a token starting `now` and signs them.
    pub fn issue(
        &self,
        subject: &str,
        key_id: &KeyId,
        scopes: ScopeSet,
        lifetime: Lifetime,
        extra: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, TokenError> {
        let iat = now.timestamp();
        let exp = iat + i64::from(lifetime.as_secs());
        let claims = Minted {
            iss: &self.authority.issuer,
            sub: subject,
            aud: &self.authority.audience,
            iat,
            exp,
            // A v4 UUID from the thread-local CSPRNG: no system call per token.
            jti: uuid::Builder::from_random_bytes(rand::random()).into_uuid(),
            scope: scopes,
            scopes: &self.authority.scopes,
            key_id,
            extra,
        };
        let payload = claims.to_json();
        let jti = claims.jti;
        let token = match &self.keys {
            Keys::Hmac { signer, .. } => signer.sign(&payload)?,
            Keys::Ring(_) => {
                let ring = self.ring().ok_or(TokenError::NoSigningKey)?;
                let key = ring.signing_key(now).ok_or(TokenError::NoSigningKey)?;
                key.signer.sign(&payload)?
            }
        };
        Ok(IssuedToken {
            token,
            lifetime,
            expires_at: DateTime::from_timestamp(exp, 0).unwrap_or(now),
            jti,
            scopes,
        })
    }

    /// Accepts only tokens whose header is one of ours (the pinned algorithm and, for key
    /// pairs, a published `kid`), with a valid signature, our issuer and audience, the required
    /// claims, inside their validity window (± [`LEEWAY_SECS`]).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let parts = Parts::split(token)?;
        // For a key pair, when it was the signer: it vouches for no token issued outside that.
        let (payload, signed_from, signed_until) = match &self.keys {
            Keys::Hmac { verifier, .. } => (verifier.verify(&parts)?, i64::MIN, None),
            Keys::Ring(_) => {
                let ring = self.ring().ok_or(TokenError::NoSigningKey)?;
                let Some(key) = ring.verifying_key(&parts, now) else {
                    return Err(match ring.revoked_key(&parts) {
                        Some(revoked) if revoked.verifier.verify(&parts).is_ok() => {
                            TokenError::KeyRevoked
                        }
                        _ => TokenError::Header,
                    });
                };
                let until = key.superseded_at.map(|at| at.timestamp());
                (
                    key.verifier.verify(&parts)?,
                    key.activates_at.timestamp(),
                    until,
                )
            }
        };
        let claims: Claims =
            serde_json::from_slice(&payload).map_err(|err| TokenError::Claims(err.to_string()))?;
        if claims.iat < signed_from.saturating_sub(LEEWAY_SECS)
            || signed_until.is_some_and(|until| claims.iat > until.saturating_add(LEEWAY_SECS))
        {
            return Err(TokenError::OutsideSignerWindow);
        }
        if claims.iss != self.authority.issuer || claims.aud != self.authority.audience {
            return Err(TokenError::Authority);
        }
        check_window(claims.nbf, claims.exp, now.timestamp())?;
        // Only a leaked signing secret could have made these: bound what it can mint.
        let lifetime = claims.exp.saturating_sub(claims.iat);
        if lifetime > self.authority.max_lifetime.num_seconds()
            || claims.iat > now.timestamp().saturating_add(LEEWAY_SECS)
        {
            return Err(TokenError::Lifetime);
        }
        Ok(claims)
    }
}

/// Whether a token with these `nbf` and `exp` is valid at `now` (Unix seconds), give or take
/// [`LEEWAY_SECS`]: the one time check, for fresh tokens and remembered ones alike.
pub fn check_window(nbf: i64, exp: i64, now: i64) -> Result<(), TokenError> {
    if exp < now - LEEWAY_SECS {
        return Err(TokenError::Expired);
    }
    if nbf > now + LEEWAY_SECS {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use chrono::Duration;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    use super::*;

    /// Scopes of the example catalogue, named.
    fn scopes(names: &str) -> ScopeSet {
        Catalogue::example().parse_set(names).unwrap()
    }

    fn signer() -> TokenSigner {
        TokenSigner::hs256(
            &SigningSecret::new(vec![7; 32]).unwrap(),
            TokenAuthority {
                issuer: "keymint".into(),
                audience: "keymint".into(),
                max_lifetime: Duration::hours(48),
                scopes: Arc::new(Catalogue::example()),
            },
        )
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn issue(signer: &TokenSigner) -> IssuedToken {
        signer
            .issue(
                "acme",
                &"AAAAAAAAAAA".parse().unwrap(),
                scopes("calls:read"),
                Lifetime::from_secs(900),
                &Map::new(),
                now(),
            )
            .unwrap()
    }

    fn segment(token: &str, i: usize) -> serde_json::Value {
        let part = token.split('.').nth(i).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn the_header_is_exactly_alg_hs256() {
        let issued = issue(&signer());
        assert_eq!(
            segment(&issued.token, 0),
            serde_json::json!({"alg": "HS256"})
        );
    }

    #[test]
    fn an_issued_token_verifies_and_carries_its_claims() {
        let signer = signer();
        let issued = issue(&signer);
        let claims = signer.verify(&issued.token, now()).unwrap();
        assert_eq!(claims.sub, "acme");
        assert_eq!(claims.iss, "keymint");
        assert_eq!(claims.aud, "keymint");
        assert_eq!(claims.jti, issued.jti.to_string());
        assert_eq!(claims.iat, now().timestamp());
        assert_eq!(claims.exp, issued.expires_at.timestamp());
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(claims.nbf, claims.iat);
        assert_eq!(claims.scope, "calls:read");
        assert_eq!(claims.key_id, "AAAAAAAAAAA");
    }

    #[test]
    fn tokens_decode_with_jsonwebtoken_extra_claims_and_all() {
        let signer = signer();
        let mut extra = Map::new();
        extra.insert("userId".into(), serde_json::json!("u \"1\" \\ ü"));
        extra.insert("isAdmin".into(), serde_json::json!(true));
        let issued = signer
            .issue(
                "acme \"corp\"",
                &"AAAAAAAAAAA".parse().unwrap(),
                scopes("calls:read agents:write"),
                Lifetime::from_secs(900),
                &extra,
                now(),
            )
            .unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_audience(&["keymint"]);
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &issued.token,
            &jsonwebtoken::DecodingKey::from_secret(&[7; 32]),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(decoded["sub"], "acme \"corp\"");
        assert_eq!(decoded["scope"], "calls:read agents:write");
        assert_eq!(decoded["userId"], "u \"1\" \\ ü");
        assert_eq!(decoded["isAdmin"], true);
        assert_eq!(decoded["nbf"], decoded["iat"]);
        assert_eq!(decoded["jti"], issued.jti.to_string());
    }

    #[test]
    fn expiry_is_enforced_with_a_small_leeway() {
        let signer = signer();
        let issued = issue(&signer);
        let at_edge = now() + Duration::seconds(900 + LEEWAY_SECS);
        assert!(signer.verify(&issued.token, at_edge).is_ok());
        let past_edge = at_edge + Duration::seconds(1);
        assert!(matches!(
            signer.verify(&issued.token, past_edge),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn a_token_from_the_future_is_not_yet_valid() {
        let signer = signer();
        let issued = issue(&signer);
        let early = now() - Duration::seconds(LEEWAY_SECS + 1);
        assert!(matches!(
            signer.verify(&issued.token, early),
            Err(TokenError::NotYetValid)
        ));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let other = TokenSigner::hs256(
            &SigningSecret::new(vec![8; 32]).unwrap(),
            signer().authority().clone(),
        );
        let issued = issue(&other);
        assert!(signer().verify(&issued.token, now()).is_err());
    }

    #[test]
    fn a_token_for_another_audience_or_issuer_is_refused() {
        let secret = SigningSecret::new(vec![7; 32]).unwrap();
        for (issuer, audience) in [("someone-else", "keymint"), ("keymint", "another-api")] {
            let foreign = TokenSigner::hs256(
                &secret,
                TokenAuthority {
                    issuer: issuer.into(),
                    audience: audience.into(),
                    max_lifetime: Duration::hours(48),
                    scopes: Arc::new(Catalogue::example()),
                },
            );
            let issued = issue(&foreign);
            assert!(
                signer().verify(&issued.token, now()).is_err(),
                "{issuer} {audience}"
            );
        }
    }

    /// Signs `header.payload` with the test secret, as an attacker who knew it could.
    fn forge(header: serde_json::Value, payload: serde_json::Value, secret: &[u8]) -> String {
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
        };
        let message = format!("{}.{}", b64(&header), b64(&payload));
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(secret),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{message}.{signature}")
    }

    fn valid_payload() -> serde_json::Value {
        let token = issue(&signer()).token;
        segment(&token, 1)
    }

    #[test]
    fn a_correctly_forged_control_token_is_accepted() {
        let token = forge(
            serde_json::json!({"alg": "HS256"}),
            valid_payload(),
            &[7; 32],
        );
        assert!(
            signer().verify(&token, now()).is_ok(),
            "the forge helper itself works"
        );
    }

    #[test]
    fn alg_none_in_any_spelling_is_refused() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let token = forge(serde_json::json!({"alg": alg}), valid_payload(), &[7; 32]);
            let unsigned = format!("{}.", token.rsplit_once('.').unwrap().0);
            assert!(signer().verify(&token, now()).is_err(), "{alg}");
            assert!(signer().verify(&unsigned, now()).is_err(), "{alg} unsigned");
        }
    }

    #[test]
    fn stripped_or_empty_signatures_are_refused() {
        let token = issue(&signer()).token;
        let (message, _) = token.rsplit_once('.').unwrap();
        for bad in [
            message.to_owned(),
            format!("{message}."),
            format!("{message}.AAAA"),
        ] {
            assert!(signer().verify(&bad, now()).is_err(), "{bad}");
        }
    }

    #[test]
    fn another_algorithm_is_refused_even_with_a_valid_signature_for_it() {
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.typ = None;
            let token = jsonwebtoken::encode(
                &header,
                &valid_payload(),
                &EncodingKey::from_secret(&[7; 32]),
            )
            .unwrap();
            assert!(signer().verify(&token, now()).is_err(), "{alg:?}");
        }
    }

    #[test]
    fn headers_naming_keys_urls_or_critical_extensions_are_refused() {
        let cases = [
            serde_json::json!({"alg": "HS256", "crit": ["exp"]}),
            serde_json::json!({"alg": "HS256", "jku": "https://attacker.example/jwks.json"}),
            serde_json::json!({"alg": "HS256", "x5u": "https://attacker.example/cert.pem"}),
            serde_json::json!({"alg": "HS256", "jwk": {"kty": "oct", "k": "AAAA"}}),
            serde_json::json!({"alg": "HS256", "x5c": ["MIIB"]}),
            serde_json::json!({"alg": "HS256", "kid": "../../../../dev/null"}),
            serde_json::json!({"alg": "HS256", "kid": "' OR 1=1 --"}),
        ];
        for header in cases {
            let token = forge(header.clone(), valid_payload(), &[7; 32]);
            let result = signer().verify(&token, now());
            assert!(
                matches!(result, Err(TokenError::Header)),
                "{header}: {result:?}"
            );
        }
    }

    #[test]
    fn wrongly_typed_time_claims_are_refused() {
        for (claim, value) in [
            ("exp", serde_json::json!("1900000000")),
            ("nbf", serde_json::json!("0")),
            ("exp", serde_json::json!(null)),
            ("iat", serde_json::json!(1.5)),
        ] {
            let mut payload = valid_payload();
            payload[claim] = value.clone();
            let token = forge(serde_json::json!({"alg": "HS256"}), payload, &[7; 32]);
            assert!(signer().verify(&token, now()).is_err(), "{claim}={value}");
        }
    }

    #[test]
    fn missing_required_claims_are_refused() {
        for claim in ["exp", "iss", "aud", "sub"] {
            let mut payload = valid_payload();
            payload.as_object_mut().unwrap().remove(claim);
            let token = forge(serde_json::json!({"alg": "HS256"}), payload, &[7; 32]);
            assert!(signer().verify(&token, now()).is_err(), "{claim}");
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(SigningSecret::new(vec![1; 31]).is_err());
        assert!(format!("{:?}", SigningSecret::generate()).contains("redacted"));
    }
}
