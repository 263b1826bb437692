use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Unexpected};
use serde::{Deserialize, Serialize, Serializer};

/// A permission a bearer token can carry. The list is Volubile's (`001_*` authentication guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    CallsRead,
    CallsWrite,
    CampaignsRead,
    CampaignsWrite,
    AgentsRead,
    AgentsWrite,
    IntegrationsRead,
    IntegrationsWrite,
}

impl Scope {
    /// Every scope, in the order the reference document lists them.
    pub const ALL: [Scope; 8] = [
        Scope::CallsRead,
        Scope::CallsWrite,
        Scope::CampaignsRead,
        Scope::CampaignsWrite,
        Scope::AgentsRead,
        Scope::AgentsWrite,
        Scope::IntegrationsRead,
        Scope::IntegrationsWrite,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::CallsRead => "calls:read",
            Scope::CallsWrite => "calls:write",
            Scope::CampaignsRead => "campaigns:read",
            Scope::CampaignsWrite => "campaigns:write",
            Scope::AgentsRead => "agents:read",
            Scope::AgentsWrite => "agents:write",
            Scope::IntegrationsRead => "integrations:read",
            Scope::IntegrationsWrite => "integrations:write",
        }
    }

    /// The accepted values, as a sentence fragment for error messages.
    pub fn expected_list() -> String {
        Scope::ALL.map(Scope::as_str).join(", ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope; the scopes are: {}", Scope::expected_list())]
pub struct UnknownScope;

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or(UnknownScope)
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Scope;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "one of {}", Scope::expected_list())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scope, E> {
                v.parse()
                    .map_err(|_| E::invalid_value(Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// The scopes of one token: a set, iterated and rendered in canonical order, space-separated
/// (RFC 8693 `scope` claim). A bit set, so copying one costs nothing on the request path.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(u16);

impl ScopeSet {
    const fn bit(scope: Scope) -> u16 {
        1 << scope as u16
    }

    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().fold(0, |bits, s| bits | Self::bit(s)))
    }

    pub fn all() -> Self {
        Self::new(Scope::ALL)
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        Scope::ALL.into_iter().filter(|s| self.contains(*s))
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0 & Self::bit(scope) != 0
    }

    /// The scopes in `self` that `other` lacks.
    pub fn without(&self, other: ScopeSet) -> ScopeSet {
        Self(self.0 & !other.0)
    }

    /// Parses the space-separated claim form.
    pub fn parse_claim(claim: &str) -> Result<Self, UnknownScope> {
        claim
            .split(' ')
            .filter(|part| !part.is_empty())
            .try_fold(Self::default(), |set, part| {
                Ok(Self(set.0 | Self::bit(part.parse()?)))
            })
    }
}

impl fmt::Debug for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Scope::as_str))
            .finish()
    }
}

/// As the claim: one space-separated string.
impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for ScopeSet {
    type Err = UnknownScope;

    /// A comma- or space-separated list, as the CLI takes it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_claim(&s.replace(',', " "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips_through_its_name() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
    }

    #[test]
    fn names_are_case_sensitive_and_exact() {
        for bad in ["Calls:read", "calls:read ", "calls", "", "calls:delete"] {
            assert_eq!(bad.parse::<Scope>(), Err(UnknownScope), "{bad:?}");
        }
    }

    #[test]
    fn a_scope_set_is_deduplicated_and_space_separated() {
        let set = ScopeSet::new([Scope::AgentsRead, Scope::CallsRead, Scope::AgentsRead]);
        assert_eq!(set.to_string(), "calls:read agents:read");
        assert_eq!(ScopeSet::parse_claim("calls:read agents:read"), Ok(set));
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            r#""calls:read agents:read""#
        );
    }

    #[test]
    fn a_scope_set_knows_what_another_lacks() {
        let wanted = ScopeSet::new([Scope::CallsRead, Scope::AgentsWrite]);
        let held = ScopeSet::new([Scope::CallsRead]);
        assert_eq!(wanted.without(held), ScopeSet::new([Scope::AgentsWrite]));
        assert!(held.without(wanted).is_empty());
        assert_eq!(format!("{wanted:?}"), r#"{"calls:read", "agents:write"}"#);
    }

    #[test]
    fn deserializing_an_unknown_scope_names_the_accepted_values() {
        let err = serde_json::from_str::<Scope>("\"calls:delete\"").unwrap_err();
        assert!(
            err.to_string().contains("expected one of calls:read"),
            "{err}"
        );
    }
}
