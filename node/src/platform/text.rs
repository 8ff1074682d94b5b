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
    let chars: Vec<char> = value.chars().collect();
    let refused = chars.iter().enumerate().any(|(i, &c)| {
        // A zero-width joiner between two emoji joins them (👩‍💻, 👨‍👩‍👧): kept there.
        let joins_emoji = c == ZWJ
            && i.checked_sub(1)
                .and_then(|p| chars.get(p))
                .is_some_and(|&p| emoji_part(p))
            && chars.get(i + 1).is_some_and(|&n| emoji_part(n));
        odd(c) && !joins_emoji
    });
    if refused {
        return Err(FieldError::new(
            field,
            "must not contain control, zero-width, invisible filler or direction-override characters",
        ));
    }
    Ok(value.to_string())
}

const ZWJ: char = '\u{200D}';

/// A character that ends or starts an emoji in a joined sequence: the pictographic
/// blocks, the older symbol and dingbat blocks, and the emoji variation selector.
fn emoji_part(c: char) -> bool {
    matches!(c,
        '\u{1F000}'..='\u{1FAFF}' | '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}'
        | '\u{FE0F}')
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
        // Joined emoji keep their joiner; a joiner elsewhere is still refused.
        assert!(clean_text("name", "\u{1F469}\u{200D}\u{1F4BB} coder", 50, false).is_ok());
        assert!(
            clean_text(
                "name",
                "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}",
                50,
                false
            )
            .is_ok()
        );
        assert!(clean_text("name", "\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}", 50, false).is_ok());
        assert!(clean_text("name", "ad\u{200D}min", 50, false).is_err());
        assert!(clean_text("name", "\u{200D}\u{1F4BB}", 50, false).is_err());
    }
}
