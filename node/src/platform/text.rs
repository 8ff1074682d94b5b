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
    let odd = |c: char| {
        (c.is_control() && !(multiline && c == '\n'))
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{FEFF}')
    };
    if value.chars().any(odd) {
        return Err(FieldError::new(
            field,
            "must not contain control, zero-width or direction-override characters",
        ));
    }
    Ok(value.to_string())
}
