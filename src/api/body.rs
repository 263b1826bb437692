//! Reading a JSON request body ourselves, so every way it can be wrong (content type, size,
//! encoding, syntax, shape, validation) becomes a field-level error list that each dialect
//! renders in its documented shape, instead of actix's plain-text defaults.

use actix_web::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{HttpRequest, web};
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;
use serde_json::Value;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

/// Largest body any token endpoint accepts; the biggest documented request is well under 1 KiB.
pub const BODY_LIMIT: usize = 16 * 1024;
/// How long a client may take to send a body by default (`--body-timeout`): a slow or
/// truncated one is answered, not waited on.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One thing wrong with a request body, named by its JSON path (`scope[1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub rejected_value: Option<Value>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BodyError {
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    #[error("Content-Type must be application/x-www-form-urlencoded")]
    NotAForm,
    #[error("Client credentials are sent in the Authorization header and in the body; use one")]
    CredentialsTwice,
    #[error("Content-Encoding is not supported; send the body uncompressed")]
    UnsupportedEncoding,
    #[error("Request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("Request body could not be read in full in time")]
    Unreadable,
    #[error("Malformed JSON: {0}")]
    Malformed(String),
    #[error("Validation failed")]
    Invalid(Vec<FieldError>),
}

impl BodyError {
    /// The per-field details, for the dialects whose error bodies list them.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            BodyError::Invalid(errors) => errors.clone(),
            BodyError::Malformed(message) => vec![FieldError {
                field: ROOT.to_owned(),
                rejected_value: None,
                message: message.clone(),
            }],
            _ => Vec::new(),
        }
    }
}

/// How the whole body is named when it, rather than one of its fields, is wrong.
pub const ROOT: &str = "body";

/// How Rust field names (as `validator` reports them) appear on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldNaming {
    SnakeCase,
    CamelCase,
}

impl FieldNaming {
    fn apply(self, name: &str) -> String {
        match self {
            FieldNaming::SnakeCase => name.to_owned(),
            FieldNaming::CamelCase => heck::AsLowerCamelCase(name).to_string(),
        }
    }
}

/// How a body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    /// `application/x-www-form-urlencoded`: the `known` parameters, each once (RFC 6749
    /// §3.2) but the `repeatable` ones, which read as a list however often they come; any
    /// other parameter is ignored, as RFC 6749 §3.2 asks.
    Form {
        known: &'static [&'static str],
        repeatable: &'static [&'static str],
    },
}

/// What a body may look like and how absent bodies are treated.
#[derive(Debug, Clone, Copy)]
pub struct BodyRules {
    pub naming: FieldNaming,
    /// An empty body (with or without a content type) reads as `{}`.
    pub optional: bool,
    pub encoding: Encoding,
}

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(CONTENT_TYPE) else {
        return false;
    };
    if value.as_bytes().eq_ignore_ascii_case(b"application/json") {
        return true;
    }
    let Ok(mime) = value.to_str().unwrap_or("").parse::<mime::Mime>() else {
        return false;
    };
    mime.type_() == mime::APPLICATION
        && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
}

/// Reads a body within [`BODY_LIMIT`], refusing compressed ones.
pub async fn read_bytes(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::BytesMut, BodyError> {
    if req
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|enc| !enc.as_bytes().eq_ignore_ascii_case(b"identity"))
    {
        return Err(BodyError::UnsupportedEncoding);
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|len| len.to_str().ok())
        .and_then(|len| len.parse::<usize>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT) {
        return Err(BodyError::TooLarge(BODY_LIMIT));
    }
    let mut bytes = web::BytesMut::new();
    // Usually the whole body came in the same read as the headers: the server hands it over
    // once this task yields, so a timer is armed only for a body that is really on its way.
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::task::yield_now().await;
        }
        loop {
            match futures_util::FutureExt::now_or_never(payload.next()) {
                Some(Some(chunk)) => append(&mut bytes, chunk)?,
                Some(None) => return Ok(bytes),
                None => break,
            }
        }
    }
    let read = async {
        while let Some(chunk) = payload.next().await {
            append(&mut bytes, chunk)?;
        }
        Ok(())
    };
    let deadline = req
        .app_data::<web::Data<super::AppState>>()
        .map_or(BODY_TIMEOUT, |state| state.body_timeout);
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or(Err(BodyError::Unreadable))?;
    Ok(bytes)
}

fn append(
    bytes: &mut web::BytesMut,
    chunk: Result<web::Bytes, actix_web::error::PayloadError>,
) -> Result<(), BodyError> {
    let chunk = chunk.map_err(|_| BodyError::Unreadable)?;
    if bytes.len() + chunk.len() > BODY_LIMIT {
        return Err(BodyError::TooLarge(BODY_LIMIT));
    }
    bytes.extend_from_slice(&chunk);
    Ok(())
}

/// Decodes and validates a body [`read_bytes`] read (or failed to read). Handlers that check
/// credentials before looking at the body still read it first: a refusal that leaves the body
/// unread makes the server close the connection, and every refused client reconnect.
pub fn decode_body<T>(
    req: &HttpRequest,
    bytes: Result<web::BytesMut, BodyError>,
    rules: BodyRules,
) -> Result<T, BodyError>
where
    T: DeserializeOwned + Validate,
{
    let bytes = bytes?;
    if let Encoding::Form { known, repeatable } = rules.encoding {
        return decode(form_value(req, &bytes, known, repeatable)?, rules.naming);
    }
    let value = if rules.optional && bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else if !is_json(req) {
        return Err(BodyError::UnsupportedMediaType);
    } else {
        parse_unique(&bytes).map_err(|err| BodyError::Malformed(err.to_string()))?
    };
    decode(value, rules.naming)
}

fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.essence_str() == mime::APPLICATION_WWW_FORM_URLENCODED.essence_str())
}

/// A form's `known` parameters as a JSON object of strings (lists for the `repeatable` names),
/// refusing any other parameter sent twice: which of two values counts is exactly what parsers
/// disagree on.
fn form_value(
    req: &HttpRequest,
    bytes: &[u8],
    known: &[&str],
    repeatable: &[&str],
) -> Result<Value, BodyError> {
    if !is_form(req) {
        return Err(BodyError::NotAForm);
    }
    let mut object = serde_json::Map::new();
    for name in repeatable {
        object.insert((*name).to_owned(), Value::Array(Vec::new()));
    }
    for (name, value) in form_urlencoded::parse(bytes) {
        if !known.contains(&name.as_ref()) {
            continue;
        }
        if repeatable.contains(&name.as_ref()) {
            if let Some(Value::Array(values)) = object.get_mut(name.as_ref()) {
                values.push(Value::String(value.into_owned()));
            }
        } else if object.contains_key(name.as_ref()) {
            return Err(BodyError::Invalid(vec![FieldError {
                field: name.into_owned(),
                rejected_value: None,
                message: "is sent more than once".to_owned(),
            }]));
        } else {
            object.insert(name.into_owned(), Value::String(value.into_owned()));
        }
    }
    Ok(Value::Object(object))
}

/// Parses JSON like `serde_json::from_slice::<Value>`, but refuses an object that names a
/// member twice: parsers disagree on which one wins, and that disagreement is a smuggling route.
pub fn parse_unique(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    use serde::de::DeserializeSeed as _;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = UniqueValue.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

struct UniqueValue;

impl<'de> serde::de::DeserializeSeed<'de> for UniqueValue {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueValue {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueValue)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate member `{key}`"
                )));
            }
            let value = map.next_value_seed(UniqueValue)?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

/// Reads an `application/x-www-form-urlencoded` body (RFC 7662 requests).
pub async fn read_form<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, BodyError> {
    if !is_form(req) {
        return Err(BodyError::UnsupportedMediaType);
    }
    let bytes = read_bytes(req, payload).await?;
    serde_urlencoded::from_bytes(&bytes).map_err(|err| {
        BodyError::Invalid(vec![FieldError {
            field: ROOT.to_owned(),
            rejected_value: None,
            message: err.to_string(),
        }])
    })
}

/// Decodes an already-parsed JSON value into `T` and validates it.
pub fn decode<T>(value: Value, naming: FieldNaming) -> Result<T, BodyError>
where
    T: DeserializeOwned + Validate,
{
    // Decoding again with the path tracked only when it fails, to name the field.
    let parsed: T = match T::deserialize(super::strict::Strict(&value)) {
        Ok(parsed) => parsed,
        Err(_) => match serde_path_to_error::deserialize(super::strict::Strict(&value)) {
            Ok(parsed) => parsed,
            Err(err) => return Err(BodyError::Invalid(vec![decode_error(&value, &err)])),
        },
    };
    parsed
        .validate()
        .map_err(|errors| BodyError::Invalid(validation_errors(&errors, naming)))?;
    Ok(parsed)
}

/// Decodes one field of a decoded body with a seed: for values read against configuration
/// (a scope list against the deployment's catalogue). Errors are named as [`decode`] names
/// them (`scope[1]`), and the value is judged as strictly (no struct from an array).
pub fn decode_field<S, T>(field: &str, value: &Value, seed: S) -> Result<T, BodyError>
where
    S: for<'de> serde::de::DeserializeSeed<'de, Value = T>,
{
    let mut track = serde_path_to_error::Track::new();
    let decoded = seed.deserialize(serde_path_to_error::Deserializer::new(
        super::strict::Strict(value),
        &mut track,
    ));
    decoded.map_err(|inner| {
        let err = serde_path_to_error::Error::new(track.path(), inner);
        let mut error = decode_error(value, &err);
        error.field = match error.field.as_str() {
            ROOT => field.to_owned(),
            inner if inner.starts_with('[') => format!("{field}{inner}"),
            inner => format!("{field}.{inner}"),
        };
        BodyError::Invalid(vec![error])
    })
}

fn decode_error(value: &Value, err: &serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let message = without_type_names(&err.inner().to_string());
    let path = err.path();
    let mut field = path.to_string();
    // serde reports a missing field at its parent; name the field itself.
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        field = if field == "." {
            missing.to_owned()
        } else {
            format!("{field}.{missing}")
        };
        return FieldError {
            field,
            rejected_value: None,
            message: "is required".to_owned(),
        };
    }
    let rejected = lookup(value, path);
    if field == "." {
        field = ROOT.to_owned();
    }
    FieldError {
        field,
        rejected_value: rejected.cloned(),
        message,
    }
}

/// serde names the Rust type it expected (`expected struct UserProperties`); clients are told
/// what JSON was expected instead.
fn without_type_names(message: &str) -> String {
    match message.find("expected struct ") {
        Some(at) => {
            let rest = &message[at + "expected struct ".len()..];
            let name_len = rest
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .unwrap_or(rest.len());
            format!("{}expected an object{}", &message[..at], &rest[name_len..])
        }
        None => message.to_owned(),
    }
}

fn lookup<'v>(value: &'v Value, path: &serde_path_to_error::Path) -> Option<&'v Value> {
    use serde_path_to_error::Segment;
    path.iter()
        .try_fold(value, |current, segment| match segment {
            Segment::Seq { index } => current.get(*index),
            Segment::Map { key } => current.get(key),
            Segment::Enum { .. } | Segment::Unknown => Some(current),
        })
}

fn validation_errors(errors: &ValidationErrors, naming: FieldNaming) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", naming, &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn collect(
    errors: &ValidationErrors,
    prefix: &str,
    naming: FieldNaming,
    out: &mut Vec<FieldError>,
) {
    for (name, kind) in errors.errors() {
        let field = if prefix.is_empty() {
            naming.apply(name)
        } else {
            format!("{prefix}.{}", naming.apply(name))
        };
        match kind {
            ValidationErrorsKind::Field(list) => out.extend(list.iter().map(|err| {
                FieldError {
                    field: field.clone(),
                    rejected_value: err.params.get("value").cloned(),
                    message: err
                        .message
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_else(|| err.code.to_string()),
                }
            })),
            ValidationErrorsKind::Struct(inner) => collect(inner, &field, naming, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, &format!("{field}[{index}]"), naming, out);
                }
            }
        }
    }
}

/// An optional JSON integer: may be omitted, must not be `null`. Any integral number is taken,
/// however large (JSON Schema's `integer` has no width), saturating at the `i64` range; bounds
/// are the lifetime policy's business. `1.5`, `"60"` and `null` are refused.
pub fn optional_integer<'de, D>(deserializer: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Integer;
    impl serde::de::Visitor<'_> for Integer {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
            Ok(i64::try_from(v).unwrap_or(i64::MAX))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
            if v.is_finite() && v.fract() == 0.0 {
                // `as` saturates at the i64 range, which is what "however large" needs.
                Ok(v as i64)
            } else {
                Err(E::invalid_type(serde::de::Unexpected::Float(v), &self))
            }
        }
    }
    serde::Deserializer::deserialize_any(deserializer, Integer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, Validate)]
    struct Probe {
        #[allow(dead_code)]
        scope: Vec<String>,
        #[validate(range(min = 1, max = 10, message = "must be between 1 and 10"))]
        expire_after: Option<i64>,
    }

    fn fail(value: Value) -> Vec<FieldError> {
        match decode::<Probe>(value, FieldNaming::CamelCase) {
            Err(BodyError::Invalid(errors)) => errors,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    fn scope_errors(value: Value) -> Vec<FieldError> {
        let catalogue = crate::api::volubile::routes().scopes().clone();
        match decode_field("scope", &value, catalogue.list_seed()) {
            Err(BodyError::Invalid(errors)) => errors,
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn an_unknown_scope_is_named_by_its_index_and_echoed() {
        let errors = scope_errors(json!(["calls:read", "calls:delete"]));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "scope[1]");
        assert_eq!(errors[0].rejected_value, Some(json!("calls:delete")));
        assert!(
            errors[0].message.contains("calls:read"),
            "{}",
            errors[0].message
        );
    }

    #[derive(Debug, Deserialize, Validate)]
    struct Lifetime {
        #[serde(default, deserialize_with = "optional_integer")]
        seconds: Option<i64>,
    }

    #[test]
    fn a_field_that_is_not_a_list_is_named_by_the_field() {
        let errors = scope_errors(json!({"calls": "read"}));
        assert_eq!(errors[0].field, "scope");
        assert_eq!(errors[0].rejected_value, Some(json!({"calls": "read"})));
        assert_eq!(errors[0].message, "invalid type: map, expected a sequence");
    }

    #[test]
    fn integers_of_any_size_are_taken_and_fractions_are_not() {
        let decode = |v: Value| decode::<Lifetime>(v, FieldNaming::SnakeCase).map(|l| l.seconds);
        assert_eq!(decode(json!({})), Ok(None));
        assert_eq!(decode(json!({"seconds": 60})), Ok(Some(60)));
        assert_eq!(decode(json!({"seconds": 60.0})), Ok(Some(60)));
        assert_eq!(
            decode(json!({"seconds": -24032211529423491072.0})),
            Ok(Some(i64::MIN))
        );
        assert_eq!(decode(json!({"seconds": u64::MAX})), Ok(Some(i64::MAX)));
        for bad in [json!(1.5), json!("60"), Value::Null, json!(true)] {
            assert!(decode(json!({ "seconds": bad })).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_naming_a_member_twice_is_refused_at_any_depth() {
        assert!(
            parse_unique(br#"{"scope": ["calls:read"], "scope": ["integrations:write"]}"#).is_err()
        );
        assert!(parse_unique(br#"{"data": {"apiKey": "a", "apiKey": "b"}}"#).is_err());
        let value = parse_unique(br#"{"a": [1, {"b": null}], "c": 1.5, "d": true}"#).unwrap();
        assert_eq!(value, json!({"a": [1, {"b": null}], "c": 1.5, "d": true}));
        assert!(parse_unique(b"{} x").is_err());
    }

    #[test]
    fn messages_name_json_types_not_rust_ones() {
        assert_eq!(
            without_type_names("invalid type: null, expected struct UserProperties"),
            "invalid type: null, expected an object"
        );
        assert_eq!(
            without_type_names("invalid type: string \"x\", expected a sequence"),
            "invalid type: string \"x\", expected a sequence"
        );
    }

    #[test]
    fn a_missing_field_is_named_without_a_rejected_value() {
        let errors = fail(json!({}));
        assert_eq!(errors[0].field, "scope");
        assert_eq!(errors[0].rejected_value, None);
        assert_eq!(errors[0].message, "is required");
    }

    #[test]
    fn a_wrongly_typed_field_is_echoed() {
        let errors = fail(json!({"scope": 5}));
        assert_eq!(errors[0].field, "scope");
        assert_eq!(errors[0].rejected_value, Some(json!(5)));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_blamed_on_the_body() {
        let errors = fail(json!([1, 2]));
        assert_eq!(errors[0].field, ROOT);
        assert_eq!(errors[0].rejected_value, Some(json!([1, 2])));
    }

    #[test]
    fn validator_failures_use_wire_names_and_echo_the_value() {
        let errors = fail(json!({"scope": [], "expire_after": 0}));
        assert_eq!(errors[0].field, "expireAfter");
        assert_eq!(errors[0].rejected_value, Some(json!(0)));
        assert_eq!(errors[0].message, "must be between 1 and 10");
    }
}
