use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use keymint::core::jws::JwsSigner;
use keymint::core::keyring::{KeyPairRecord, Keyring, SigningAlg};
use keymint::core::lifetime::Lifetime;
use keymint::core::token::{Claims, LEEWAY_SECS, SigningSecret, TokenAuthority, TokenSigner};
use secrecy::ExposeSecret as _;

const B64: GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// Like [`B64`] but ignoring the unused bits of the last character, to compare signatures by
/// the bytes they carry.
const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

pub const ISSUER: &str = "keymint";
pub const AUDIENCE: &str = "keymint";

/// The instant the genuine tokens are issued, and verified at unless a target moves it.
pub fn now() -> DateTime<Utc> {
    at(0)
}

/// `offset` seconds after [`now`].
pub fn at(offset: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + offset, 0).expect("a representable instant")
}

/// One algorithm's signer and a token it issued.
pub struct Fixture {
    pub alg: SigningAlg,
    pub signer: TokenSigner,
    /// The same key and header, to sign arbitrary payloads: `TokenSigner` signs only claims it
    /// builds itself.
    pub jws: JwsSigner,
    /// A genuine token, issued at [`now`] for 900 s.
    pub token: String,
    /// Its claims, as `signer.verify` reads them back.
    pub claims: Claims,
    /// Since when the key signs (Unix seconds): a key pair vouches for no token issued
    /// earlier. HS256 has no such bound.
    pub signs_from: i64,
}

impl Fixture {
    fn new(alg: SigningAlg) -> Self {
        let authority = TokenAuthority::new(
            ISSUER,
            AUDIENCE,
            chrono::Duration::seconds(MAX_LIFETIME_SECS),
            keymint::api::volubile::routes().scopes().clone(),
        );
        let (signer, jws) = match alg {
            SigningAlg::Hs256 => {
                let secret = SigningSecret::new(vec![7; 32]).expect("32 bytes is enough");
                (
                    TokenSigner::hs256(&secret, authority),
                    JwsSigner::hs256(secret.expose()),
                )
            }
            alg => {
                let record = KeyPairRecord::generate(alg, now(), now()).expect("a fresh key pair");
                let jws =
                    JwsSigner::from_pkcs8(alg, &record.kid, record.private_der.expose_secret())
                        .expect("the record's own key");
                let ring = Keyring::new(alg, vec![record], chrono::Duration::seconds(900))
                    .expect("a keyring of one key");
                (TokenSigner::asymmetric(ring, authority), jws)
            }
        };
        let mut extra = serde_json::Map::new();
        extra.insert("userId".into(), "u1".into());
        let token = signer
            .issue(
                "acme",
                &"AbCdEfGhIjK".parse().expect("a key id"),
                (**keymint::api::volubile::routes().scopes())
                    .clone()
                    .parse_set("calls:read agents:read")
                    .expect("Volubile's scopes"),
                Lifetime::from_secs(900),
                &extra,
                now(),
            )
            .expect("issuing a token")
            .token;
        let claims = signer
            .verify(&token, now())
            .expect("a fresh token verifies");
        let signs_from = if alg.is_asymmetric() {
            now().timestamp()
        } else {
            i64::MIN
        };
        Self {
            alg,
            signer,
            jws,
            token,
            claims,
            signs_from,
        }
    }

    fn header(&self) -> &str {
        self.token.split('.').next().unwrap_or_default()
    }
}

/// HS256 (the secret `[7; 32]`), then each key-pair algorithm in `SigningAlg::ASYMMETRIC`
/// order (ES256, EdDSA, RS256; key pairs generated once per process).
pub fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        std::iter::once(SigningAlg::Hs256)
            .chain(SigningAlg::ASYMMETRIC.iter().copied())
            .map(Fixture::new)
            .collect()
    })
}

/// The fixture a fuzz input's byte picks.
pub fn pick(byte: impl Into<usize>) -> &'static Fixture {
    let all = fixtures();
    &all[byte.into() % all.len()]
}

/// The longest lifetime the fixtures' signers accept (`exp - iat`).
pub const MAX_LIFETIME_SECS: i64 = 48 * 3600;

/// Whether claims pass the documented checks at `now` for `fixture`'s key: our issuer and
/// audience, `exp` and `nbf` within [`LEEWAY_SECS`], a lifetime of at most
/// [`MAX_LIFETIME_SECS`], `iat` not in the future and not before the key signed (each give or
/// take [`LEEWAY_SECS`]).
pub fn acceptable(fixture: &Fixture, claims: &Claims, now: DateTime<Utc>) -> bool {
    let now = now.timestamp();
    claims.iat >= fixture.signs_from.saturating_sub(LEEWAY_SECS)
        && claims.iss == ISSUER
        && claims.aud == AUDIENCE
        && claims.exp >= now - LEEWAY_SECS
        && claims.nbf <= now + LEEWAY_SECS
        && claims.exp.saturating_sub(claims.iat) <= MAX_LIFETIME_SECS
        && claims.iat <= now + LEEWAY_SECS
}

/// What any token `fixture.signer` accepted at `now` must be: this key's header, a canonical
/// payload holding exactly `claims`, claims that pass the documented checks, and (for the
/// deterministic algorithms) the very signature this key writes for that payload, up to the
/// unused trailing bits of its last base64 character.
pub fn assert_genuine(fixture: &Fixture, token: &str, claims: &Claims, now: DateTime<Utc>) {
    let segments: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = segments[..] else {
        panic!("accepted a token of {} segments", segments.len());
    };
    assert_eq!(header, fixture.header(), "accepted another header");
    let payload_bytes = B64
        .decode(payload)
        .expect("an accepted payload is base64url");
    assert_eq!(
        B64.encode(&payload_bytes),
        payload,
        "accepted a non-canonical payload"
    );
    let decoded: Claims = serde_json::from_slice(&payload_bytes).expect("accepted claims parse");
    assert_eq!(
        &decoded, claims,
        "verify returned claims the payload does not hold"
    );
    assert!(
        acceptable(fixture, claims, now),
        "accepted claims that fail the checks: {claims:?}"
    );
    let carried = B64_LENIENT
        .decode(signature)
        .expect("an accepted signature is base64url");
    // ES256 signatures are randomised (and (r, n - s) verifies too), so only the others (RS256's
    // PKCS#1 v1.5 is deterministic) can be compared with what the key writes.
    if fixture.alg != SigningAlg::Es256 {
        let resigned = fixture.jws.sign(&payload_bytes).expect("signing");
        let (input, expected) = resigned.rsplit_once('.').expect("three segments");
        assert_eq!(
            Some(input),
            token.rsplit_once('.').map(|(input, _)| input),
            "signing input differs from what the key writes"
        );
        assert_eq!(
            carried,
            B64.decode(expected).expect("our own signature decodes"),
            "accepted a signature the key did not write"
        );
    }
}
