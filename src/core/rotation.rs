//! A key's own settings (a name, an expiry) and rotating a slot's key: what a rotation asks
//! for (a grace period for the old key, a precondition on the slot's current key) and what it
//! answers.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};

use super::account::is_name;
use super::admin::FreshKey;
use super::apikey::KeyId;
use super::slot::KeySlot;
use super::store::KeyInfo;

/// What a key is for, as its owner calls it (`billing-prod`): the names' safe alphabet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a key name is 1 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
)]
pub struct InvalidKeyName;

impl FromStr for KeyName {
    type Err = InvalidKeyName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if is_name(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidKeyName)
        }
    }
}

impl KeyName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest grace period: 30 days, time enough to roll a key out anywhere, short enough
/// that a forgotten old key does not live on.
pub const MAX_GRACE_SECONDS: u32 = 30 * 24 * 60 * 60;

/// How long the replaced key keeps working after a rotation: 0 (not at all) to
/// [`MAX_GRACE_SECONDS`] seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GracePeriod(u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a grace period is 0 to {MAX_GRACE_SECONDS} seconds")]
pub struct InvalidGracePeriod;

impl GracePeriod {
    pub const NONE: GracePeriod = GracePeriod(0);

    pub fn seconds(seconds: u64) -> Result<Self, InvalidGracePeriod> {
        u32::try_from(seconds)
            .ok()
            .filter(|&s| s <= MAX_GRACE_SECONDS)
            .map(Self)
            .ok_or(InvalidGracePeriod)
    }

    pub fn is_none(self) -> bool {
        self.0 == 0
    }

    pub fn as_duration(self) -> Duration {
        Duration::seconds(i64::from(self.0))
    }
}

impl FromStr for GracePeriod {
    type Err = InvalidGracePeriod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<u64>()
            .map_err(|_| InvalidGracePeriod)
            .and_then(Self::seconds)
    }
}

/// What a rotation of one slot asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub slot: KeySlot,
    pub grace: GracePeriod,
    /// The new key's name.
    pub name: Option<KeyName>,
    /// When the new key stops working by itself; must be later than now.
    pub expires_at: Option<DateTime<Utc>>,
    /// Rotate only if the slot's current key is one of these (HTTP `If-Match`); `None`: from
    /// whichever key is current when the rotation starts.
    pub if_current: Option<Vec<KeyId>>,
}

impl Rotation {
    /// A plain rotation: the old key stops at once, the new one has no name and no expiry.
    pub fn of(slot: KeySlot) -> Self {
        Self {
            slot,
            grace: GracePeriod::NONE,
            name: None,
            expires_at: None,
            if_current: None,
        }
    }
}

/// A key a rotation replaced: it works until `ends_at` (now, without a grace period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredKey {
    pub id: KeyId,
    pub ends_at: DateTime<Utc>,
}

/// A rotation done: the new key with its secret (shown once), and the key it replaced, if
/// the slot had one.
#[derive(Debug)]
pub struct Rotated {
    pub key: FreshKey,
    pub info: KeyInfo,
    pub previous: Option<RetiredKey>,
}

/// Where a listed key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Its slot's current key.
    Active,
    /// Replaced by a rotation, working until its grace period ends.
    Retiring,
}

impl KeyInfo {
    pub fn state(&self) -> KeyState {
        if self.retires_at.is_some() {
            KeyState::Retiring
        } else {
            KeyState::Active
        }
    }

    /// Whether the key works at `now` (it is listed only if it was not revoked by then).
    pub fn works_at(&self, now: DateTime<Utc>) -> bool {
        self.ends_at().is_none_or(|end| now < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_periods_are_bounded() {
        assert_eq!("0".parse(), Ok(GracePeriod::NONE));
        assert_eq!(
            "2592000"
                .parse::<GracePeriod>()
                .map(GracePeriod::as_duration),
            Ok(Duration::days(30))
        );
        for bad in ["2592001", "-1", "", "1.5", "99999999999"] {
            assert!(bad.parse::<GracePeriod>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_names_use_the_names_alphabet() {
        assert!("billing-prod".parse::<KeyName>().is_ok());
        for bad in ["", "has space", "-x", &"x".repeat(65)] {
            assert!(bad.parse::<KeyName>().is_err(), "{bad:?}");
        }
    }

    fn info(expires_at: Option<i64>, retires_at: Option<i64>) -> KeyInfo {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        KeyInfo {
            id: "AbCdEfGhIjK".parse().unwrap(),
            slot: KeySlot::Primary,
            created_at: at(0),
            last_used_at: None,
            scopes: None,
            name: None,
            expires_at: expires_at.map(at),
            retires_at: retires_at.map(at),
        }
    }

    #[test]
    fn a_key_ends_at_its_expiry_or_its_grace_periods_end_whichever_comes_first() {
        let at = |s| DateTime::from_timestamp(s, 0).unwrap();
        assert_eq!(info(None, None).ends_at(), None);
        assert_eq!(info(Some(10), None).ends_at(), Some(at(10)));
        assert_eq!(info(Some(10), Some(5)).ends_at(), Some(at(5)));
        assert_eq!(info(Some(5), Some(10)).ends_at(), Some(at(5)));
        assert!(info(Some(10), None).works_at(at(9)));
        assert!(!info(Some(10), None).works_at(at(10)));
        assert_eq!(info(None, Some(3)).state(), KeyState::Retiring);
        assert_eq!(info(Some(3), None).state(), KeyState::Active);
    }
}
