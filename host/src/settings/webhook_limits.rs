//! What a `[[webhook]]` may ask of the host beyond verification: how many
//! deliveries a URL takes (`rate`, `burst`) and which field of a delivery
//! orders it (`order_by`). Checked at load, like the rest of the sidecar.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

/// How many deliveries one URL takes, in a token bucket: `burst` at once,
/// then `count` every `per`. Past it a delivery is answered 429 and
/// nothing runs: a flood to one URL (a provider's retry storm, or junk
/// sent to a URL that leaked) cannot take the store or the app's budget
/// from the other URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Duration,
    pub burst: NonZeroU32,
}

impl Rate {
    /// 10 a second with a burst of 50: well above what one tenant's
    /// provider sends in normal use (a few a second at peak), well below
    /// what would crowd out other URLs.
    pub const DEFAULT: Rate = Rate {
        count: NonZeroU32::new(10).expect("not zero"),
        per: Duration::from_secs(1),
        burst: NonZeroU32::new(50).expect("not zero"),
    };

    /// Reads `rate` ("10/s", "600/m", "1000/h") and `burst` (default: what
    /// the rate allows in 5 seconds, at least 1).
    pub fn parse(rate: Option<&str>, burst: Option<u32>) -> Result<Rate, String> {
        let (count, per) = match rate {
            None => (Rate::DEFAULT.count, Rate::DEFAULT.per),
            Some(text) => {
                let bad = || {
                    format!(
                        "rate {text:?} must be a number of deliveries per second, minute or hour, \
                         such as \"10/s\", \"600/m\" or \"1000/h\""
                    )
                };
                let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
                let count: NonZeroU32 = count.trim().parse().map_err(|_| bad())?;
                let per = match unit.trim() {
                    "s" => Duration::from_secs(1),
                    "m" => Duration::from_secs(60),
                    "h" => Duration::from_secs(3600),
                    _ => return Err(bad()),
                };
                (count, per)
            }
        };
        let burst = match burst {
            Some(burst) => NonZeroU32::new(burst).ok_or("burst must be at least 1")?,
            None if rate.is_none() => Rate::DEFAULT.burst,
            None => {
                let in_five_seconds =
                    u64::from(count.get()) * 5_000 / (per.as_millis() as u64).max(1);
                NonZeroU32::new(in_five_seconds.clamp(1, u64::from(u32::MAX)) as u32)
                    .expect("at least 1")
            }
        };
        Ok(Rate { count, per, burst })
    }

    /// The time between two deliveries at the sustained rate.
    pub fn interval(&self) -> Duration {
        (self.per / self.count.get()).max(Duration::from_nanos(1))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "m",
            _ => "h",
        };
        write!(f, "{}/{unit} (burst {})", self.count, self.burst)
    }
}

/// Checks `order_by`: a JSON pointer (RFC 6901) into the delivery's body,
/// such as `/ttn` or `/data/parcel/number`.
pub fn check_pointer(pointer: &str) -> Result<(), String> {
    let bad = |why: &str| {
        format!(
            "order_by {pointer:?} must be a JSON pointer into the body, such as \"/ttn\" or \
             \"/data/parcel\": {why}"
        )
    };
    if !pointer.starts_with('/') {
        return Err(bad("it starts with `/`"));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(bad("`~` is written `~0` and `/` within a name `~1`"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(Rate::parse(None, None), Ok(Rate::DEFAULT));
        let per_minute = Rate::parse(Some("60/m"), None).unwrap();
        assert_eq!(per_minute.burst.get(), 5, "5 seconds' worth");
        assert_eq!(per_minute.interval(), Duration::from_secs(1));
        assert_eq!(Rate::parse(Some("1/h"), None).unwrap().burst.get(), 1);
        assert_eq!(
            Rate::parse(Some(" 2 / s "), Some(3)).unwrap().to_string(),
            "2/s (burst 3)"
        );
        for bad in ["10", "10/d", "0/s", "-1/s", "x/s", ""] {
            let err = Rate::parse(Some(bad), None).unwrap_err();
            assert!(err.contains("\"10/s\""), "{bad}: {err}");
        }
        assert!(Rate::parse(None, Some(0)).is_err());
    }

    #[test]
    fn pointers() {
        assert!(check_pointer("/ttn").is_ok());
        assert!(check_pointer("/data/a~1b/c~0d").is_ok());
        assert!(check_pointer("ttn").is_err());
        assert!(check_pointer("").is_err());
        assert!(check_pointer("/a~2").is_err());
        assert!(check_pointer("/a~").is_err());
    }
}
