//! Which scope a route needs: the route → scope table (data, the shipped routes file by
//! default), the scope catalogue the same file declares, and request-path normalisation, so a path is matched the way the upstream router
//! will see it and no `..`, `%2e`, `//` or case trick reaches a route it should not.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use serde::Deserialize;

use super::scope::{Catalogue, CatalogueError, Scope};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Compared case-insensitively.
    Literal(String),
    /// `{name}`: any one segment.
    Param,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: String,
    pub template: String,
    pub scope: Scope,
    segments: Vec<Segment>,
}

/// The routes file: the deployment's scope catalogue and which scope each route needs.
#[derive(Debug, Clone)]
pub struct RouteTable {
    scopes: Arc<Catalogue>,
    routes: Vec<Route>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    /// The scope catalogue; when absent, the scopes the routes need, in order of appearance.
    scopes: Option<Vec<String>>,
    #[serde(default)]
    route: Vec<RouteRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteRow {
    method: String,
    path: String,
    scope: String,
}

/// Why a routes file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RouteTableError {
    #[error("route table: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("route table: scopes: {0}")]
    Scopes(#[from] CatalogueError),
    #[error("route table: path {0:?} must start with '/' and hold no '..', '.' or empty segments")]
    BadTemplate(String),
    #[error(
        "route table: {method} {path} needs scope {scope:?}, which `scopes` does not declare; the scopes are: {expected}"
    )]
    UndeclaredScope {
        method: String,
        path: String,
        scope: String,
        expected: String,
    },
}

impl RouteTable {
    /// Reads a routes file: an optional `scopes = [...]` list (the catalogue; if absent, the
    /// scopes its routes need, in the order they first appear), then `[[route]]` rows, each
    /// needing one of those scopes.
    pub fn parse(text: &str) -> Result<Self, RouteTableError> {
        let file: TableFile = toml::from_str(text)?;
        let scopes = match file.scopes {
            Some(names) => Catalogue::new(names)?,
            None => {
                let mut needed: Vec<&str> = Vec::new();
                for row in &file.route {
                    if !needed.contains(&row.scope.as_str()) {
                        needed.push(&row.scope);
                    }
                }
                Catalogue::new(needed)?
            }
        };
        let routes =
            file.route
                .into_iter()
                .map(|row| {
                    let segments = template_segments(&row.path)
                        .ok_or_else(|| RouteTableError::BadTemplate(row.path.clone()))?;
                    let scope = scopes.parse(&row.scope).map_err(|err| {
                        RouteTableError::UndeclaredScope {
                            method: row.method.clone(),
                            path: row.path.clone(),
                            scope: row.scope.clone(),
                            expected: err.expected,
                        }
                    })?;
                    Ok(Route {
                        method: row.method.to_ascii_uppercase(),
                        template: row.path,
                        scope,
                        segments,
                    })
                })
                .collect::<Result<_, RouteTableError>>()?;
        Ok(Self {
            scopes: Arc::new(scopes),
            routes,
        })
    }

    /// The deployment's scope catalogue, which the routes' scopes index.
    pub fn scopes(&self) -> &Arc<Catalogue> {
        &self.scopes
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route a request falls under, if any. `path` must be normalised.
    pub fn lookup(&self, method: &str, path: &NormalPath<'_>) -> Option<&Route> {
        self.routes.iter().find(|route| {
            route.method.eq_ignore_ascii_case(method)
                && route.segments.len() == path.0.len()
                && route
                    .segments
                    .iter()
                    .zip(&path.0)
                    .all(|(segment, actual)| match segment {
                        Segment::Param => true,
                        Segment::Literal(literal) => literal.eq_ignore_ascii_case(actual),
                    })
        })
    }
}

fn template_segments(template: &str) -> Option<Vec<Segment>> {
    let rest = template.strip_prefix('/')?;
    rest.split('/')
        .map(|part| match part {
            "" | "." | ".." => None,
            p if p.starts_with('{') && p.ends_with('}') => Some(Segment::Param),
            p => Some(Segment::Literal(p.to_owned())),
        })
        .collect()
}

/// A request path after decoding, dot-segment removal and slash merging, as segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath<'a>(Vec<Cow<'a, str>>);

impl fmt::Display for NormalPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.0 {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request path cannot be matched safely")]
pub struct UnsafePath;

/// Normalises a request target (`/v1/calls/%2e%2e/agents?x=1`) the way upstream routers do:
/// query and fragment dropped, percent-decoding, `//` merged, `.` and `..` resolved, a trailing
/// slash ignored. Anything a router could read two ways (an encoded `/` or `\`, a NUL, a `..`
/// above the root, invalid UTF-8, a segment that is `.` or `..` once its `;` path parameters
/// are stripped, an encoded `;`) is refused rather than guessed.
pub fn normalize(target: &str) -> Result<NormalPath<'_>, UnsafePath> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') || path.contains('\\') {
        return Err(UnsafePath);
    }
    // Segments borrow from the target unless they had to be decoded.
    let mut segments: Vec<Cow<'_, str>> = Vec::new();
    for raw in path.split('/') {
        let decoded = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| UnsafePath)?;
        if decoded.contains(['/', '\\', '\0']) || decoded.contains('%') {
            // An encoded separator, or double encoding (`%252e`): ambiguous by construction.
            return Err(UnsafePath);
        }
        // Tomcat and Spring drop `;` parameters from each segment before routing, so `..;x`
        // is `..` to them (and `/v1/agents/7/calls/..;` is `/v1/agents/7`); an encoded `;` is
        // a parameter to some routers and data to others.
        if let Some((bare, _)) = decoded.split_once(';')
            && (matches!(bare, "" | "." | "..") || has_encoded_semicolon(raw))
        {
            return Err(UnsafePath);
        }
        match decoded.as_ref() {
            "" | "." => {}
            ".." => {
                segments.pop().ok_or(UnsafePath)?;
            }
            _ => segments.push(decoded),
        }
    }
    Ok(NormalPath(segments))
}

fn has_encoded_semicolon(raw: &str) -> bool {
    raw.as_bytes()
        .windows(3)
        .any(|w| w[0] == b'%' && w[1] == b'3' && w[2].eq_ignore_ascii_case(&b'b'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table keymint ships (`openapi/`), as a realistic one to test with.
    fn shipped() -> RouteTable {
        RouteTable::parse(include_str!("../../openapi/volubile-routes.toml")).unwrap()
    }

    fn scope_of(method: &str, target: &str) -> Option<String> {
        let table = shipped();
        let path = normalize(target).ok()?;
        table
            .lookup(method, &path)
            .map(|route| table.scopes().name(route.scope).to_owned())
    }

    #[test]
    fn the_shipped_table_holds_its_twelve_routes() {
        assert_eq!(shipped().routes().len(), 12);
    }

    #[test]
    fn routes_map_to_their_documented_scopes() {
        let cases = [
            ("GET", "/v1/agents", "agents:read"),
            ("GET", "/v1/agents/42", "agents:read"),
            ("PATCH", "/v1/agents/42", "agents:write"),
            ("POST", "/v1/calls", "calls:write"),
            ("GET", "/v1/calls/7/recording", "calls:read"),
            ("GET", "/v1/calls/7/transcript", "calls:read"),
            ("POST", "/v1/campaigns/9/status", "campaigns:write"),
            ("POST", "/v1/bulk/calls", "calls:write"),
        ];
        for (method, path, scope) in cases {
            assert_eq!(
                scope_of(method, path).as_deref(),
                Some(scope),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn unlisted_routes_and_methods_match_nothing() {
        for (method, path) in [
            ("DELETE", "/v1/agents/42"),
            ("GET", "/v1/campaigns"),
            ("GET", "/v1/calls/7/recording/extra"),
            ("GET", "/v2/agents"),
            ("GET", "/"),
        ] {
            assert_eq!(scope_of(method, path), None, "{method} {path}");
        }
    }

    #[test]
    fn paths_are_normalised_before_matching() {
        let cases = [
            ("/v1/calls/../agents", "/v1/agents"),
            ("/v1/calls/%2e%2e/agents", "/v1/agents"),
            ("/v1/calls/%2E%2E/agents/", "/v1/agents"),
            ("//v1///agents//", "/v1/agents"),
            ("/v1/./agents?limit=5#top", "/v1/agents"),
            ("/v1/%61gents", "/v1/agents"),
        ];
        for (raw, normal) in cases {
            assert_eq!(normalize(raw).unwrap().to_string(), normal, "{raw}");
        }
    }

    #[test]
    fn path_parameters_that_leave_a_real_segment_still_fill_a_param() {
        assert_eq!(
            scope_of("GET", "/v1/agents/7;v=2").as_deref(),
            Some("agents:read")
        );
    }

    #[test]
    fn literal_segments_match_whatever_their_case() {
        assert_eq!(
            scope_of("get", "/V1/AGENTS").as_deref(),
            Some("agents:read")
        );
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for raw in [
            "/v1/calls%2F7",
            "/v1/calls%5c7",
            "/v1\\agents",
            "/../v1/agents",
            "/v1/%2e%2e/%2e%2e/agents",
            "/v1/agents%00",
            "/v1/%252e%252e/agents",
            "/v1/%ff",
            "v1/agents",
            "",
            "/v1/agents/7/calls/..;",
            "/v1/agents/7/calls/..;jsessionid=x",
            "/v1/agents/7/calls/%2e%2e;",
            "/v1/agents/7/calls/.;x",
            "/v1/agents/;x",
            "/v1/agents/7%3Bx",
            "/v1/agents/7%3b",
        ] {
            assert_eq!(normalize(raw), Err(UnsafePath), "{raw:?}");
        }
    }

    #[test]
    fn a_table_with_a_bad_template_or_scope_is_refused() {
        let bad_path = "[[route]]\nmethod = \"GET\"\npath = \"/v1/../x\"\nscope = \"calls:read\"\n";
        assert!(RouteTable::parse(bad_path).is_err());
        let bad_scope = "[[route]]\nmethod = \"GET\"\npath = \"/v1/x\"\nscope = \"calls delete\"\n";
        assert!(RouteTable::parse(bad_scope).is_err());
    }

    #[test]
    fn the_shipped_table_declares_its_eight_scopes_in_order() {
        assert_eq!(**shipped().scopes(), Catalogue::example());
    }

    #[test]
    fn a_table_without_scopes_has_the_scopes_its_routes_need() {
        let table = RouteTable::parse(
            "[[route]]\nmethod = \"GET\"\npath = \"/v1/x\"\nscope = \"x:read\"\n\
             [[route]]\nmethod = \"PUT\"\npath = \"/v1/x\"\nscope = \"x:write\"\n\
             [[route]]\nmethod = \"GET\"\npath = \"/v1/y\"\nscope = \"x:read\"\n",
        )
        .unwrap();
        assert_eq!(
            table.scopes().names().collect::<Vec<_>>(),
            ["x:read", "x:write"]
        );
    }

    #[test]
    fn a_table_declares_its_own_scopes_and_its_routes_use_them() {
        let table = RouteTable::parse(
            "scopes = [\"reports:read\", \"reports:export\"]\n\n\
             [[route]]\nmethod = \"GET\"\npath = \"/reports/{id}/export\"\nscope = \"reports:export\"\n",
        )
        .unwrap();
        assert_eq!(
            table.scopes().names().collect::<Vec<_>>(),
            ["reports:read", "reports:export"]
        );
        let path = normalize("/reports/7/export").unwrap();
        let route = table.lookup("GET", &path).unwrap();
        assert_eq!(table.scopes().name(route.scope), "reports:export");
    }

    #[test]
    fn a_route_needing_an_undeclared_scope_is_refused_naming_both() {
        let err = RouteTable::parse(
            "scopes = [\"reports:read\"]\n\n\
             [[route]]\nmethod = \"GET\"\npath = \"/v1/calls\"\nscope = \"calls:read\"\n",
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("GET /v1/calls needs scope \"calls:read\""),
            "{message}"
        );
        assert!(
            message.contains("the scopes are: reports:read"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_scope_catalogue_is_refused() {
        for scopes in ["[]", "[\"a b\"]", "[\"a\", \"a\"]"] {
            let text = format!("scopes = {scopes}\n");
            assert!(
                matches!(RouteTable::parse(&text), Err(RouteTableError::Scopes(_))),
                "{scopes}"
            );
        }
    }
}
