//! Rules for free text every context accepts (names, bios, posts, comments).

use super::error::FieldError;

/// Checks a free-text field: at most `max` characters, no control or bidi-override
/// characters (newlines allowed where `multiline`). Returns it trimmed.
pub fn clean_text(
    field: &str,
    value: &str,
    max: usize,
    multiline: bool,
) -> Result<String, FieldError> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    let odd = |c: char| (c.is_control() && !(multiline && c == '\n')) || invisible(c);
    if value.chars().any(odd) {
        return Err(FieldError::new(
            field,
            "must not contain control, zero-width, invisible filler or direction-override characters",
        ));
    }
    Ok(value.to_string())
}

/// Characters that render as nothing (or as a blank) yet are not whitespace, so a name of
/// them looks empty and one with them looks like another: Unicode's default-ignorable
/// code points, except the variation selectors and tag characters emoji sequences need,
/// and the Hangul fillers, which fonts draw as blanks.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_fillers_are_refused_and_emoji_sequences_kept() {
        for blank in [
            "\u{3164}",
            "a\u{1160}b",
            "\u{2800}",
            "x\u{00AD}y",
            "\u{FFA0}",
        ] {
            assert!(clean_text("name", blank, 50, false).is_err(), "{blank:?}");
        }
        // A heart with its emoji variation selector, and a flag of tag characters.
        assert!(clean_text("name", "I \u{2764}\u{FE0F} Agora", 50, false).is_ok());
        assert!(
            clean_text(
                "name",
                "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
                50,
                false
            )
            .is_ok()
        );
        assert!(clean_text("name", "Zoë Ünal", 50, false).is_ok());
    }
}
