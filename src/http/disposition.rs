//! `Content-Disposition: attachment` for downloads (RFC 6266): the file's real name as
//! `filename*=UTF-8''…` (RFC 8187 percent-encoding), and an ASCII `filename="…"` for
//! clients that do not read the extended form.

/// The header value for a download named `name`.
pub fn attachment(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        // RFC 8187 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"; everything else escaped.
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::attachment;

    #[test]
    fn a_name_beyond_ascii_is_sent_percent_encoded_with_an_ascii_fallback() {
        assert_eq!(
            attachment("Vertrag ü.pdf"),
            "attachment; filename=\"Vertrag _.pdf\"; filename*=UTF-8''Vertrag%20%C3%BC.pdf"
        );
    }

    #[test]
    fn quotes_and_backslashes_cannot_end_the_fallback() {
        assert_eq!(
            attachment("a\"b\\c.csv"),
            "attachment; filename=\"a_b_c.csv\"; filename*=UTF-8''a%22b%5Cc.csv"
        );
    }
}
