//! An account's settings: what the deployment's flags decide for everyone, decided for one
//! account. Each is optional (`None`: the deployment's default) except `disabled`. They travel
//! with the account's keys through the key cache, so minting reads them without a round trip.

use std::str::FromStr;

use super::lifetime::Lifetime;
use super::ratelimit::RatePolicy;
use super::scope::ScopeSet;

/// What one account may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountSettings {
    /// The scopes its keys may grant; `None`: every scope. A key limited to scopes of its own
    /// grants those of both lists.
    pub scopes: Option<ScopeSet>,
    /// Its token requests' quota, instead of the deployment's `--rate-limit`.
    pub rate_limit: Option<RatePolicy>,
    /// The longest life of its tokens: a longer one is shortened to it, in every dialect.
    pub max_token_lifetime: Option<Lifetime>,
    /// Its keys are refused as unknown ones are, and its tokens stop passing.
    pub disabled: bool,
}

impl AccountSettings {
    /// What a key of this account may grant: its own scopes (`None`: every one of `all`)
    /// within the account's.
    pub fn grantable(&self, key: Option<ScopeSet>, all: ScopeSet) -> ScopeSet {
        self.bound(key).unwrap_or(all)
    }

    /// A key's own scopes within the account's; `None` if neither limits it.
    pub fn bound(&self, key: Option<ScopeSet>) -> Option<ScopeSet> {
        match (key, self.scopes) {
            (Some(key), Some(account)) => Some(key.intersection(account)),
            (key, account) => key.or(account),
        }
    }

    /// A token lifetime within the account's longest.
    pub fn cap(&self, lifetime: Lifetime) -> Lifetime {
        self.max_token_lifetime
            .map_or(lifetime, |max| lifetime.min(max))
    }
}

/// One setting in an update: left as it is, cleared back to the deployment's default, or set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T: Copy> Change<T> {
    fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Change::Keep => current,
            Change::Clear => None,
            Change::Set(value) => Some(value),
        }
    }
}

/// An update of an account's settings: only what it names changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub scopes: Change<ScopeSet>,
    pub rate_limit: Change<RatePolicy>,
    pub max_token_lifetime: Change<Lifetime>,
    /// Cleared: enabled.
    pub disabled: Change<bool>,
}

impl SettingsChange {
    /// What it changes, for the audit trail: `rate_limit=100/15s disabled=true`, a cleared
    /// setting as `default` (scopes are the event's own member).
    pub fn summary(&self) -> String {
        fn part<T>(name: &str, change: &Change<T>, show: impl Fn(&T) -> String) -> Option<String> {
            match change {
                Change::Keep => None,
                Change::Clear => Some(format!("{name}=default")),
                Change::Set(value) => Some(format!("{name}={}", show(value))),
            }
        }
        [
            part("scopes", &self.scopes, |_| "set".to_owned()),
            part("rate_limit", &self.rate_limit, ToString::to_string),
            part("max_token_lifetime", &self.max_token_lifetime, |l| {
                l.as_secs().to_string()
            }),
            part("disabled", &self.disabled, ToString::to_string),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
    }

    /// The settings once this change is made.
    pub fn apply(&self, settings: AccountSettings) -> AccountSettings {
        AccountSettings {
            scopes: self.scopes.apply(settings.scopes),
            rate_limit: self.rate_limit.apply(settings.rate_limit),
            max_token_lifetime: self.max_token_lifetime.apply(settings.max_token_lifetime),
            disabled: self
                .disabled
                .apply(Some(settings.disabled))
                .unwrap_or(false),
        }
    }

    /// Settings made from nothing: what an account is created with.
    pub fn initial(&self) -> AccountSettings {
        self.apply(AccountSettings::default())
    }
}

/// The rate limits an account may be given, as a regular expression: `COUNT/SECONDS`, `s`
/// optional, no leading zeros, nine digits at most each side.
pub const RATE_LIMIT_PATTERN: &str = "^[1-9][0-9]{0,8}/[1-9][0-9]{0,8}s?$";

/// Largest count and window an account's rate limit may name (nine digits each).
const RATE_LIMIT_MAX: u64 = 999_999_999;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a rate limit is `COUNT/SECONDS` (`100/15s`): positive whole numbers of up to nine digits")]
pub struct InvalidRateLimit;

/// An account's rate limit: the deployment flag's syntax in its plain form only (what
/// [`RATE_LIMIT_PATTERN`] describes).
pub fn account_rate_limit(text: &str) -> Result<RatePolicy, InvalidRateLimit> {
    let policy: RatePolicy = text.parse().map_err(|_| InvalidRateLimit)?;
    let (requests, secs) = (u64::from(policy.requests.get()), policy.window.as_secs());
    let plain = text == policy.to_string() || text == format!("{requests}/{secs}");
    if plain && requests <= RATE_LIMIT_MAX && secs <= RATE_LIMIT_MAX {
        Ok(policy)
    } else {
        Err(InvalidRateLimit)
    }
}

/// The longest token lifetime an account may be given, in seconds: a year.
pub const MAX_TOKEN_LIFETIME_SECS: u32 = 365 * 24 * 60 * 60;

/// An account's longest token lifetime: 1 second to a year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxTokenLifetime(pub Lifetime);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a longest token lifetime is 1 to {MAX_TOKEN_LIFETIME_SECS} seconds")]
pub struct InvalidMaxTokenLifetime;

impl MaxTokenLifetime {
    pub fn from_secs(secs: i64) -> Result<Self, InvalidMaxTokenLifetime> {
        match u32::try_from(secs) {
            Ok(secs) if (1..=MAX_TOKEN_LIFETIME_SECS).contains(&secs) => {
                Ok(Self(Lifetime::from_secs(secs)))
            }
            _ => Err(InvalidMaxTokenLifetime),
        }
    }
}

impl FromStr for MaxTokenLifetime {
    type Err = InvalidMaxTokenLifetime;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let secs = s
            .strip_suffix('s')
            .unwrap_or(s)
            .parse::<i64>()
            .map_err(|_| InvalidMaxTokenLifetime)?;
        Self::from_secs(secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::scope::Catalogue;

    fn catalogue() -> Catalogue {
        Catalogue::new(["calls:read", "calls:write", "agents:read"]).unwrap()
    }

    #[test]
    fn a_key_grants_what_both_it_and_its_account_allow() {
        let scopes = catalogue();
        let set = |list: &str| scopes.parse_list(list).unwrap();
        let account = AccountSettings {
            scopes: Some(set("calls:read,calls:write")),
            ..Default::default()
        };
        assert_eq!(
            account.grantable(Some(set("calls:read,agents:read")), scopes.all()),
            set("calls:read")
        );
        assert_eq!(
            account.grantable(None, scopes.all()),
            set("calls:read,calls:write")
        );
        assert_eq!(
            AccountSettings::default().grantable(None, scopes.all()),
            scopes.all()
        );
    }

    #[test]
    fn lifetimes_are_capped_at_the_accounts_longest() {
        let capped = AccountSettings {
            max_token_lifetime: Some(Lifetime::from_secs(60)),
            ..Default::default()
        };
        assert_eq!(
            capped.cap(Lifetime::from_secs(3600)),
            Lifetime::from_secs(60)
        );
        assert_eq!(capped.cap(Lifetime::from_secs(30)), Lifetime::from_secs(30));
        assert_eq!(
            AccountSettings::default().cap(Lifetime::from_secs(3600)),
            Lifetime::from_secs(3600)
        );
    }

    #[test]
    fn a_change_keeps_clears_or_sets_each_setting() {
        let before = AccountSettings {
            rate_limit: Some("5/1s".parse().unwrap()),
            max_token_lifetime: Some(Lifetime::from_secs(60)),
            disabled: true,
            ..Default::default()
        };
        let change = SettingsChange {
            rate_limit: Change::Clear,
            disabled: Change::Clear,
            max_token_lifetime: Change::Set(Lifetime::from_secs(30)),
            ..Default::default()
        };
        assert_eq!(
            change.apply(before),
            AccountSettings {
                max_token_lifetime: Some(Lifetime::from_secs(30)),
                ..Default::default()
            }
        );
        assert_eq!(SettingsChange::default().apply(before), before);
    }

    #[test]
    fn account_rate_limits_are_plain_and_bounded() {
        let policy: RatePolicy = "100/15s".parse().unwrap();
        assert_eq!(account_rate_limit("100/15s"), Ok(policy));
        assert_eq!(account_rate_limit("100/15"), Ok(policy));
        for bad in [
            "",
            "0/1s",
            "1/0s",
            "01/5s",
            " 1/5s",
            "1/ 5s",
            "1000000000/1s",
            "1/1000000000s",
        ] {
            assert_eq!(account_rate_limit(bad), Err(InvalidRateLimit), "{bad:?}");
        }
    }

    #[test]
    fn longest_lifetimes_are_bounded() {
        assert_eq!("60".parse(), Ok(MaxTokenLifetime(Lifetime::from_secs(60))));
        assert_eq!("60s".parse(), Ok(MaxTokenLifetime(Lifetime::from_secs(60))));
        for bad in ["0", "-1", "", "x", "31536001", "1.5"] {
            assert!(bad.parse::<MaxTokenLifetime>().is_err(), "{bad:?}");
        }
    }
}
