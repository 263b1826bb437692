//! Compact JWS (RFC 7515 §7.1) with keys parsed once.
//!
//! Signing is the hot path of every token request, so the key is parsed when it is loaded, not
//! per call (`jsonwebtoken::encode` rebuilds its signer from the key bytes on every call, which for
//! ES256 means a second scalar multiplication per token). The header of each key is serialized
//! once too. A token is accepted only if its header is byte for byte one this issuer writes:
//! nothing in a presented header (`alg`, `jku`, `crit`, ...) is ever interpreted.

use std::fmt;

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use aws_lc_rs::{hmac, rand::SystemRandom};
use base64::Engine as _;

use super::alg::SigningAlg;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Longest compact token worth looking at; ours are well under 1 KiB.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Longest signature of any key here: RS256 with a 4096-bit modulus (ES256 and EdDSA: 64
/// bytes; the RSA keys keymint makes: 256). Larger RSA keys are refused when loaded.
const MAX_SIGNATURE_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("header is not one this issuer writes")]
    UnknownHeader,
    #[error("signature does not verify")]
    BadSignature,
    #[error("key is unusable")]
    BadKey,
    #[error("signing failed")]
    SigningFailed,
}

/// What a token's header says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typ {
    /// No `typ`, as the proprietary dialects' published example tokens have it.
    Untyped,
    /// `typ: at+jwt`: an OAuth 2.0 access token (RFC 9068 §2.1), which resource servers that
    /// follow RFC 9068 §4 insist on.
    AccessToken,
}

impl Typ {
    fn header_value(self) -> Option<String> {
        match self {
            Typ::Untyped => None,
            Typ::AccessToken => Some("at+jwt".to_owned()),
        }
    }
}

/// The header of a key's tokens, base64url-encoded once: `{"alg":"HS256"}`, or with `kid` for
/// key pairs (the same bytes `jsonwebtoken` writes, so tokens minted before stay valid).
fn encoded_header(alg: SigningAlg, kid: Option<&str>, typ: Typ) -> String {
    let mut header = jsonwebtoken::Header::new(alg.algorithm());
    header.typ = typ.header_value();
    header.kid = kid.map(str::to_owned);
    let json = serde_json::to_vec(&header).expect("a header always serializes");
    B64.encode(json)
}

enum SignKey {
    // Boxed: an HMAC key holds two hash states, twenty times a key pair's handle.
    Hmac(Box<hmac::Key>),
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

impl SignKey {
    /// Bytes in a signature of this key.
    fn signature_len(&self) -> usize {
        match self {
            SignKey::Hmac(_) => 32,
            SignKey::Es256(_) | SignKey::EdDsa(_) => 64,
            SignKey::Rs256(pair) => pair.public_modulus_len(),
        }
    }
}

/// A key pair's public half, in the pieces its JWK is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKey<'k> {
    /// An uncompressed P-256 point: 0x04, then x and y.
    P256(&'k [u8]),
    Ed25519(&'k [u8]),
    /// Modulus and exponent, big-endian without leading zeros (what RFC 7518 §6.3.1 encodes).
    Rsa {
        n: &'k [u8],
        e: &'k [u8],
    },
}

/// Signs tokens with one key.
pub struct JwsSigner {
    /// The header of each [`Typ`], in its order.
    headers: [String; 2],
    key: SignKey,
}

impl fmt::Debug for JwsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwsSigner")
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// Both headers a key writes.
fn encoded_headers(alg: SigningAlg, kid: Option<&str>) -> [String; 2] {
    [
        encoded_header(alg, kid, Typ::Untyped),
        encoded_header(alg, kid, Typ::AccessToken),
    ]
}

impl JwsSigner {
    pub fn hs256(secret: &[u8]) -> Self {
        Self {
            headers: encoded_headers(SigningAlg::Hs256, None),
            key: SignKey::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret))),
        }
    }

    /// An ES256, EdDSA or RS256 key from its PKCS#8 DER.
    pub fn from_pkcs8(alg: SigningAlg, kid: &str, der: &[u8]) -> Result<Self, JwsError> {
        let key = match alg {
            SigningAlg::Es256 => SignKey::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| JwsError::BadKey)?,
            ),
            SigningAlg::EdDsa => {
                SignKey::EdDsa(Ed25519KeyPair::from_pkcs8(der).map_err(|_| JwsError::BadKey)?)
            }
            // aws-lc-rs takes 2048 to 8192 bits; signatures must fit the stack buffers here.
            SigningAlg::Rs256 => match RsaKeyPair::from_pkcs8(der) {
                Ok(pair) if pair.public_modulus_len() <= MAX_SIGNATURE_LEN => SignKey::Rs256(pair),
                _ => return Err(JwsError::BadKey),
            },
            SigningAlg::Hs256 => return Err(JwsError::BadKey),
        };
        Ok(Self {
            headers: encoded_headers(alg, Some(kid)),
            key,
        })
    }

    /// The public key; `None` for HS256, whose secret has no public half.
    pub fn public_key(&self) -> Option<PublicKey<'_>> {
        match &self.key {
            SignKey::Hmac(_) => None,
            SignKey::Es256(pair) => Some(PublicKey::P256(pair.public_key().as_ref())),
            SignKey::EdDsa(pair) => Some(PublicKey::Ed25519(pair.public_key().as_ref())),
            SignKey::Rs256(pair) => {
                let public = pair.public_key();
                Some(PublicKey::Rsa {
                    n: public.modulus().big_endian_without_leading_zero(),
                    e: public.exponent().big_endian_without_leading_zero(),
                })
            }
        }
    }

    /// The verifier for this key's tokens.
    pub fn verifier(&self) -> Result<JwsVerifier, JwsError> {
        let key = match &self.key {
            SignKey::Hmac(key) => VerifyKey::Hmac(key.clone()),
            SignKey::Es256(pair) => VerifyKey::Public(
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
                    .map_err(|_| JwsError::BadKey)?,
            ),
            SignKey::EdDsa(pair) => VerifyKey::Public(
                ParsedPublicKey::new(&ED25519, pair.public_key().as_ref())
                    .map_err(|_| JwsError::BadKey)?,
            ),
            // The public key's bytes are a PKCS#1 RSAPublicKey, which this parses.
            SignKey::Rs256(pair) => VerifyKey::Public(
                ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref())
                    .map_err(|_| JwsError::BadKey)?,
            ),
        };
        Ok(JwsVerifier {
            headers: self.headers.clone(),
            key,
        })
    }

    /// `header.payload.signature`, all base64url, in one allocation, with no `typ`.
    pub fn sign(&self, payload: &[u8]) -> Result<String, JwsError> {
        self.sign_typed(payload, Typ::Untyped)
    }

    /// `header.payload.signature` with the header of `typ`.
    pub fn sign_typed(&self, payload: &[u8], typ: Typ) -> Result<String, JwsError> {
        let header = &self.headers[typ as usize];
        let b64_len = |bytes: usize| (bytes * 4).div_ceil(3);
        let mut token = String::with_capacity(
            header.len() + 2 + b64_len(payload.len()) + b64_len(self.key.signature_len()),
        );
        token.push_str(header);
        token.push('.');
        B64.encode_string(payload, &mut token);
        let input = token.as_bytes();
        match &self.key {
            SignKey::Hmac(key) => {
                let tag = hmac::sign(key, input);
                token.push('.');
                B64.encode_string(tag.as_ref(), &mut token);
            }
            SignKey::Es256(pair) => {
                let signature = pair
                    .sign(&SystemRandom::new(), input)
                    .map_err(|_| JwsError::SigningFailed)?;
                token.push('.');
                B64.encode_string(signature.as_ref(), &mut token);
            }
            SignKey::EdDsa(pair) => {
                let signature = pair.sign(input);
                token.push('.');
                B64.encode_string(signature.as_ref(), &mut token);
            }
            SignKey::Rs256(pair) => {
                let mut buffer = [0u8; MAX_SIGNATURE_LEN];
                let signature = &mut buffer[..pair.public_modulus_len()];
                // PKCS#1 v1.5 is deterministic: aws-lc-rs ignores the generator.
                pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input, signature)
                    .map_err(|_| JwsError::SigningFailed)?;
                token.push('.');
                B64.encode_string(signature, &mut token);
            }
        }
        Ok(token)
    }
}

enum VerifyKey {
    Hmac(Box<hmac::Key>),
    Public(ParsedPublicKey),
}

/// Checks the signature of tokens one key made.
pub struct JwsVerifier {
    headers: [String; 2],
    key: VerifyKey,
}

impl fmt::Debug for JwsVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwsVerifier")
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// The bytes of a compact token: base64url and dots.
const COMPACT: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
        b += 1;
    }
    table
};

/// A compact token cut at its dots, not yet verified.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'t> {
    pub header: &'t str,
    /// `header.payload`, what the signature covers.
    signing_input: &'t str,
    payload: &'t str,
    signature: &'t str,
}

impl<'t> Parts<'t> {
    /// Exactly three segments, none with anything but base64url characters.
    pub fn split(token: &'t str) -> Result<Self, JwsError> {
        // Checked without early exit, so it vectorises: this runs on every bearer token.
        if token.len() > MAX_TOKEN_LEN
            || !token
                .bytes()
                .fold(true, |ok, b| ok & COMPACT[usize::from(b)])
        {
            return Err(JwsError::Malformed);
        }
        let (signing_input, signature) = token.rsplit_once('.').ok_or(JwsError::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(JwsError::Malformed)?;
        if payload.contains('.') || header.is_empty() || payload.is_empty() || signature.is_empty()
        {
            return Err(JwsError::Malformed);
        }
        Ok(Self {
            header,
            signing_input,
            payload,
            signature,
        })
    }
}

impl JwsVerifier {
    /// Whether `parts` carries one of this key's headers: the only way a key is chosen.
    pub fn owns(&self, parts: &Parts<'_>) -> bool {
        self.headers.iter().any(|header| parts.header == header)
    }

    /// Verifies the signature and returns the decoded payload.
    pub fn verify(&self, parts: &Parts<'_>) -> Result<Vec<u8>, JwsError> {
        if !self.owns(parts) {
            return Err(JwsError::UnknownHeader);
        }
        let mut signature = [0u8; MAX_SIGNATURE_LEN];
        let len = B64
            .decode_slice(parts.signature, &mut signature)
            .map_err(|_| JwsError::Malformed)?;
        let input = parts.signing_input.as_bytes();
        let verified = match &self.key {
            VerifyKey::Hmac(key) => hmac::verify(key, input, &signature[..len]),
            VerifyKey::Public(key) => key.verify_sig(input, &signature[..len]),
        };
        verified.map_err(|_| JwsError::BadSignature)?;
        B64.decode(parts.payload).map_err(|_| JwsError::Malformed)
    }
}

/// A fresh key pair as PKCS#8 DER; RS256 keys have 2048 bits.
pub fn generate_pkcs8(alg: SigningAlg) -> Result<Vec<u8>, JwsError> {
    let rng = SystemRandom::new();
    let der = match alg {
        SigningAlg::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|document| document.as_ref().to_vec()),
        SigningAlg::EdDsa => {
            Ed25519KeyPair::generate_pkcs8(&rng).map(|document| document.as_ref().to_vec())
        }
        // 2048 bits: RFC 7518's minimum, and each step up costs several times the signing time.
        SigningAlg::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|pair| pair.as_der())
            .map(|document| document.as_ref().to_vec()),
        SigningAlg::Hs256 => return Err(JwsError::BadKey),
    };
    der.map_err(|_| JwsError::BadKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One signer per algorithm: HS256, then `SigningAlg::ASYMMETRIC` in order.
    fn signers() -> Vec<JwsSigner> {
        let mut all = vec![JwsSigner::hs256(&[7; 32])];
        for &alg in SigningAlg::ASYMMETRIC {
            let der = generate_pkcs8(alg).unwrap();
            all.push(JwsSigner::from_pkcs8(alg, "k1", &der).unwrap());
        }
        all
    }

    fn rs256(der: &[u8]) -> JwsSigner {
        JwsSigner::from_pkcs8(SigningAlg::Rs256, "k1", der).unwrap()
    }

    #[test]
    fn a_signed_payload_verifies_and_comes_back_unchanged() {
        for signer in signers() {
            let token = signer.sign(br#"{"sub":"acme"}"#).unwrap();
            let parts = Parts::split(&token).unwrap();
            assert_eq!(
                signer.verifier().unwrap().verify(&parts).unwrap(),
                br#"{"sub":"acme"}"#
            );
        }
    }

    #[test]
    fn headers_are_exactly_what_jsonwebtoken_writes() {
        let decode = |token: &str| {
            let header = token.split('.').next().unwrap();
            String::from_utf8(B64.decode(header).unwrap()).unwrap()
        };
        let expected = [
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"ES256","kid":"k1"}"#,
            r#"{"alg":"EdDSA","kid":"k1"}"#,
            r#"{"alg":"RS256","kid":"k1"}"#,
        ];
        for (signer, header) in signers().iter().zip(expected) {
            assert_eq!(decode(&signer.sign(b"{}").unwrap()), header);
        }
    }

    #[test]
    fn an_rs256_token_is_presized_for_its_256_byte_signature() {
        let signer = rs256(&generate_pkcs8(SigningAlg::Rs256).unwrap());
        let token = signer.sign(br#"{"sub":"acme"}"#).unwrap();
        let signature = token.rsplit('.').next().unwrap();
        assert_eq!(B64.decode(signature).unwrap().len(), 256);
        assert_eq!(token.capacity(), token.len(), "no reallocation");
    }

    #[test]
    fn an_rs256_key_of_4096_bits_signs_and_verifies() {
        let pair = RsaKeyPair::generate(KeySize::Rsa4096).unwrap();
        let signer = rs256(pair.as_der().unwrap().as_ref());
        let token = signer.sign(br#"{"sub":"acme"}"#).unwrap();
        let parts = Parts::split(&token).unwrap();
        assert_eq!(
            signer.verifier().unwrap().verify(&parts).unwrap(),
            br#"{"sub":"acme"}"#
        );
    }

    #[test]
    fn a_key_of_another_algorithm_is_refused_as_rs256() {
        let der = generate_pkcs8(SigningAlg::Es256).unwrap();
        assert_eq!(
            JwsSigner::from_pkcs8(SigningAlg::Rs256, "k1", &der).err(),
            Some(JwsError::BadKey)
        );
    }

    #[test]
    fn an_access_token_header_says_at_jwt_as_jsonwebtoken_writes_it() {
        let decode = |token: &str| {
            let header = token.split('.').next().unwrap();
            String::from_utf8(B64.decode(header).unwrap()).unwrap()
        };
        let signers = signers();
        let token = signers[1].sign_typed(b"{}", Typ::AccessToken).unwrap();
        assert_eq!(
            decode(&token),
            r#"{"typ":"at+jwt","alg":"ES256","kid":"k1"}"#
        );
        let parts = Parts::split(&token).unwrap();
        assert!(signers[1].verifier().unwrap().verify(&parts).is_ok());
    }

    #[test]
    fn an_rs256_token_verifies_with_jsonwebtoken_given_our_public_key() {
        let der = generate_pkcs8(SigningAlg::Rs256).unwrap();
        let signer = rs256(&der);
        let token = signer.sign(br#"{"sub":"acme","exp":4000000000}"#).unwrap();
        let Some(PublicKey::Rsa { n, e }) = signer.public_key() else {
            panic!("an RSA key has a modulus and an exponent");
        };
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.required_spec_claims.clear();
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_rsa_raw_components(n, e),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims["sub"], "acme");
    }

    #[test]
    fn tokens_verify_with_jsonwebtoken_too() {
        let signer = JwsSigner::hs256(&[7; 32]);
        let token = signer.sign(br#"{"sub":"acme","exp":4000000000}"#).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.required_spec_claims.clear();
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(&[7; 32]),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims["sub"], "acme");
    }

    #[test]
    fn any_changed_byte_is_refused() {
        for signer in signers() {
            let verifier = signer.verifier().unwrap();
            let token = signer.sign(br#"{"sub":"acme"}"#).unwrap();
            // The signature's last character may carry unused bits, whose change decodes to
            // the same signature: harmless malleability, left out here.
            for i in 0..token.len() - 1 {
                let mut bytes = token.clone().into_bytes();
                bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
                let tampered = String::from_utf8(bytes).unwrap();
                let result = Parts::split(&tampered).and_then(|parts| verifier.verify(&parts));
                assert!(result.is_err(), "byte {i}: {tampered}");
            }
        }
    }

    #[test]
    fn another_key_of_the_same_algorithm_is_refused() {
        let a = JwsSigner::hs256(&[7; 32]);
        let b = JwsSigner::hs256(&[8; 32]);
        let token = a.sign(b"{}").unwrap();
        let parts = Parts::split(&token).unwrap();
        assert_eq!(
            b.verifier().unwrap().verify(&parts),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn another_rs256_key_under_the_same_kid_is_refused() {
        let a = rs256(&generate_pkcs8(SigningAlg::Rs256).unwrap());
        let b = rs256(&generate_pkcs8(SigningAlg::Rs256).unwrap());
        let token = a.sign(b"{}").unwrap();
        let parts = Parts::split(&token).unwrap();
        assert_eq!(
            b.verifier().unwrap().verify(&parts),
            Err(JwsError::BadSignature)
        );
    }

    #[test]
    fn a_signature_longer_than_any_key_writes_is_malformed() {
        let signer = rs256(&generate_pkcs8(SigningAlg::Rs256).unwrap());
        let token = signer.sign(b"{}").unwrap();
        let (input, _) = token.rsplit_once('.').unwrap();
        let oversized = format!("{input}.{}", B64.encode([1u8; MAX_SIGNATURE_LEN + 1]));
        let parts = Parts::split(&oversized).unwrap();
        assert_eq!(
            signer.verifier().unwrap().verify(&parts),
            Err(JwsError::Malformed)
        );
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_crypto() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "a..c",
            ".b.c",
            "a.b.",
            "a.b.c d",
            "a.b.c=",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(
                Parts::split(bad).err(),
                Some(JwsError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let signers = signers();
        let verifiers: Vec<_> = signers.iter().map(|s| s.verifier().unwrap()).collect();
        let shown = format!("{signers:?} {verifiers:?}");
        assert!(shown.contains("JwsSigner"), "{shown}");
        assert!(!shown.contains("7, 7"), "{shown}");
        // aws-lc-rs's own Debug of an RSA key pair prints its public key in hex.
        assert!(
            !shown.contains("RsaKeyPair") && !shown.contains("RsaPublicKey"),
            "{shown}"
        );
        assert!(shown.len() < 1000, "{shown}");
    }
}
