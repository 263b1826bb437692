//! The console at `/console/`: plain HTML, CSS and JavaScript modules from `console/` (no build
//! step, no framework), built into the binary so it works offline, calling only the admin API.
//! Served while the admin dialect is; its content security policy is in `security.rs`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, EntityTag, HeaderValue, IfNoneMatch};
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse, guard, web};

use super::Routes;

/// Where the console is served.
pub const PATH: &str = "/console";

/// The console's files. `debug-embed` (Cargo.toml) embeds them in debug builds too, so what the
/// tests serve is what ships, never the working tree.
#[derive(rust_embed::Embed)]
#[folder = "console/"]
struct Assets;

/// Revalidated on every load (a 304 by its `ETag`), so an upgraded keymint serves its own console.
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// The types the console is made of; a file of any other kind is not served.
fn content_type(file: &str) -> Option<&'static str> {
    let (_, extension) = file.rsplit_once('.')?;
    Some(match extension {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => return None,
    })
}

/// The file at `/console/{file}`: `index.html` for the console's own address.
async fn asset(
    req: HttpRequest,
    routes: web::Data<Routes>,
    file: web::Path<String>,
) -> HttpResponse {
    let file = match file.as_str() {
        "" => "index.html",
        file => file,
    };
    let (Some(content), Some(content_type)) = (Assets::get(file), content_type(file)) else {
        return routes.error_page(StatusCode::NOT_FOUND, "Not Found", &req);
    };
    let hash = content.metadata.sha256_hash();
    let tag = EntityTag::new_strong(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &hash[..16],
    ));
    let unchanged = match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|given| given.weak_eq(&tag)),
        None => false,
    };
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, NO_CACHE));
    if unchanged {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .body(content.data.into_owned())
}

/// `/console` is `/console/`, so the pages' relative addresses resolve inside it. The
/// `Location` is relative too: behind a proxy that adds a path, it stays under that path.
async fn redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "console/"))
        .finish()
}

/// `/console` and everything under `/console/`, for GET and HEAD.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let read = || guard::Any(guard::Get()).or(guard::Head());
    cfg.service(web::resource(PATH).guard(read()).to(redirect))
        .service(
            web::resource(format!("{PATH}/{{file:.*}}"))
                .guard(read())
                .to(asset),
        );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_console_has_a_type_it_is_served_as() {
        let files: Vec<_> = Assets::iter().collect();
        assert!(files.iter().any(|file| file == "index.html"), "{files:?}");
        for file in files {
            assert!(content_type(&file).is_some(), "{file} would not be served");
        }
    }
}
