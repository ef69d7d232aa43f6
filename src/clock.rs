//! Wall-clock time and the local day, so the conversation list can say "Today"; injectable.

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The time now and the local time zone's offset. Tests fix both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The system clock, in a zone `utc_offset_ms` ahead of UTC (read once at start-up).
    System { utc_offset_ms: i64 },
    /// Always `now_ms` (Unix ms), in a zone `utc_offset_ms` ahead of UTC.
    Fixed { now_ms: i64, utc_offset_ms: i64 },
}

impl Clock {
    /// The system clock in the local zone.
    pub fn system() -> Self {
        Self::System {
            utc_offset_ms: local_utc_offset_ms(),
        }
    }

    /// Unix time in milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self {
            Self::System { .. } => system_now_ms(),
            Self::Fixed { now_ms, .. } => *now_ms,
        }
    }

    /// The local day `unix_ms` falls on, counted from 1970-01-01 (comparable, not a date).
    pub fn local_day(&self, unix_ms: i64) -> i64 {
        let offset = match self {
            Self::System { utc_offset_ms } | Self::Fixed { utc_offset_ms, .. } => *utc_offset_ms,
        };
        (unix_ms + offset).div_euclid(DAY_MS)
    }

    /// Today, as [`Self::local_day`] counts.
    pub fn today(&self) -> i64 {
        self.local_day(self.now_ms())
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(target_arch = "wasm32")]
fn system_now_ms() -> i64 {
    js_date::Date::now() as i64
}

/// The browser knows the zone (`Date#getTimezoneOffset`, minutes behind UTC).
#[cfg(target_arch = "wasm32")]
fn local_utc_offset_ms() -> i64 {
    -(js_date::Date::new().get_timezone_offset() * 60_000.0) as i64
}

/// Natively std has no time zones: `date +%z` (every Unix has it) says `+0130`; elsewhere UTC.
#[cfg(not(target_arch = "wasm32"))]
fn local_utc_offset_ms() -> i64 {
    std::process::Command::new("date")
        .arg("+%z")
        .output()
        .ok()
        .and_then(|output| parse_utc_offset(String::from_utf8_lossy(&output.stdout).trim()))
        .unwrap_or(0)
}

/// `+0130` or `-0800` in milliseconds.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
fn parse_utc_offset(text: &str) -> Option<i64> {
    let sign = match text.get(..1)? {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let hours: i64 = text.get(1..3)?.parse().ok()?;
    let minutes: i64 = text.get(3..5)?.parse().ok()?;
    Some(sign * (hours * 60 + minutes) * 60_000)
}

#[cfg(target_arch = "wasm32")]
mod js_date {
    use wasm_bindgen::prelude::wasm_bindgen;

    #[wasm_bindgen]
    extern "C" {
        pub type Date;
        #[wasm_bindgen(constructor)]
        pub fn new() -> Date;
        #[wasm_bindgen(method, js_name = getTimezoneOffset)]
        pub fn get_timezone_offset(this: &Date) -> f64;
        #[wasm_bindgen(static_method_of = Date)]
        pub fn now() -> f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_day_turns_at_local_midnight() {
        let clock = Clock::Fixed {
            now_ms: 0,
            utc_offset_ms: 2 * 3_600_000,
        };
        // 22:30 UTC on 1 January is 00:30 on 2 January two hours east.
        let late = DAY_MS - 90 * 60_000;
        assert_eq!(clock.local_day(late), 1);
        assert_eq!(clock.local_day(late - 3_600_000), 0);
        assert_eq!(
            clock.local_day(-1),
            0,
            "before the epoch, still well defined"
        );
    }

    #[test]
    fn date_offsets_parse_with_their_sign() {
        assert_eq!(parse_utc_offset("+0130"), Some(90 * 60_000));
        assert_eq!(parse_utc_offset("-0800"), Some(-8 * 3_600_000));
        assert_eq!(parse_utc_offset("UTC"), None);
    }
}
