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

impl FromStr for AccountName {
    type Err = InvalidAccountName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
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
}
