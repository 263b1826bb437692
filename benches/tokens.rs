//! Micro-benchmarks of the per-request steps of issuing and checking a token: `make bench`
//! runs them (`cargo bench --bench tokens`) before the HTTP benchmark. The `jsonwebtoken` rows
//! show why tokens are not signed with `jsonwebtoken::encode`: it parses the key on every call.

use std::borrow::Cow;
use std::hint::black_box;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use keymint::core::apikey::{ApiKeySecret, KeyPrefix};
use keymint::core::audit::{AuditBuffer, AuditEvent, Outcome};
use keymint::core::keyring::{KeyPairRecord, Keyring, SigningAlg};
use keymint::core::lifetime::Lifetime;
use keymint::core::revocation::RevocationList;
use keymint::core::scope::{Catalogue, ScopeSet};
use keymint::core::token::{SigningSecret, TokenAuthority, TokenSigner};
use keymint::store::sqlite::SqliteStore;
use keymint::store::{KeyStore, NewKey};
use secrecy::ExposeSecret as _;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn authority() -> TokenAuthority {
    TokenAuthority::new(
        "keymint",
        "keymint",
        chrono::Duration::hours(48),
        keymint::api::volubile::routes().scopes().clone(),
    )
}

/// The scopes the benchmarked tokens carry, of Volubile's catalogue.
fn two_scopes() -> ScopeSet {
    (**keymint::api::volubile::routes().scopes())
        .clone()
        .parse_set("calls:read agents:read")
        .unwrap()
}

fn signer(alg: SigningAlg) -> (TokenSigner, Option<KeyPairRecord>) {
    match alg {
        SigningAlg::Hs256 => (
            TokenSigner::hs256(&SigningSecret::new(vec![7; 32]).unwrap(), authority()),
            None,
        ),
        alg => {
            let record = KeyPairRecord::generate(alg, now(), now()).unwrap();
            let ring =
                Keyring::new(alg, vec![record.clone()], chrono::Duration::seconds(900)).unwrap();
            (TokenSigner::asymmetric(ring, authority()), Some(record))
        }
    }
}

/// HS256, then every key-pair algorithm: one row each in the signing and verifying groups.
fn algs() -> impl Iterator<Item = SigningAlg> {
    std::iter::once(SigningAlg::Hs256).chain(SigningAlg::ASYMMETRIC.iter().copied())
}

/// The PKCS#1 RSAPrivateKey inside a PKCS#8 document: jsonwebtoken (without its PEM feature)
/// reads RSA keys only as PKCS#1, and aws-lc-rs writes only PKCS#8. The document is
/// SEQUENCE { version, AlgorithmIdentifier, OCTET STRING key }, each with a definite length.
fn pkcs1_of_pkcs8(der: &[u8]) -> &[u8] {
    /// The value of the TLV at the start of `der`, and what follows it.
    fn tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
        let (tag, first) = (der[0], usize::from(der[1]));
        let (len, start) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            let len = der[2..2 + n]
                .iter()
                .fold(0, |len, &b| len << 8 | usize::from(b));
            (len, 2 + n)
        };
        (tag, &der[start..start + len], &der[start + len..])
    }
    let (0x30, info, _) = tlv(der) else {
        panic!("PKCS#8 is a SEQUENCE")
    };
    let (0x02, _, rest) = tlv(info) else {
        panic!("then a version")
    };
    let (0x30, _, rest) = tlv(rest) else {
        panic!("then an AlgorithmIdentifier")
    };
    let (0x04, key, _) = tlv(rest) else {
        panic!("then the key")
    };
    key
}

fn api_keys(c: &mut Criterion) {
    let key = ApiKeySecret::generate(&KeyPrefix::default());
    let raw = key.expose().to_owned();
    c.bench_function("api key: parse and checksum", |b| {
        b.iter(|| ApiKeySecret::parse(black_box(&raw)).unwrap())
    });
    c.bench_function("api key: SHA-256", |b| b.iter(|| black_box(&key).hash()));
}

fn key_lookup(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let (store, key) = runtime.block_on(async {
        let store: Arc<dyn KeyStore> = Arc::new(
            SqliteStore::connect(&url, keymint::api::volubile::routes().scopes().clone())
                .await
                .unwrap(),
        );
        let key = ApiKeySecret::generate(&KeyPrefix::default());
        let new = NewKey {
            id: *key.id(),
            slot: keymint::core::slot::KeySlot::Primary,
            hash: key.hash(),
            scopes: None,
            name: None,
            expires_at: None,
        };
        store
            .create_account("bench", &Default::default(), &[new], now())
            .await
            .unwrap();
        let cached = keymint::store::cache::CachedStore::wrap(
            store,
            std::time::Duration::from_secs(10),
            None,
        )
        .await;
        (cached, key)
    });
    c.bench_function("key lookup: cached", |b| {
        b.iter(|| {
            runtime
                .block_on(store.find_key(black_box(key.id())))
                .unwrap()
        })
    });
}

fn issuing(c: &mut Criterion) {
    let mut group = c.benchmark_group("issue: claims + sign");
    let key_id = "AbCdEfGhIjK".parse().unwrap();
    let scopes = two_scopes();
    let extra = serde_json::Map::new();
    for alg in algs() {
        let (signer, _) = signer(alg);
        group.bench_function(BenchmarkId::from_parameter(alg), |b| {
            b.iter(|| {
                signer
                    .issue(
                        "bench",
                        &key_id,
                        scopes,
                        Lifetime::from_secs(900),
                        &extra,
                        now(),
                    )
                    .unwrap()
            })
        });
    }
    group.finish();

    // The same claims through jsonwebtoken, which parses the key on every call.
    let mut group = c.benchmark_group("issue: jsonwebtoken::encode");
    let (_, token_claims) = {
        let (signer, _) = signer(SigningAlg::Hs256);
        let issued = signer
            .issue(
                "bench",
                &key_id,
                scopes,
                Lifetime::from_secs(900),
                &extra,
                now(),
            )
            .unwrap();
        (
            issued.token.clone(),
            signer.verify(&issued.token, now()).unwrap(),
        )
    };
    for alg in algs() {
        let (_, record) = signer(alg);
        let key = match &record {
            None => jsonwebtoken::EncodingKey::from_secret(&[7; 32]),
            Some(r) if alg == SigningAlg::Es256 => {
                jsonwebtoken::EncodingKey::from_ec_der(r.private_der.expose_secret())
            }
            Some(r) if alg == SigningAlg::Rs256 => jsonwebtoken::EncodingKey::from_rsa_der(
                pkcs1_of_pkcs8(r.private_der.expose_secret()),
            ),
            Some(r) => jsonwebtoken::EncodingKey::from_ed_der(r.private_der.expose_secret()),
        };
        let header = jsonwebtoken::Header::new(alg.algorithm());
        group.bench_function(BenchmarkId::from_parameter(alg), |b| {
            b.iter(|| jsonwebtoken::encode(&header, black_box(&token_claims), &key).unwrap())
        });
    }
    group.finish();
}

fn verifying(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    let key_id = "AbCdEfGhIjK".parse().unwrap();
    let scopes = two_scopes();
    for alg in algs() {
        let (signer, _) = signer(alg);
        let token = signer
            .issue(
                "bench",
                &key_id,
                scopes,
                Lifetime::from_secs(900),
                &serde_json::Map::new(),
                now(),
            )
            .unwrap()
            .token;
        group.bench_function(BenchmarkId::from_parameter(alg), |b| {
            b.iter(|| signer.verify(black_box(&token), now()).unwrap())
        });
    }
    group.finish();
}

fn auditing(c: &mut Criterion) {
    let event = AuditEvent {
        at: now(),
        dialect: Cow::Borrowed("volubile"),
        outcome: Outcome::Issued,
        reason: None,
        account: Some(Arc::from("bench")),
        key_id: Some("AbCdEfGhIjK".parse().unwrap()),
        scopes: Some(two_scopes()),
        jti: Some(uuid::Uuid::from_u128(7)),
        client_ip: Some("127.0.0.1".parse().unwrap()),
        count: 1,
        actor: None,
    };
    let mut buffer = AuditBuffer::new(
        usize::MAX,
        keymint::api::volubile::routes().scopes().clone(),
    );
    let mut recorded = 0;
    c.bench_function("audit: encode one event", |b| {
        b.iter(|| {
            buffer.record(black_box(&event));
            recorded += 1;
            if recorded % 10_000 == 0 {
                buffer.take();
            }
        })
    });
}

/// Scope sets on the request path: a token's claim or a stored key's list parsed by name
/// through the catalogue, and the subset check every token request and forward-auth call
/// makes. The names are the catalogue's; the set stays one `u64`.
fn scopes(c: &mut Criterion) {
    let mut group = c.benchmark_group("scopes");
    let catalogue = (**keymint::api::volubile::routes().scopes()).clone();
    group.bench_function("parse 2 of 8", |b| {
        b.iter(|| {
            catalogue
                .parse_set(black_box("calls:read agents:read"))
                .unwrap()
        })
    });
    let every = catalogue.names().collect::<Vec<_>>().join(" ");
    group.bench_function("parse 8 of 8", |b| {
        b.iter(|| catalogue.parse_set(black_box(&every)).unwrap())
    });
    let held = catalogue.all();
    let wanted = two_scopes();
    group.bench_function("subset check", |b| {
        b.iter(|| black_box(wanted).without(black_box(held)).is_empty())
    });
    group.bench_function("render 2", |b| {
        b.iter(|| catalogue.display(black_box(wanted)).to_string())
    });
    // The largest catalogue, its last two names: the worst a lookup by name gets.
    let wide = Catalogue::new((0..64).map(|i| format!("reports{i}:read"))).unwrap();
    group.bench_function("parse 2 of 64, last", |b| {
        b.iter(|| {
            wide.parse_set(black_box("reports62:read reports63:read"))
                .unwrap()
        })
    });
    group.finish();
}

/// What every bearer token check adds for revocation: one atomic read while nothing is
/// revoked, a hash lookup under a read lock otherwise.
fn revocations(c: &mut Criterion) {
    let mut group = c.benchmark_group("revocation check");
    let presented = uuid::Uuid::new_v4();
    for revoked in [0u128, 10_000] {
        let list = RevocationList::new();
        list.reload(
            (0..revoked).map(|n| (uuid::Uuid::from_u128(n), now())),
            now(),
        );
        group.bench_function(BenchmarkId::new("revoked", revoked), |b| {
            b.iter(|| list.is_revoked(black_box(&presented)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    api_keys,
    key_lookup,
    issuing,
    verifying,
    auditing,
    scopes,
    revocations
);
criterion_main!(benches);
