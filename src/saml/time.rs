//! SAML's times: `xs:dateTime` in UTC (SAML 2.0 Core §1.3.3: "MUST be expressed in UTC form, with
//! no time zone component"; a trailing `Z` is what every IdP sends), read strictly into Unix
//! seconds (a fraction is dropped) and written back for the requests Portcullis sends.

use crate::calendar::{civil_from_days, days_from_civil, days_in_month};

/// Unix seconds of `YYYY-MM-DDThh:mm:ss[.fraction][Z]`, for years 1970 to 9999; `None` for any
/// other form (an offset, a missing field, a day that is not in its month, a leap second).
pub fn parse_instant(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once('T')?;
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    if fraction.is_some_and(|f| f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    let mut date_fields = date.split('-');
    let year = digits(date_fields.next()?, 4)?;
    let month = digits(date_fields.next()?, 2)?;
    let day = digits(date_fields.next()?, 2)?;
    let mut clock_fields = clock.split(':');
    let hour = digits(clock_fields.next()?, 2)?;
    let minute = digits(clock_fields.next()?, 2)?;
    let second = digits(clock_fields.next()?, 2)?;
    if date_fields.next().is_some() || clock_fields.next().is_some() {
        return None;
    }
    if year < 1970 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil((year, month, day));
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// `YYYY-MM-DDThh:mm:ssZ` of Unix seconds.
pub fn format_instant(unix_s: u64) -> String {
    let days = unix_s / 86_400;
    let rest = unix_s % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3_600, rest % 3_600 / 60, rest % 60)
}

/// A field of exactly `len` ASCII digits.
fn digits(field: &str, len: usize) -> Option<u64> {
    (field.len() == len && field.bytes().all(|b| b.is_ascii_digit())).then(|| field.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn instants_read_as_idps_write_them() {
        assert_eq!(parse_instant("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_instant("2026-12-07T22:41:15Z"), Some(1_796_683_275));
        assert_eq!(parse_instant("2026-12-07T22:41:15.123Z"), Some(1_796_683_275), "Entra ID's fraction");
        assert_eq!(parse_instant("2026-12-07T22:41:15.1234567Z"), Some(1_796_683_275), "ADFS's seven digits");
        assert_eq!(parse_instant("2026-12-07T22:41:15"), Some(1_796_683_275), "no zone is UTC in SAML");
        assert_eq!(parse_instant("2024-02-29T12:00:00Z"), Some(1_709_208_000));
        assert_eq!(format_instant(1_796_683_275), "2026-12-07T22:41:15Z");
    }

    #[test]
    fn other_forms_are_refused() {
        for text in [
            "",
            "2026-12-07",
            "2026-12-07T22:41Z",
            "2026-12-07T22:41:15+01:00",
            "2026-12-07T22:41:15.Z",
            "2026-12-07T22:41:15.12a4Z",
            "2026-12-07T22:41:15.1234567890Z",
            "2026-13-07T22:41:15Z",
            "2026-02-29T22:41:15Z",
            "2026-12-32T22:41:15Z",
            "2026-12-07T24:00:00Z",
            "2026-12-07T23:59:60Z",
            "1969-12-31T23:59:59Z",
            "+2026-12-07T22:41:15Z",
            "2026-1-07T22:41:15Z",
            "2026-12-07T22:41:15ZZ",
            "2026-12-07 22:41:15Z",
            "２０２６-12-07T22:41:15Z",
        ] {
            assert_eq!(parse_instant(text), None, "{text:?}");
        }
    }

    proptest! {
        #![proptest_config(crate::testing::generative(512))]

        #[test]
        fn writing_then_reading_is_the_identity(unix_s in 0u64..253_402_300_800) {
            prop_assert_eq!(parse_instant(&format_instant(unix_s)), Some(unix_s));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = parse_instant(&text);
        }

        #[test]
        fn near_miss_text_never_panics(text in "[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}T[0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{0,12})?Z?") {
            if let Some(unix_s) = parse_instant(&text) {
                prop_assert!(unix_s < 253_402_300_800);
            }
        }
    }
}
