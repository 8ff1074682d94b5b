//! How keyword rules match text: after folding case, Unicode look-alikes, accents,
//! zalgo, leetspeak and separators (`decancer`), a phrase matches where it stands as whole
//! words, so "sp4m", "ＳＰＡＭ", "ѕрам" (Cyrillic) and "s.p.a.m" all match `spam` and
//! "spamalot" does not. Moderation publishes the rules; the contexts that check text
//! (posts) match with this, so both agree on what a rule means.

/// A text prepared for matching many phrases against.
pub struct Screened(Option<decancer::CuredString>, String);

/// Prepares `text` for matching. Text decancer cannot cure (malformed bidirectional
/// runs) is matched after lowercasing alone.
pub fn screen(text: &str) -> Screened {
    Screened(decancer::cure!(text).ok(), text.to_lowercase())
}

/// A rule's phrase as it is stored and shown: cured, lower-case, single-spaced.
pub fn normalize(phrase: &str) -> String {
    let cured = decancer::cure!(phrase)
        .map(|c| c.to_string())
        .unwrap_or_else(|_| phrase.to_lowercase());
    cured.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Screened {
    /// Whether `phrase` occurs as whole words.
    pub fn contains(&self, phrase: &str) -> bool {
        match &self.0 {
            Some(cured) => cured
                .find(phrase)
                .any(|range| whole_words(cured, range.start, range.end)),
            None => self
                .1
                .match_indices(phrase)
                .any(|(start, m)| whole_words(&self.1, start, start + m.len())),
        }
    }
}

/// Whether `text[start..end]` is bounded by non-alphanumerics (or the text's ends).
fn whole_words(text: &str, start: usize, end: usize) -> bool {
    let before = text.get(..start).and_then(|s| s.chars().next_back());
    let after = text.get(end..).and_then(|s| s.chars().next());
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_do_not_get_around_a_rule_and_longer_words_do_not_trip_it() {
        let phrase = normalize("Spam");
        assert_eq!(phrase, "spam");
        for text in [
            "buy spam now",
            "SPAM!",
            "ＳＰＡＭ",
            "\u{0455}\u{0440}\u{0430}\u{043c} here",
            "sp4m",
            "s.p.a.m",
            "spa\u{0301}m",
        ] {
            assert!(screen(text).contains(&phrase), "{text:?}");
        }
        for text in ["spamalot", "a spa mention", "no such word"] {
            assert!(!screen(text).contains(&phrase), "{text:?}");
        }
        assert!(screen("get Cheap  Watches today").contains(&normalize("cheap watches")));
    }
}
