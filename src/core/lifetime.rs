use std::fmt;

/// Clock skew tolerated when checking a token's `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 5;

/// How long a token lives, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lifetime(u32);

impl Lifetime {
    pub const fn from_secs(secs: u32) -> Self {
        Self(secs)
    }

    pub const fn as_secs(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

/// The lifetimes a dialect allows and the one it uses when the caller names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LifetimePolicy {
    pub min: Lifetime,
    pub max: Lifetime,
    pub default: Lifetime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("lifetime must be between {min} and {max}", min = .0.min, max = .0.max)]
pub struct OutOfRange(pub LifetimePolicy);

impl LifetimePolicy {
    pub const fn fixed(lifetime: Lifetime) -> Self {
        Self {
            min: lifetime,
            max: lifetime,
            default: lifetime,
        }
    }

    /// Bounds in seconds, checked: `1 <= min <= default <= max`. `dialect` names them in the
    /// refusal.
    pub fn bounded(dialect: &str, min: u32, default: u32, max: u32) -> Result<Self, String> {
        if min == 0 || min > default || default > max {
            return Err(format!(
                "{dialect} lifetimes must satisfy 1 <= min ({min}) <= default ({default}) <= max ({max})"
            ));
        }
        Ok(Self {
            min: Lifetime(min),
            max: Lifetime(max),
            default: Lifetime(default),
        })
    }

    /// A requested lifetime must lie within bounds.
    pub fn check(self, requested: Option<i64>) -> Result<Lifetime, OutOfRange> {
        match requested {
            None => Ok(self.default),
            Some(secs) if secs >= i64::from(self.min.0) && secs <= i64::from(self.max.0) => {
                Ok(Lifetime(secs as u32))
            }
            Some(_) => Err(OutOfRange(self)),
        }
    }

    /// A requested lifetime is a wish: the server brings it within bounds.
    pub fn clamp(self, requested: Option<i64>) -> Lifetime {
        match requested {
            None => self.default,
            Some(secs) => Lifetime(secs.clamp(i64::from(self.min.0), i64::from(self.max.0)) as u32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LifetimePolicy = LifetimePolicy {
        min: Lifetime(1),
        max: Lifetime(3600),
        default: Lifetime(3600),
    };

    #[test]
    fn checking_accepts_the_bounds_and_refuses_beyond_them() {
        assert_eq!(POLICY.check(None), Ok(Lifetime(3600)));
        assert_eq!(POLICY.check(Some(1)), Ok(Lifetime(1)));
        assert_eq!(POLICY.check(Some(3600)), Ok(Lifetime(3600)));
        assert_eq!(POLICY.check(Some(0)), Err(OutOfRange(POLICY)));
        assert_eq!(POLICY.check(Some(3601)), Err(OutOfRange(POLICY)));
        assert_eq!(POLICY.check(Some(i64::MIN)), Err(OutOfRange(POLICY)));
    }

    #[test]
    fn bounds_must_be_ordered_and_positive() {
        assert_eq!(LifetimePolicy::bounded("X", 1, 3600, 3600), Ok(POLICY));
        for (min, default, max) in [(0, 1, 1), (10, 5, 20), (1, 30, 20)] {
            let err = LifetimePolicy::bounded("X", min, default, max).unwrap_err();
            assert!(err.starts_with("X lifetimes"), "{err}");
        }
    }

    #[test]
    fn clamping_brings_any_request_within_bounds() {
        assert_eq!(POLICY.clamp(Some(-5)), Lifetime(1));
        assert_eq!(POLICY.clamp(Some(i64::MAX)), Lifetime(3600));
        assert_eq!(POLICY.clamp(Some(60)), Lifetime(60));
        assert_eq!(POLICY.clamp(None), Lifetime(3600));
    }
}
