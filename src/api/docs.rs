use actix_web::dev::ConnectionInfo;
use actix_web::{HttpResponse, guard, web};
use serde_json::Value;
use utoipa_swagger_ui::{Config, SwaggerUi, Url};

use super::{DIALECTS, Dialect};

/// Where the primary (Volubile) document is served: springdoc's default path.
pub const PRIMARY_DOC_PATH: &str = "/v3/api-docs";

/// Each served document, rendered once at startup; only `servers` varies per request.
#[derive(Debug)]
pub struct Documents {
    docs: Vec<(&'static Dialect, Value)>,
}

impl Documents {
    pub fn new(documents: &[(&'static Dialect, utoipa::openapi::OpenApi)]) -> Self {
        let docs = documents
            .iter()
            .map(|(dialect, doc)| {
                (
                    *dialect,
                    serde_json::to_value(doc).expect("an OpenAPI document serializes"),
                )
            })
            .collect();
        Self { docs }
    }

    fn render(&self, name: &str, origin: &str) -> Option<Value> {
        let (dialect, doc) = self.docs.iter().find(|(dialect, _)| dialect.name == name)?;
        let mut doc = doc.clone();
        doc["servers"] = serde_json::to_value((dialect.servers)(origin)).ok()?;
        Some(doc)
    }
}

async fn serve(
    conn: ConnectionInfo,
    documents: web::Data<Documents>,
    name: web::Path<String>,
) -> HttpResponse {
    let origin = format!("{}://{}", conn.scheme(), conn.host());
    match documents.render(&name, &origin) {
        Some(doc) => HttpResponse::Ok().json(doc),
        None => {
            super::volubile::error::error_page(actix_web::http::StatusCode::NOT_FOUND, "Not Found")
        }
    }
}

async fn serve_primary(conn: ConnectionInfo, documents: web::Data<Documents>) -> HttpResponse {
    serve(
        conn,
        documents,
        web::Path::from(super::volubile::DIALECT.name.to_owned()),
    )
    .await
}

/// `/v3/api-docs[/<dialect>]` and Swagger UI at `/swagger-ui/`, listing every document.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let urls: Vec<Url<'static>> = DIALECTS
        .iter()
        .map(|dialect| Url::new(dialect.title, dialect.doc_path))
        .collect();
    cfg.service(
        web::resource(PRIMARY_DOC_PATH)
            .guard(guard::Get())
            .to(serve_primary),
    )
    .service(
        web::resource(format!("{PRIMARY_DOC_PATH}/{{name}}"))
            .guard(guard::Get())
            .to(serve),
    )
    .service(
        SwaggerUi::new("/swagger-ui/{_:.*}").config(Config::new(urls).try_it_out_enabled(true)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialect_document_lives_under_the_primary_path() {
        for dialect in DIALECTS {
            assert_eq!(
                dialect.doc_path,
                format!("{PRIMARY_DOC_PATH}/{}", dialect.name)
            );
        }
    }
}
