//! The scope vocabulary: a deployment's [`Catalogue`] of scope names, read once at startup (the
//! routes file's `scopes`, or the scopes its routes need), and the sets of scopes tokens and keys
//! hold. A scope is its index in the catalogue, so a set is one `u64` and every membership or
//! subset check is a bit operation; names are only looked up at the edges (parsing a request,
//! a claim or a stored row, and writing a token, a header or a row).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Unexpected, Visitor};

/// The most scopes a catalogue holds: a set of them is one `u64`.
pub const MAX_SCOPES: usize = 64;

/// A permission a bearer token can carry: an index into the deployment's [`Catalogue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(u8);

impl Scope {
    /// Its position in the catalogue.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// The scopes a deployment's tokens can carry, in the order documents list them. Built once at
/// startup and shared; every scope name read or written goes through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    names: Box<[Box<str>]>,
    /// Each name's [`fingerprint`], in the same order: a lookup compares integers, and bytes
    /// only where they match.
    fingerprints: Box<[(usize, u64)]>,
    /// The names, comma-separated, for "expected one of …" messages.
    expected: String,
}

/// A name's length, and its first and last eight bytes folded into one word: two names that
/// share a prefix or a suffix still differ here, so a lookup settles on integer compares.
fn fingerprint(name: &str) -> (usize, u64) {
    let bytes = name.as_bytes();
    let word = match (bytes.first_chunk::<8>(), bytes.last_chunk::<8>()) {
        (Some(head), Some(tail)) => {
            u64::from_le_bytes(*head) ^ u64::from_le_bytes(*tail).rotate_left(29)
        }
        _ => bytes.iter().fold(0, |word, &b| word << 8 | u64::from(b)),
    };
    (bytes.len(), word)
}

/// Why a list of names cannot be a catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("the scope catalogue is empty: declare at least one scope")]
    Empty,
    #[error("the scope catalogue holds {0} scopes; at most {MAX_SCOPES} are supported")]
    TooMany(usize),
    #[error(
        "scope {0:?} is not a scope name: use printable ASCII without spaces, commas, quotes or backslashes"
    )]
    BadName(String),
    #[error("scope {0:?} is declared twice")]
    Duplicate(String),
}

/// A scope name the catalogue does not hold; says which ones it does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope; the scopes are: {expected}")]
pub struct UnknownScope {
    /// The catalogue's names, comma-separated.
    pub expected: String,
}

/// RFC 6749 §3.3 scope-token characters, less the comma (it separates `--scopes` lists): no
/// space, quote or backslash, so a name goes into JSON, headers and claims as it is.
fn is_scope_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x5b | 0x5d..=0x7e))
}

impl Catalogue {
    /// A catalogue of these names, in this order: at least one, at most [`MAX_SCOPES`], each
    /// a valid scope name, none twice.
    pub fn new<I, S>(names: I) -> Result<Self, CatalogueError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.is_empty() {
            return Err(CatalogueError::Empty);
        }
        if names.len() > MAX_SCOPES {
            return Err(CatalogueError::TooMany(names.len()));
        }
        for (i, name) in names.iter().enumerate() {
            if !is_scope_name(name) {
                return Err(CatalogueError::BadName(name.clone()));
            }
            if names[..i].contains(name) {
                return Err(CatalogueError::Duplicate(name.clone()));
            }
        }
        let expected = names.join(", ");
        Ok(Self {
            fingerprints: names.iter().map(|name| fingerprint(name)).collect(),
            names: names.into_iter().map(String::into_boxed_str).collect(),
            expected,
        })
    }

    /// How many scopes there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Never true: a catalogue holds at least one scope.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Every name, in catalogue order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.names.iter().map(|name| &**name)
    }

    /// The name of one of this catalogue's scopes.
    pub fn name(&self, scope: Scope) -> &str {
        &self.names[scope.index()]
    }

    /// The accepted names, comma-separated, for error messages.
    pub fn expected(&self) -> &str {
        &self.expected
    }

    /// Every scope of the catalogue.
    pub fn all(&self) -> ScopeSet {
        ScopeSet(u64::MAX >> (MAX_SCOPES - self.len()))
    }

    /// The scope a name stands for; names are case-sensitive and exact.
    pub fn parse(&self, name: &str) -> Result<Scope, UnknownScope> {
        self.find(name).ok_or_else(|| self.unknown())
    }

    fn find(&self, name: &str) -> Option<Scope> {
        // At most 64 short names: a scan of their fingerprints beats hashing the name, and a
        // plain scan of the names (criterion, `scopes/parse 2 of 64, last`: 89 ns here, 300 ns
        // comparing names; the same for the default eight).
        let wanted = fingerprint(name);
        self.fingerprints
            .iter()
            .zip(&self.names)
            .position(|(print, known)| *print == wanted && **known == *name)
            .and_then(|index| u8::try_from(index).ok())
            .map(Scope)
    }

    fn unknown(&self) -> UnknownScope {
        UnknownScope {
            expected: self.expected.clone(),
        }
    }

    /// A space-separated list of names (the claim form); every name must be in the catalogue.
    pub fn parse_set(&self, list: &str) -> Result<ScopeSet, UnknownScope> {
        let mut set = ScopeSet::default();
        for name in words(list) {
            // The error, which copies the accepted names, is built only when one is unknown.
            let Some(scope) = self.find(name) else {
                return Err(self.unknown());
            };
            set = set.with(scope);
        }
        Ok(set)
    }

    /// A comma-separated list, as `--scopes calls:read,agents:read` takes it (spaces also
    /// separate).
    pub fn parse_list(&self, list: &str) -> Result<ScopeSet, UnknownScope> {
        self.parse_set(&list.replace(',', " "))
    }

    /// [`parse_set`](Self::parse_set) for names written under another catalogue (a stored key,
    /// a token minted before the catalogue changed): the names this one knows, and each other
    /// one handed to `unknown`, which never grants it.
    pub fn parse_known<'a>(&self, list: &'a str, mut unknown: impl FnMut(&'a str)) -> ScopeSet {
        words(list).fold(ScopeSet::default(), |set, name| match self.find(name) {
            Some(scope) => set.with(scope),
            None => {
                unknown(name);
                set
            }
        })
    }

    /// The names of a set's scopes, in catalogue order.
    pub fn names_of(&self, set: ScopeSet) -> impl Iterator<Item = &str> + '_ {
        set.iter()
            .filter_map(|scope| self.names.get(scope.index()).map(|n| &**n))
    }

    /// A set as its space-separated names (the `scope` claim, RFC 8693 §4.2).
    pub fn display(&self, set: ScopeSet) -> Names<'_> {
        Names {
            catalogue: self,
            set,
        }
    }

    /// Reads a JSON array of names into a set, refusing a name the catalogue lacks with the
    /// message serde gives an unknown enum value ("expected one of …").
    pub fn list_seed(&self) -> ScopeListSeed<'_> {
        ScopeListSeed(self)
    }
}

/// A realistic catalogue for tests: eight names, reads and writes.
#[cfg(test)]
pub(crate) const EXAMPLE: [&str; 8] = [
    "calls:read",
    "calls:write",
    "campaigns:read",
    "campaigns:write",
    "agents:read",
    "agents:write",
    "integrations:read",
    "integrations:write",
];

#[cfg(test)]
impl Catalogue {
    /// [`EXAMPLE`] as a catalogue.
    pub(crate) fn example() -> Self {
        Self::new(EXAMPLE).expect("the example is a catalogue")
    }
}

fn words(list: &str) -> impl Iterator<Item = &str> {
    list.split(' ').filter(|part| !part.is_empty())
}

/// A set's names, space-separated, when displayed.
#[derive(Clone, Copy)]
pub struct Names<'a> {
    catalogue: &'a Catalogue,
    set: ScopeSet,
}

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.catalogue.names_of(self.set).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// The scopes of one token or key: a set, iterated in catalogue order. A bit set, so copying
/// one costs nothing on the request path; its names are its catalogue's business.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ScopeSet(u64);

impl ScopeSet {
    const fn bit(scope: Scope) -> u64 {
        1 << scope.0
    }

    /// The set of these scopes.
    pub fn new(scopes: impl IntoIterator<Item = Scope>) -> Self {
        Self(scopes.into_iter().fold(0, |bits, s| bits | Self::bit(s)))
    }

    /// This set and one more scope.
    pub const fn with(self, scope: Scope) -> Self {
        Self(self.0 | Self::bit(scope))
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// How many scopes the set holds.
    pub fn len(&self) -> usize {
        self.0.count_ones() as usize
    }

    /// The scopes, in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + use<> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            let index = bits.trailing_zeros();
            (bits != 0).then(|| {
                bits &= bits - 1;
                // Below 64, as the index of a set bit of a u64.
                Scope(index as u8)
            })
        })
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0 & Self::bit(scope) != 0
    }

    /// The scopes in `self` that `other` lacks.
    pub fn without(&self, other: ScopeSet) -> ScopeSet {
        Self(self.0 & !other.0)
    }

    /// The scopes in both.
    pub fn intersection(&self, other: ScopeSet) -> ScopeSet {
        Self(self.0 & other.0)
    }
}

/// Reads a JSON array of scope names against a catalogue (see [`Catalogue::list_seed`]).
#[derive(Clone, Copy)]
pub struct ScopeListSeed<'a>(&'a Catalogue);

impl<'de> DeserializeSeed<'de> for ScopeListSeed<'_> {
    type Value = ScopeSet;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ScopeSet, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ScopeListSeed<'_> {
    type Value = ScopeSet;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<ScopeSet, A::Error> {
        let mut set = ScopeSet::default();
        while let Some(scope) = items.next_element_seed(ScopeSeed(self.0))? {
            set = set.with(scope);
        }
        Ok(set)
    }
}

/// Reads one scope name against a catalogue.
#[derive(Clone, Copy)]
struct ScopeSeed<'a>(&'a Catalogue);

impl<'de> DeserializeSeed<'de> for ScopeSeed<'_> {
    type Value = Scope;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Scope, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for ScopeSeed<'_> {
    type Value = Scope;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "one of {}", self.0.expected())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scope, E> {
        self.0
            .find(v)
            .ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Catalogue {
        Catalogue::example()
    }

    #[test]
    fn the_example_catalogue_keeps_its_order() {
        let catalogue = example();
        assert_eq!(catalogue.names().collect::<Vec<_>>(), EXAMPLE);
        assert_eq!(catalogue.all().len(), 8);
    }

    #[test]
    fn every_scope_round_trips_through_its_name() {
        let catalogue = example();
        for name in catalogue.names() {
            assert_eq!(catalogue.name(catalogue.parse(name).unwrap()), name);
        }
    }

    #[test]
    fn names_are_case_sensitive_and_exact() {
        let catalogue = example();
        for bad in ["Calls:read", "calls:read ", "calls", "", "calls:delete"] {
            let err = catalogue.parse(bad).unwrap_err();
            assert_eq!(err.expected, catalogue.expected(), "{bad:?}");
        }
    }

    #[test]
    fn an_unknown_scope_names_the_accepted_ones() {
        let err = example().parse("calls:delete").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("unknown scope; the scopes are: calls:read, calls:write,"),
            "{err}"
        );
    }

    #[test]
    fn a_catalogue_is_the_names_given_in_their_order() {
        let catalogue = Catalogue::new(["reports:read", "reports:export"]).unwrap();
        assert_eq!(catalogue.expected(), "reports:read, reports:export");
        let export = catalogue.parse("reports:export").unwrap();
        assert_eq!(export.index(), 1);
        assert!(catalogue.parse("calls:read").is_err());
        assert_eq!(
            catalogue.all(),
            ScopeSet::new([catalogue.parse("reports:read").unwrap(), export])
        );
    }

    #[test]
    fn bad_catalogues_are_refused_with_the_reason() {
        let cases: [(Vec<String>, CatalogueError); 7] = [
            (vec![], CatalogueError::Empty),
            (vec!["".into()], CatalogueError::BadName("".into())),
            (vec!["a b".into()], CatalogueError::BadName("a b".into())),
            (vec!["a,b".into()], CatalogueError::BadName("a,b".into())),
            (vec!["a\"b".into()], CatalogueError::BadName("a\"b".into())),
            (
                vec!["a".into(), "b".into(), "a".into()],
                CatalogueError::Duplicate("a".into()),
            ),
            (
                (0..65).map(|i| format!("s{i}")).collect(),
                CatalogueError::TooMany(65),
            ),
        ];
        for (names, expected) in cases {
            assert_eq!(Catalogue::new(names.clone()), Err(expected), "{names:?}");
        }
    }

    #[test]
    fn a_large_catalogue_finds_every_name_at_its_index() {
        let names: Vec<String> = (0..64).rev().map(|i| format!("s{i}")).collect();
        let catalogue = Catalogue::new(names.clone()).unwrap();
        for (index, name) in names.iter().enumerate() {
            assert_eq!(catalogue.parse(name).unwrap().index(), index, "{name}");
        }
        for unknown in ["s64", "s", "", "S1"] {
            assert!(catalogue.parse(unknown).is_err(), "{unknown}");
        }
    }

    #[test]
    fn a_catalogue_of_sixty_four_scopes_uses_every_bit() {
        let catalogue = Catalogue::new((0..64).map(|i| format!("s{i}"))).unwrap();
        let last = catalogue.parse("s63").unwrap();
        assert!(catalogue.all().contains(last));
        assert_eq!(catalogue.all().len(), 64);
        assert_eq!(catalogue.display(ScopeSet::new([last])).to_string(), "s63");
    }

    #[test]
    fn a_scope_set_is_deduplicated_and_space_separated() {
        let catalogue = example();
        let set = catalogue
            .parse_set("agents:read calls:read agents:read")
            .unwrap();
        assert_eq!(catalogue.display(set).to_string(), "calls:read agents:read");
        assert_eq!(catalogue.parse_list("calls:read,agents:read"), Ok(set));
        assert_eq!(catalogue.parse_set(""), Ok(ScopeSet::default()));
    }

    #[test]
    fn a_scope_set_knows_what_another_lacks() {
        let catalogue = example();
        let wanted = catalogue.parse_set("calls:read agents:write").unwrap();
        let held = catalogue.parse_set("calls:read").unwrap();
        assert_eq!(
            wanted.without(held),
            catalogue.parse_set("agents:write").unwrap()
        );
        assert!(held.without(wanted).is_empty());
    }

    #[test]
    fn names_another_catalogue_wrote_are_set_aside_not_granted() {
        let catalogue = example();
        let mut unknown = Vec::new();
        let set = catalogue.parse_known("calls:read reports:read", |name| unknown.push(name));
        assert_eq!(set, catalogue.parse_set("calls:read").unwrap());
        assert_eq!(unknown, ["reports:read"]);
        let none = catalogue.parse_known("reports:read", |_| {});
        assert!(none.is_empty());
    }

    #[test]
    fn deserializing_an_unknown_scope_names_the_accepted_values() {
        let catalogue = Catalogue::new(["reports:read", "reports:export"]).unwrap();
        let mut json = serde_json::Deserializer::from_str(r#"["reports:read", "calls:read"]"#);
        let err = catalogue.list_seed().deserialize(&mut json).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid value: string \"calls:read\", expected one of reports:read, reports:export"
            ),
            "{err}"
        );
        let mut json = serde_json::Deserializer::from_str(r#"["reports:export"]"#);
        let set = catalogue.list_seed().deserialize(&mut json).unwrap();
        assert_eq!(catalogue.display(set).to_string(), "reports:export");
    }
}
