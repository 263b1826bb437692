use std::fmt;
use std::str::FromStr;

/// Which of an account's two keys. Both are valid at once, so one can be rotated while clients
/// still use the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeySlot {
    Primary,
    Secondary,
}

impl KeySlot {
    pub const BOTH: [KeySlot; 2] = [KeySlot::Primary, KeySlot::Secondary];

    pub const fn as_str(self) -> &'static str {
        match self {
            KeySlot::Primary => "primary",
            KeySlot::Secondary => "secondary",
        }
    }
}

impl fmt::Display for KeySlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a key slot is either `primary` or `secondary`")]
pub struct UnknownSlot;

impl FromStr for KeySlot {
    type Err = UnknownSlot;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "primary" => Ok(KeySlot::Primary),
            "secondary" => Ok(KeySlot::Secondary),
            _ => Err(UnknownSlot),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_parse_from_their_names_only() {
        assert_eq!("primary".parse(), Ok(KeySlot::Primary));
        assert_eq!("secondary".parse(), Ok(KeySlot::Secondary));
        assert_eq!("Primary".parse::<KeySlot>(), Err(UnknownSlot));
    }
}
