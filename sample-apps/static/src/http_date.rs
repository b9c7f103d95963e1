//! HTTP dates (RFC 9110 §5.6.7): seconds since the Unix epoch to and from the IMF-fixdate form
//! `Sun, 06 Nov 1994 08:49:37 GMT`.
//!
//! Owns only that conversion. It never reads a clock and never accepts the obsolete RFC 850 or
//! asctime forms: a date it cannot read is `None`, and the caller then ignores the header, which
//! RFC 9110 §13.1.3 allows.

use std::fmt;

const DAY_NAMES: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const SECONDS_PER_DAY: u64 = 86_400;

/// Writes `secs` after the epoch as an IMF-fixdate (29 bytes) to `out`. The text is put together
/// by hand in one buffer (not with `write!`), as the app formats a date for every file it serves.
pub fn write(secs: u64, out: &mut impl fmt::Write) -> fmt::Result {
    let days = secs / SECONDS_PER_DAY;
    let rest = secs % SECONDS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    // "Sun, 06 Nov 1994 08:49:37 GMT"; a year past 9999 takes more digits.
    let mut text = [0u8; 48];
    let mut len = 0;
    let mut push = |bytes: &[u8]| {
        text[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    push(DAY_NAMES[(days % 7) as usize].as_bytes());
    push(b", ");
    push(&two_digits(day));
    push(b" ");
    push(MONTH_NAMES[(month - 1) as usize].as_bytes());
    push(b" ");
    let mut year_digits = [0u8; 20];
    let mut start = year_digits.len();
    let mut rest_of_year = year;
    while start > year_digits.len() - 4 || rest_of_year > 0 {
        start -= 1;
        year_digits[start] = b'0' + (rest_of_year % 10) as u8;
        rest_of_year /= 10;
    }
    push(&year_digits[start..]);
    push(b" ");
    push(&two_digits(rest / 3600));
    push(b":");
    push(&two_digits(rest / 60 % 60));
    push(b":");
    push(&two_digits(rest % 60));
    push(b" GMT");
    // Only ASCII was pushed.
    out.write_str(std::str::from_utf8(&text[..len]).map_err(|_| fmt::Error)?)
}

/// `n` (below 100) as two ASCII digits.
fn two_digits(n: u64) -> [u8; 2] {
    [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]
}

/// The seconds after the epoch of an IMF-fixdate, or `None` when `text` is not one.
pub fn parse(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let digits = text.get(range)?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let day = number(5..7)?;
    let month = MONTH_NAMES.iter().position(|m| text.get(8..11) == Some(*m))? as u64 + 1;
    let year = number(12..16)?;
    let (hour, minute, second) = (number(17..19)?, number(20..22)?, number(23..25)?);
    let separators_ok = b[7] == b' ' && b[11] == b' ' && b[16] == b' ' && b[19] == b':' && b[22] == b':';
    if !separators_ok || year < 1970 || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (year ≥ 1970), counted in 400-year eras
/// whose years start in March, so that the leap day falls at the end of a year.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year % 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719_468 days separate 0000-03-01 from 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month 1–12, day 1–31).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(secs: u64) -> String {
        let mut text = String::new();
        write(secs, &mut text).expect("writing to a String");
        text
    }

    #[test]
    fn known_dates() {
        assert_eq!(format(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(format(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(format(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(format(253_402_300_799), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(format(253_402_300_800), "Sat, 01 Jan 10000 00:00:00 GMT");
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    }

    #[test]
    fn round_trips_across_centuries() {
        for secs in (0..8_000_000_000u64).step_by(7_777_777) {
            assert_eq!(parse(&format(secs)), Some(secs), "{}", format(secs));
        }
    }

    #[test]
    fn refuses_other_forms() {
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Xyz 1994 08:49:37 GMT",
            "Sun, 6a Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 06 Nov +994 08:49:37 GMT",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
