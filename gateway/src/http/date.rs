//! The `Date` header value: the current time as an IMF-fixdate (RFC 9110 §5.6.7), e.g.
//! `Sun, 06 Nov 1994 08:49:37 GMT`, formatted at most once per second per event loop.
//!
//! It owns the calendar arithmetic (days since the epoch to a civil date, after Howard
//! Hinnant's `civil_from_days`) so the gateway needs no date crate. It must never allocate,
//! never format on every request, and never panic whatever the system clock says (times before
//! 1970 are written as the epoch, times past 9999 as the last second of 9999).

use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate in bytes: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const IMF_FIXDATE_LEN: usize = 29;

/// Seconds from the epoch to `9999-12-31T23:59:59Z`, the last second a four-digit year holds.
const MAX_FORMATTABLE_SECS: u64 = 253_402_300_799;

const SECS_PER_DAY: u64 = 86_400;

const DAY_NAMES: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTH_NAMES: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The current IMF-fixdate, recomputed only when the second has changed.
///
/// ```
/// use nsgi_gateway::DateCache;
/// let mut dates = DateCache::new();
/// let now = dates.now();
/// assert_eq!(now.len(), 29);
/// assert!(now.ends_with(b" GMT"));
/// ```
#[derive(Clone, Debug)]
pub struct DateCache {
    /// The second `text` was formatted for; `None` before the first call.
    second: Option<u64>,
    text: [u8; IMF_FIXDATE_LEN],
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl DateCache {
    /// An empty cache; the first [`now`](Self::now) formats the date.
    pub const fn new() -> Self {
        DateCache {
            second: None,
            text: [0; IMF_FIXDATE_LEN],
        }
    }

    /// The current time as an IMF-fixdate, from [`SystemTime::now`].
    pub fn now(&mut self) -> &[u8] {
        self.at(SystemTime::now())
    }

    /// `time` as an IMF-fixdate, reusing the cached text when `time` falls in the same second
    /// as the previous call.
    pub(crate) fn at(&mut self, time: SystemTime) -> &[u8] {
        let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if self.second != Some(secs) {
            format_imf_fixdate(secs, &mut self.text);
            self.second = Some(secs);
        }
        &self.text
    }
}

/// Write `secs` seconds after the Unix epoch into `out` as an IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`). Times after 9999-12-31T23:59:59Z are clamped to it.
///
/// ```
/// use nsgi_gateway::format_imf_fixdate;
/// let mut out = [0u8; 29];
/// format_imf_fixdate(784_111_777, &mut out);
/// assert_eq!(&out, b"Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn format_imf_fixdate(secs: u64, out: &mut [u8; IMF_FIXDATE_LEN]) {
    let secs = secs.min(MAX_FORMATTABLE_SECS);
    let days = secs / SECS_PER_DAY;
    let time_of_day = secs % SECS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = ((days + 4) % 7) as usize;

    out[0..3].copy_from_slice(DAY_NAMES[weekday]);
    out[3..5].copy_from_slice(b", ");
    write_2_digits(&mut out[5..7], day);
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTH_NAMES[(month - 1) as usize]);
    out[11] = b' ';
    write_2_digits(&mut out[12..14], year / 100);
    write_2_digits(&mut out[14..16], year % 100);
    out[16] = b' ';
    write_2_digits(&mut out[17..19], (time_of_day / 3600) as u32);
    out[19] = b':';
    write_2_digits(&mut out[20..22], (time_of_day / 60 % 60) as u32);
    out[22] = b':';
    write_2_digits(&mut out[23..25], (time_of_day % 60) as u32);
    out[25..29].copy_from_slice(b" GMT");
}

fn write_2_digits(out: &mut [u8], n: u32) {
    out[0] = b'0' + (n / 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic Gregorian calendar.
///
/// Howard Hinnant's algorithm: shift to a calendar whose years start on March 1st, so the leap
/// day is the last day of the year, then split into 400-year eras of 146097 days.
fn civil_from_days(days: u64) -> (u32, u32, u32) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of (March-based) year, [0, 365]
    let mp = (5 * doy + 2) / 153; // March-based month, [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400) as u32 + u32::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fmt(secs: u64) -> String {
        let mut out = [0u8; IMF_FIXDATE_LEN];
        format_imf_fixdate(secs, &mut out);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn rfc_example() {
        assert_eq!(fmt(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn epoch_and_known_timestamps() {
        assert_eq!(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(fmt(86_399), "Thu, 01 Jan 1970 23:59:59 GMT");
        assert_eq!(fmt(86_400), "Fri, 02 Jan 1970 00:00:00 GMT");
        assert_eq!(fmt(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(fmt(951_868_799), "Tue, 29 Feb 2000 23:59:59 GMT");
        assert_eq!(fmt(951_868_800), "Wed, 01 Mar 2000 00:00:00 GMT");
        assert_eq!(fmt(1_000_000_000), "Sun, 09 Sep 2001 01:46:40 GMT");
        assert_eq!(fmt(1_234_567_890), "Fri, 13 Feb 2009 23:31:30 GMT");
        assert_eq!(fmt(2_147_483_647), "Tue, 19 Jan 2038 03:14:07 GMT");
        assert_eq!(fmt(1_709_164_800), "Thu, 29 Feb 2024 00:00:00 GMT");
        assert_eq!(fmt(1_735_689_599), "Tue, 31 Dec 2024 23:59:59 GMT");
        assert_eq!(fmt(1_735_689_600), "Wed, 01 Jan 2025 00:00:00 GMT");
    }

    #[test]
    fn century_rules() {
        // 2100 is not a leap year: 28 Feb is followed by 1 Mar.
        assert_eq!(fmt(4_107_456_000), "Sun, 28 Feb 2100 00:00:00 GMT");
        assert_eq!(fmt(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
        // 1972 was, 1900-style rules aside.
        assert_eq!(fmt(68_169_600), "Tue, 29 Feb 1972 00:00:00 GMT");
        assert_eq!(fmt(68_256_000), "Wed, 01 Mar 1972 00:00:00 GMT");
    }

    #[test]
    fn far_future_is_clamped_to_year_9999() {
        assert_eq!(fmt(MAX_FORMATTABLE_SECS), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(fmt(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn matches_a_day_by_day_walk() {
        // Walk the calendar one day at a time from 1970 to 2400 and compare.
        let month_len = |y: u32, m: u32| match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let (mut y, mut m, mut d) = (1970, 1, 1);
        for days in 0..(430 * 366) {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            d += 1;
            if d > month_len(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn cache_reformats_only_when_the_second_changes() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let mut cache = DateCache::new();
        assert_eq!(cache.at(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
        // Same second: the cached text (poisoned here to prove it is not rewritten).
        cache.text[0] = b'X';
        assert_eq!(&cache.at(t + Duration::from_millis(999))[..4], b"Xun,");
        // Next second: reformatted.
        assert_eq!(cache.at(t + Duration::from_secs(1)), b"Sun, 06 Nov 1994 08:49:38 GMT");
    }

    #[test]
    fn clock_before_the_epoch_is_the_epoch() {
        let mut cache = DateCache::new();
        let t = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(cache.at(t), b"Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn now_is_well_formed() {
        let mut cache = DateCache::default();
        let now = cache.now().to_vec();
        assert_eq!(now.len(), IMF_FIXDATE_LEN);
        assert_eq!(&now[3..5], b", ");
        assert!(now.ends_with(b" GMT"));
        assert!(DAY_NAMES.iter().any(|d| now.starts_with(&d[..])));
    }
}
