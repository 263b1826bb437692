use actix_web::dev::ConnectionInfo;
use actix_web::{HttpRequest, HttpResponse, guard, web};
use serde_json::Value;
use utoipa_swagger_ui::{Config, SwaggerUi, Url};

use super::{Dialect, Routes};

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
                let doc = serde_json::to_value(doc).expect("an OpenAPI document serializes");
                (*dialect, doc)
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

/// Serves a document with `servers` pointing at the origin it was requested from (as springdoc
/// does), so Swagger UI's "Try it out" calls this instance.
async fn serve(
    req: HttpRequest,
    conn: ConnectionInfo,
    documents: web::Data<Documents>,
    routes: web::Data<Routes>,
    name: web::Path<String>,
) -> HttpResponse {
    let origin = format!("{}://{}", conn.scheme(), conn.host());
    match documents.render(&name, &origin) {
        Some(doc) => HttpResponse::Ok().json(doc),
        None => routes.fallback(&req),
    }
}

async fn serve_primary(
    req: HttpRequest,
    conn: ConnectionInfo,
    documents: web::Data<Documents>,
    routes: web::Data<Routes>,
) -> HttpResponse {
    let name = web::Path::from(super::volubile::DIALECT.name.to_owned());
    serve(req, conn, documents, routes, name).await
}

/// `/v3/api-docs[/<dialect>]` and Swagger UI at `/swagger-ui/`, listing every served document.
pub fn configure(cfg: &mut web::ServiceConfig, dialects: &[&'static Dialect]) {
    let urls: Vec<Url<'static>> = dialects
        .iter()
        .map(|dialect| Url::new(dialect.title, dialect.doc_path))
        .collect();
    cfg.service(
        web::resource(PRIMARY_DOC_PATH)
            .guard(guard::Any(guard::Get()).or(guard::Head()))
            .to(serve_primary),
    )
    .service(
        web::resource(format!("{PRIMARY_DOC_PATH}/{{name}}"))
            .guard(guard::Any(guard::Get()).or(guard::Head()))
            .to(serve),
    )
    .service(
        SwaggerUi::new("/swagger-ui/{_:.*}").config(
            Config::new(urls)
                .try_it_out_enabled(true)
                // Swagger UI would otherwise send every document's address to
                // validator.swagger.io (for any host but localhost): it must work offline.
                .validator_url("none"),
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialect_document_lives_under_the_primary_path() {
        for dialect in crate::api::DIALECTS {
            assert_eq!(
                dialect.doc_path,
                format!("{PRIMARY_DOC_PATH}/{}", dialect.name)
            );
        }
    }
}
