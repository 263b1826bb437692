use std::fmt;
use std::str::FromStr;

/// An account's name: the `sub` of its tokens, so kept to a safe alphabet, and never starting
/// with something a command line would read as an option. Names differing only in case are
/// one name (the stores keep them unique case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an account name is 1 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
)]
pub struct InvalidAccountName;

/// The longest name.
pub const MAX_NAME_LEN: usize = 64;

/// The names [`is_name`] accepts, as a regular expression (for documents that describe them).
pub const NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// The safe alphabet of names (accounts, admin keys): 1 to 64 letters, digits, '.', '_' or
/// '-', the first a letter or digit.
pub fn is_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(is_name_byte)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

impl FromStr for AccountName {
    type Err = InvalidAccountName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidAccountName)
        }
    }
}

impl AccountName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as the stores compare it: names differing only in case are one name.
    pub fn folded(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// The start of account names, as a listing filters them: up to 64 characters of the names'
/// alphabet, compared regardless of case. Empty matches every name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamePrefix(String);

/// The prefixes [`NamePrefix`] accepts, as a regular expression.
pub const NAME_PREFIX_PATTERN: &str = "^[A-Za-z0-9._-]{0,64}$";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a name prefix is up to 64 characters: letters, digits, '.', '_' or '-'")]
pub struct InvalidNamePrefix;

impl FromStr for NamePrefix {
    type Err = InvalidNamePrefix;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() <= MAX_NAME_LEN && s.bytes().all(is_name_byte) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(InvalidNamePrefix)
        }
    }
}

impl NamePrefix {
    /// The prefix, folded as names are compared.
    pub fn folded(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_use_a_safe_alphabet() {
        for good in ["demo", "acme-corp", "a.b_c", &"x".repeat(64)] {
            assert!(good.parse::<AccountName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "has space",
            "semi;colon",
            "ünï",
            &"x".repeat(65),
            "--help",
            "-x",
            ".hidden",
            "_x",
        ] {
            assert!(bad.parse::<AccountName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_are_the_names_alphabet_folded_and_may_be_empty() {
        assert_eq!("".parse::<NamePrefix>().unwrap().folded(), "");
        assert_eq!("Ac.m_e-".parse::<NamePrefix>().unwrap().folded(), "ac.m_e-");
        for bad in ["a b", "%", "ü", &"x".repeat(65)] {
            assert!(bad.parse::<NamePrefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_documented_pattern_says_what_the_parser_does() {
        // The pattern's parts, read back: first character, the rest, the length.
        let pattern = NAME_PATTERN;
        assert!(pattern.starts_with("^[A-Za-z0-9][A-Za-z0-9._-]{0,"));
        assert!(pattern.ends_with(&format!("{}}}$", MAX_NAME_LEN - 1)));
        assert!(NAME_PREFIX_PATTERN.ends_with(&format!("{{0,{MAX_NAME_LEN}}}$")));
    }
}
