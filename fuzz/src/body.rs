use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::BytesMut;
use actix_web::{FromRequest as _, HttpRequest, test::TestRequest, web};
use futures_util::FutureExt as _;
use keymint::api::body::{self, BODY_LIMIT, BodyError};
use keymint::api::fixture::Fixture;
use serde_json::Value;

/// Every dialect in keymint's registry that has a token endpoint, in registry order: the body
/// target's first input byte picks one, so a new dialect is fuzzed with no edit here.
pub fn dialects() -> Vec<(&'static str, &'static Fixture)> {
    keymint::api::DIALECTS
        .iter()
        .filter_map(|dialect| Some((dialect.name, dialect.fixture?)))
        .collect()
}

/// The body target's input for a dialect's body: its index, then the body.
pub fn input(index: usize, body: &str) -> Vec<u8> {
    let mut input = vec![u8::try_from(index).expect("fewer than 256 dialects")];
    input.extend_from_slice(body.as_bytes());
    input
}

/// Writes each dialect's seeds (its fixture's named bodies) into the corpus directory libFuzzer
/// was given, before it reads it: the seeds live beside each dialect, not here. Named
/// `registry-*` so that they are not committed (see .gitignore).
pub fn write_seeds() {
    let Some(corpus) = std::env::args().skip(1).find(|arg| !arg.starts_with('-')) else {
        return;
    };
    let corpus = std::path::Path::new(&corpus);
    if std::fs::create_dir_all(corpus).is_err() {
        return;
    }
    for (index, (name, fixture)) in dialects().into_iter().enumerate() {
        for (seed, body) in fixture.seeds {
            let path = corpus.join(format!("registry-{name}-{seed}"));
            // Best effort: without its seeds the target still fuzzes, from nothing.
            let _ = std::fs::write(path, input(index, body));
        }
    }
}

fn json_request() -> (HttpRequest, actix_web::dev::Payload) {
    TestRequest::post()
        .insert_header((CONTENT_TYPE, "application/json"))
        .to_http_parts()
}

/// What the handlers call: `body::read_bytes` then the dialect's decoding, on a JSON request
/// carrying `bytes`.
fn served(bytes: &[u8], fixture: &Fixture) -> Result<(), BodyError> {
    thread_local! {
        static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
    }
    let (req, mut payload) = TestRequest::post()
        .insert_header((CONTENT_TYPE, "application/json"))
        .set_payload(bytes.to_vec())
        .to_http_parts();
    let payload = web::Payload::from_request(&req, &mut payload)
        .now_or_never()
        .expect("the payload extractor is ready at once")
        .expect("the payload extractor never fails");
    let read = RUNTIME.with(|rt| rt.block_on(body::read_bytes(&req, payload)));
    (fixture.decode)(&req, read)
}

/// Decodes `data` as a dialect's request body, through the handlers' path (reading the payload)
/// and from bytes already read, and checks that:
/// - both agree, and nothing but field errors or malformed JSON comes out;
/// - `parse_unique` agrees with `serde_json` except that it refuses duplicate members;
/// - every field error names a field;
/// - an accepted request satisfies the dialect's own invariants (its fixture's `decode` asserts
///   them).
pub fn check(data: &[u8], fixture: &Fixture) {
    // The server refuses larger bodies before decoding anything.
    if data.len() > BODY_LIMIT {
        return;
    }
    let (req, _) = json_request();
    let direct = (fixture.decode)(&req, Ok(BytesMut::from(data)));
    let served = served(data, fixture);
    assert_eq!(
        direct.as_ref().err(),
        served.as_ref().err(),
        "read_bytes + decoding disagree with decoding the bytes"
    );

    match (
        body::parse_unique(data),
        serde_json::from_slice::<Value>(data),
    ) {
        (Ok(unique), Ok(plain)) => assert_eq!(unique, plain, "parse_unique changed the value"),
        (Ok(_), Err(err)) => panic!("parse_unique accepted JSON serde_json refuses: {err}"),
        (Err(err), Ok(_)) => assert!(
            err.to_string().contains("duplicate member"),
            "parse_unique refused valid JSON for another reason: {err}"
        ),
        (Err(_), Err(_)) => {}
    }

    match direct {
        Ok(()) => {}
        Err(BodyError::Invalid(errors)) => {
            assert!(!errors.is_empty(), "a refused body names no field");
            for error in &errors {
                assert!(
                    !error.field.is_empty(),
                    "a field error without a field: {error:?}"
                );
                assert!(
                    !error.message.is_empty(),
                    "a field error without a message: {error:?}"
                );
            }
        }
        Err(BodyError::Malformed(message)) => assert!(!message.is_empty()),
        Err(other) => panic!("decoding bytes cannot fail with {other:?}"),
    }
}
