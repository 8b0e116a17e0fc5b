//! The genesis time's text form: an RFC 3339 timestamp, held as milliseconds since the Unix epoch.
//!
//! Accepted: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, years 1970 to 9999, no leap second
//! (`:60`), `T` and `Z` in either case, a fraction of one to nine digits of which only the first
//! three may be non-zero (the chain counts milliseconds, and a finer instant would be silently cut).
//! The value is the instant, so `2025-01-01T01:00:00+01:00` and `2025-01-01T00:00:00.000Z` are the
//! same genesis time and give the same genesis hash. [`format()`] writes the one UTC form
//! (`…Z`, with `.mmm` only when the milliseconds are not zero).

const MS_PER_DAY: i64 = 86_400_000;

/// Latest accepted instant: 9999-12-31T23:59:59.999Z, so the text form always has a 4-digit year.
pub const MAX_TIME_MS: u64 = 253_402_300_799_999;

/// Parses an RFC 3339 timestamp into milliseconds since the Unix epoch.
pub fn parse(text: &str) -> Result<u64, &'static str> {
    let mut cursor = Cursor(text.as_bytes());
    let year = cursor.digits(4)?;
    cursor.expect(b"-")?;
    let month = cursor.digits(2)?;
    cursor.expect(b"-")?;
    let day = cursor.digits(2)?;
    cursor.expect(b"Tt")?;
    let hour = cursor.digits(2)?;
    cursor.expect(b":")?;
    let minute = cursor.digits(2)?;
    cursor.expect(b":")?;
    let second = cursor.digits(2)?;

    let mut millis = 0;
    if cursor.peek() == Some(b'.') {
        cursor.expect(b".")?;
        let fraction = cursor.take_while(|b| b.is_ascii_digit());
        if fraction.is_empty() || fraction.len() > 9 {
            return Err("the fraction of a second must have 1 to 9 digits");
        }
        if fraction.iter().skip(3).any(|digit| *digit != b'0') {
            return Err("finer than a millisecond");
        }
        for position in 0..3 {
            let digit = fraction
                .get(position)
                .map_or(0, |digit| i64::from(digit - b'0'));
            millis = millis * 10 + digit;
        }
    }

    let offset_minutes = match cursor.next() {
        Some(b'Z' | b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let hours = cursor.digits(2)?;
            cursor.expect(b":")?;
            let minutes = cursor.digits(2)?;
            if hours > 23 || minutes > 59 {
                return Err("offset out of range");
            }
            let offset = hours * 60 + minutes;
            if sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return Err("expected a time zone: Z or ±HH:MM"),
    };
    if !cursor.0.is_empty() {
        return Err("trailing characters");
    }

    if !(1970..=9999).contains(&year) {
        return Err("year outside 1970..=9999");
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err("no such date");
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("no such time of day (leap seconds are not accepted)");
    }

    let ms = days_from_civil(year, month, day) * MS_PER_DAY
        + ((hour * 60 + minute - offset_minutes) * 60 + second) * 1000
        + millis;
    u64::try_from(ms)
        .ok()
        .filter(|ms| *ms <= MAX_TIME_MS)
        .ok_or("before 1970-01-01T00:00:00Z or after 9999-12-31T23:59:59.999Z")
}

/// Writes `ms` as an RFC 3339 UTC timestamp; [`parse`] gives `ms` back for any `ms` up to
/// [`MAX_TIME_MS`].
pub fn format(ms: u64) -> String {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (seconds, millis) = (in_day / 1000, in_day % 1000);
    let (hour, minute, second) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let fraction = if millis == 0 {
        String::new()
    } else {
        format!(".{millis:03}")
    };
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z")
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    fn next(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    fn expect(&mut self, any_of: &[u8]) -> Result<(), &'static str> {
        match self.next() {
            Some(byte) if any_of.contains(&byte) => Ok(()),
            _ => Err("not an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SSZ)"),
        }
    }

    fn digits(&mut self, count: usize) -> Result<i64, &'static str> {
        let mut value = 0;
        for _ in 0..count {
            match self.next() {
                Some(digit) if digit.is_ascii_digit() => {
                    value = value * 10 + i64::from(digit - b'0')
                }
                _ => return Err("not an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SSZ)"),
            }
        }
        Ok(value)
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let len = self.0.iter().take_while(|byte| keep(**byte)).count();
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        taken
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse("2025-01-01T00:00:00Z"), Ok(1_735_689_600_000));
        assert_eq!(parse("2025-01-01T01:00:00+01:00"), Ok(1_735_689_600_000));
        assert_eq!(
            parse("2024-12-31t19:00:00.000-05:00"),
            Ok(1_735_689_600_000)
        );
        assert_eq!(parse("2024-02-29T12:34:56.789Z"), Ok(1_709_210_096_789));
        assert_eq!(parse("2024-02-29T12:34:56.7Z"), Ok(1_709_210_096_700));
        assert_eq!(
            parse("2024-02-29T12:34:56.700000000z"),
            Ok(1_709_210_096_700)
        );
        assert_eq!(parse("9999-12-31T23:59:59.999Z"), Ok(MAX_TIME_MS));
        assert_eq!(format(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
        assert_eq!(format(1_735_689_600_000), "2025-01-01T00:00:00Z");
    }

    #[test]
    fn malformed_or_impossible_times_are_refused() {
        for text in [
            "",
            "2025-01-01",
            "2025-01-01T00:00:00",
            "2025-01-01 00:00:00Z",
            "2025-1-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-00-10T00:00:00Z",
            "2025-01-00T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:60:00Z",
            "2016-12-31T23:59:60Z",
            "2025-01-01T00:00:00.Z",
            "2025-01-01T00:00:00.0001Z",
            "2025-01-01T00:00:00.0000000000Z",
            "2025-01-01T00:00:00+24:00",
            "2025-01-01T00:00:00+0100",
            "2025-01-01T00:00:00Z ",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+00:01",
            "+2025-01-01T00:00:00Z",
            "２０２５-01-01T00:00:00Z",
        ] {
            assert!(parse(text).is_err(), "{text:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in 0..=MAX_TIME_MS) {
            prop_assert_eq!(parse(&format(ms)), Ok(ms));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,40}") {
            let _ = parse(&text);
        }

        #[test]
        fn parse_never_panics_on_near_misses(
            text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})?"
        ) {
            if let Ok(ms) = parse(&text) {
                prop_assert!(ms <= MAX_TIME_MS);
            }
        }
    }
}
