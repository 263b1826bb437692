use std::sync::OnceLock;

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest as _, test::TestRequest, web};
use futures_util::FutureExt as _;
use keymint::api::Lifetimes;
use keymint::api::body::{self, BODY_LIMIT, BodyError, BodyRules};
use keymint::cli::ServeArgs;
use serde::de::DeserializeOwned;
use serde_json::Value;
use validator::Validate;

/// Each endpoint's body rules, the handlers' own.
pub const VOLUBILE: BodyRules = keymint::api::volubile::handlers::BODY;
pub const ORIGOID: BodyRules = keymint::api::origoid::handlers::BODY;
pub const VELT: BodyRules = keymint::api::velt::handlers::BODY;
pub const MEMORAM: BodyRules = keymint::api::memoram::handlers::BODY;

/// The lifetime policies `keymint serve` runs with when given no flags.
pub fn default_lifetimes() -> Lifetimes {
    static LIFETIMES: OnceLock<Lifetimes> = OnceLock::new();
    *LIFETIMES.get_or_init(|| {
        ServeArgs::default()
            .lifetimes()
            .expect("the default lifetimes are consistent")
    })
}

/// The handlers' path once the bytes are in, spelled out: an empty optional body reads as `{}`,
/// anything else goes through `parse_unique` and `decode` (which validates).
fn decode_bytes<T: DeserializeOwned + Validate>(
    bytes: &[u8],
    rules: BodyRules,
) -> Result<T, BodyError> {
    let value = if rules.optional && bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        body::parse_unique(bytes).map_err(|err| BodyError::Malformed(err.to_string()))?
    };
    body::decode(value, rules.naming)
}

/// What the handlers call: `body::read_bytes` then `body::decode_body`, on a JSON request
/// carrying `bytes`.
fn served<T: DeserializeOwned + Validate>(bytes: &[u8], rules: BodyRules) -> Result<T, BodyError> {
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
    body::decode_body(&req, read, rules)
}

/// Decodes `data` as a dialect's request body, through the handlers' path and through its
/// parts, and checks that:
/// - both agree, and nothing but field errors or malformed JSON comes out;
/// - `parse_unique` agrees with `serde_json` except that it refuses duplicate members;
/// - every field error names a field;
/// - an accepted request satisfies `accepted` (the dialect's own invariants).
pub fn check<T: DeserializeOwned + Validate>(data: &[u8], rules: BodyRules, accepted: impl Fn(&T)) {
    // The server refuses larger bodies before decoding anything.
    if data.len() > BODY_LIMIT {
        return;
    }
    let direct = decode_bytes::<T>(data, rules);
    let served = served::<T>(data, rules);
    assert_eq!(
        direct.as_ref().err(),
        served.as_ref().err(),
        "read_bytes + decode_body disagree with parse_unique + decode"
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
        Ok(request) => accepted(&request),
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
