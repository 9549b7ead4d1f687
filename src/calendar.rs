//! The proleptic Gregorian calendar in UTC, for the timestamps Portcullis writes and reads
//! (SCIM's RFC 3339, SAML's `xs:dateTime`): days since 1970-01-01 to a date and back, by Howard
//! Hinnant's `days_from_civil` and `civil_from_days` (exact for every date from 1970 on).

/// A date: year, month (1 to 12), day (1 to 31).
pub type Date = (u64, u64, u64);

/// Whether `year` is a leap year.
pub fn is_leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// The days in `month` of `year`.
pub fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a valid date from 1970 on.
pub fn days_from_civil((year, month, day): Date) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (the inverse of [`days_from_civil`]).
pub fn civil_from_days(days: u64) -> Date {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    (year_of_era + era * 400 + u64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil((2000, 2, 29)), 11_016);
        assert_eq!(civil_from_days(20_794), (2026, 12, 7));
        assert!(is_leap(2000) && is_leap(2024) && !is_leap(1900) && !is_leap(2026));
        assert_eq!((days_in_month(2024, 2), days_in_month(2026, 2), days_in_month(2026, 4)), (29, 28, 30));
    }

    proptest! {
        #![proptest_config(crate::testing::generative(512))]

        #[test]
        fn a_day_and_its_date_round_trip(days in 0u64..2_932_897) {
            let date = civil_from_days(days);
            prop_assert!(date.2 >= 1 && date.2 <= days_in_month(date.0, date.1));
            prop_assert_eq!(days_from_civil(date), days);
        }
    }
}
